import { CloudEvent, HTTP } from 'cloudevents';
import type { CDEvent } from '../core/notify/cdevents.js';

/**
 * A CDEvent as a CloudEvents 1.0 event in structured mode (the whole event, attributes and data,
 * is the JSON body), made by the `cloudevents` package: its `id`, `source`, `type` and `time` are
 * the CDEvent's context, its `data` the CDEvent itself, as the CDEvents CloudEvents binding says.
 */
export function structuredCloudEvent(cdevent: CDEvent): { contentType: string; body: string } {
  const event = new CloudEvent<CDEvent>({
    specversion: '1.0',
    id: cdevent.context.id,
    source: cdevent.context.source,
    type: cdevent.context.type,
    time: cdevent.context.timestamp,
    datacontenttype: 'application/json',
    data: cdevent,
  });
  const message = HTTP.structured(event);
  const contentType = message.headers['content-type'];
  return { contentType: typeof contentType === 'string' ? contentType : 'application/cloudevents+json; charset=utf-8', body: String(message.body) };
}
