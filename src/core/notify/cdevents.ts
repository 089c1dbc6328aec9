import { sha256Hex } from '../canonical-json.js';
import type { NotifyEvent } from './notify-events.js';

/**
 * CDEvents (spec v0.5.1, https://cdevents.dev) for Lockstep's events, written from the spec's
 * schemas: a promotion is a pipeline run, a step a task run, each component a service in an
 * environment. Every event of one release carries the release id as `chainId`, so a consumer can
 * follow the release across environments. Pure: the CloudEvents envelope is put around it where it
 * is sent (src/notify/cloud-event.ts).
 */
export const CDEVENTS_SPEC_VERSION = '0.5.1';

export const CDEVENT_TYPES = [
  'dev.cdevents.pipelinerun.queued.0.3.0',
  'dev.cdevents.pipelinerun.started.0.3.0',
  'dev.cdevents.pipelinerun.finished.0.3.0',
  'dev.cdevents.taskrun.started.0.3.0',
  'dev.cdevents.taskrun.finished.0.3.0',
  'dev.cdevents.service.deployed.0.3.0',
  'dev.cdevents.service.upgraded.0.3.0',
  'dev.cdevents.service.rolledback.0.3.0',
  'dev.cdevents.environment.modified.0.3.0',
] as const;
export type CDEventType = (typeof CDEVENT_TYPES)[number];

export interface CDEvent {
  context: {
    specversion: string;
    id: string;
    source: string;
    type: CDEventType;
    timestamp: string;
    chainId?: string;
  };
  subject: { id: string; source?: string; content: Record<string, unknown> };
}

/**
 * The CDEvents an event stands for, in the order they happened (empty for events CDEvents has no
 * type for yet, such as approvals: `dev.cdevents.approval.*` is unreleased). `serverUrl` (the
 * config's `server.url`) makes sources and URIs point at the server; without it they are URNs.
 */
export function cdEvents(event: NotifyEvent, serverUrl?: string): CDEvent[] {
  const source = sourceOf(event, serverUrl);
  const make = (type: CDEventType, subjectId: string, content: Record<string, unknown>): CDEvent => ({
    context: {
      specversion: CDEVENTS_SPEC_VERSION,
      id: uuidFrom(`${event.project}\n${event.id}\n${type}\n${subjectId}`),
      source,
      type,
      timestamp: event.time,
      ...(event.release ? { chainId: event.release.id } : {}),
    },
    subject: { id: subjectId, source, content },
  });
  const promotion = event.promotion;
  const pipelineName = `${event.project}/${event.environment ?? ''}`;
  const runUri = promotion ? uriOf(serverUrl, event.project, `promotions/${promotion.id}`) : undefined;
  switch (event.type) {
    case 'promotion.requested':
      return promotion ? [make('dev.cdevents.pipelinerun.queued.0.3.0', promotion.id, { pipelineName, uri: runUri })] : [];
    case 'promotion.started':
      return promotion ? [make('dev.cdevents.pipelinerun.started.0.3.0', promotion.id, { pipelineName, uri: runUri })] : [];
    case 'promotion.finished': {
      if (!promotion) return [];
      const state = typeof event.data.state === 'string' ? event.data.state : promotion.state;
      const outcome = OUTCOMES[state] ?? 'error';
      const errors = outcome === 'success' ? undefined : failureText(event);
      const out = [make('dev.cdevents.pipelinerun.finished.0.3.0', promotion.id, { pipelineName, uri: runUri, outcome, ...(errors === undefined ? {} : { errors }) })];
      // The environment changed when any step applied (and stayed, or was rolled back).
      if (event.environment !== undefined && changedSomething(event.data)) {
        out.push(make('dev.cdevents.environment.modified.0.3.0', event.environment, { name: event.environment, uri: uriOf(serverUrl, event.project, `environments/${encodeURIComponent(event.environment)}`) }));
      }
      return out;
    }
    case 'step.started':
      return promotion && event.component !== undefined ? [make('dev.cdevents.taskrun.started.0.3.0', `${promotion.id}/${event.component}`, { taskName: event.component, uri: runUri, pipelineRun: { id: promotion.id, source } })] : [];
    case 'step.finished': {
      if (!promotion || event.component === undefined) return [];
      const outcome = event.step?.outcome === 'failed' ? 'failure' : 'success';
      const errors = event.step?.error;
      const out = [
        make('dev.cdevents.taskrun.finished.0.3.0', `${promotion.id}/${event.component}`, {
          taskName: event.component,
          uri: runUri,
          pipelineRun: { id: promotion.id, source },
          outcome,
          ...(outcome === 'failure' && errors !== undefined ? { errors } : {}),
        }),
      ];
      // A service changed only when the step applied a version; `unchanged` deployed nothing.
      if (event.step?.outcome === 'succeeded' && event.environment !== undefined) {
        const artifactId = purl(event.project, event.component, event.step.to);
        const type = event.step.from === undefined ? 'dev.cdevents.service.deployed.0.3.0' : 'dev.cdevents.service.upgraded.0.3.0';
        if (artifactId !== undefined) out.push(make(type, serviceId(event.project, event.component), { environment: { id: event.environment, source }, artifactId }));
      }
      return out;
    }
    case 'step.rolled-back': {
      if (event.component === undefined || event.environment === undefined) return [];
      const version = typeof event.data.version === 'string' ? event.data.version : event.step?.from;
      const artifactId = version === undefined ? undefined : purl(event.project, event.component, version);
      return artifactId === undefined ? [] : [make('dev.cdevents.service.rolledback.0.3.0', serviceId(event.project, event.component), { environment: { id: event.environment, source }, artifactId })];
    }
    default:
      return [];
  }
}

