import type { AuditEntry, LogLine } from './types.js';
import { api } from './client.js';

export type StreamEvent = { kind: 'audit'; id: string; entry: AuditEntry } | { kind: 'log'; id: string; line: LogLine };

export interface StreamOptions {
  /** Only this promotion's events. */
  promotion?: string;
  kinds?: readonly ('audit' | 'log')[];
  /** `now`: only what is committed from now on; absent: everything from the start. */
  after?: 'now';
  onEvent(event: StreamEvent): void;
  /** The stream is open (again); false while it reconnects. */
  onOpen?(open: boolean): void;
}

/**
 * Follows the project's event stream (GET …/events, Server-Sent Events) until `signal` aborts,
 * reconnecting with the last event id so nothing is missed or seen twice. Read with fetch rather
 * than EventSource: EventSource cannot send an API token (Authorization header), only cookies.
 */
export async function followEvents(project: string, options: StreamOptions, signal: AbortSignal): Promise<void> {
  let lastId: string | undefined;
  let delay = 500;
  while (!signal.aborted) {
    const query = new URLSearchParams();
    if (options.promotion !== undefined) query.set('promotion', options.promotion);
    if (options.kinds !== undefined) query.set('kinds', options.kinds.join(','));
    if (lastId === undefined && options.after !== undefined) query.set('after', options.after);
    try {
      const response = await fetch(`/api/v1/projects/${encodeURIComponent(project)}/events?${query.toString()}`, {
        headers: {
          ...api.headers(),
          Accept: 'text/event-stream',
          ...(lastId === undefined ? {} : { 'Last-Event-ID': lastId }),
        },
        credentials: 'same-origin',
        signal,
      });
      if (!response.ok || response.body === null) throw new Error(`event stream: HTTP ${response.status}`);
      options.onOpen?.(true);
      delay = 500;
      for await (const message of sseMessages(response.body)) {
        if (message.id !== undefined) lastId = message.id;
        if (message.event === undefined || message.data === undefined || message.id === undefined) continue;
        const data: unknown = JSON.parse(message.data);
        if (message.event === 'audit') options.onEvent({ kind: 'audit', id: message.id, entry: data as AuditEntry });
        else if (message.event === 'log') options.onEvent({ kind: 'log', id: message.id, line: data as LogLine });
      }
    } catch {
      if (signal.aborted) return;
    }
    options.onOpen?.(false);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/** The messages of a text/event-stream body, as the HTML standard parses them (comments skipped). */
async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let current: SseMessage = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (current.id !== undefined || current.data !== undefined) yield current;
        current = {};
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') current.id = value;
      else if (field === 'event') current.event = value;
      else if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
    }
  }
}