const OUTCOMES: Record<string, string> = { succeeded: 'success', failed: 'failure', cancelled: 'cancel', rejected: 'cancel' };

/**
 * A package URL for a component's version: `pkg:generic/<project>/<component>@<version>`, each part
 * percent-encoded as the purl spec asks. Undefined when there is no version to name.
 */
export function purl(project: string, component: string, version: string): string | undefined {
  if (version === '') return undefined;
  return `pkg:generic/${purlPart(project)}/${purlPart(component)}@${purlPart(version)}`;
}

function purlPart(text: string): string {
  return encodeURIComponent(text);
}

function serviceId(project: string, component: string): string {
  return `${project}/${component}`;
}

function changedSomething(data: Record<string, unknown>): boolean {
  return ['succeeded', 'rolledBack', 'leftAtNewVersion', 'rollbackFailed'].some((k) => Array.isArray(data[k]) && data[k].length > 0);
}

function failureText(event: NotifyEvent): string | undefined {
  const reason = event.data.reason;
  return typeof reason === 'string' && reason !== '' ? reason : undefined;
}

/** A URI-reference naming the project: the server's API URL, or a relative reference without one. */
function sourceOf(event: NotifyEvent, serverUrl: string | undefined): string {
  const path = `/api/v1/projects/${encodeURIComponent(event.project)}`;
  return serverUrl === undefined ? `/lockstep${path}` : `${serverUrl.replace(/\/+$/, '')}${path}`;
}

/** An absolute URI (the schemas ask for one): on the server, or a URN. */
function uriOf(serverUrl: string | undefined, project: string, path: string): string {
  if (serverUrl !== undefined) return `${serverUrl.replace(/\/+$/, '')}/api/v1/projects/${encodeURIComponent(project)}/${path}`;
  return `urn:lockstep:${encodeURIComponent(project)}:${path.replaceAll('/', ':')}`;
}

/** A UUID-shaped id derived from `text`: the same event always gets the same id. */
function uuidFrom(text: string): string {
  const h = sha256Hex(text);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
