import type { AuditEntry, AuditKind } from '../audit.js';

/**
 * What a `notify:` target can subscribe to: Lockstep's events as people and other tools think of
 * them, each derived from one audit entry (the audit log is the source of truth; see
 * `notifyEventTypes`): `drift.detected` comes from the audit entry a drift check writes when it finds
 * drift. Pure.
 */
export const NOTIFY_EVENTS = [
  'promotion.requested',
  'promotion.started',
  'promotion.finished',
  'promotion.rolled-back',
  'approval.requested',
  'approval.given',
  'approval.rejected',
  'gate.blocked',
  'verification.failed',
  'step.started',
  'step.finished',
  'step.rolled-back',
  'drift.detected',
] as const;
export type NotifyEventType = (typeof NOTIFY_EVENTS)[number];

/** The test event `lockstep notify test` sends; no target subscribes to it, every target accepts it. */
export const TEST_EVENT = 'notify.test';

export const NOTIFY_FORMATS = ['json', 'slack', 'cdevents'] as const;
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/**
 * What a target without `events:` hears. A chat channel hears what people act on or want to know,
 * not every step; machines (json, cdevents) hear everything.
 */
export const DEFAULT_EVENTS: Readonly<Record<NotifyFormat, readonly NotifyEventType[]>> = {
  slack: ['approval.requested', 'approval.given', 'approval.rejected', 'promotion.started', 'promotion.finished', 'promotion.rolled-back', 'verification.failed', 'gate.blocked', 'drift.detected'],
  json: NOTIFY_EVENTS,
  cdevents: NOTIFY_EVENTS,
};

/** A `notify:` entry of lockstep.yaml, as the schema gives it (templates unrendered). */
export interface NotifyTargetConfig {
  name: string;
  /** The webhook's URL; usually a whole `${{ secrets.NAME }}`. */
  url: string;
  format: NotifyFormat;
  /** Absent: DEFAULT_EVENTS of its format. */
  events?: NotifyEventType[];
  /** Absent: every environment. */
  environments?: string[];
  /** The HMAC key (a `${{ secrets.NAME }}`): deliveries carry X-Lockstep-Signature. */
  secret?: string;
  /** Extra request headers; values may use `${{ secrets.NAME }}`. */
  headers: Record<string, string>;
}

/**
 * One Lockstep event as a target receives it (the `json` format's body, and what the slack and
 * cdevents builders read). Holds nothing secret: it is made of an audit entry (redacted before it
 * was written) and records the store keeps.
 */
export interface NotifyEvent {
  /** The body's version: fields are only ever added. */
  version: 1;
  /** Unique per event: the audit entry's sequence number and the event type. */
  id: string;
  type: NotifyEventType | typeof TEST_EVENT;
  time: string;
  actor: string;
  project: string;
  environment?: string;
  component?: string;
  release?: { id: string; versions: Record<string, string>; labels: Record<string, string>; message?: string };
  promotion?: {
    id: string;
    kind: string;
    state: string;
    requestedBy: string;
    reason?: string;
    /** For approvals: how many are needed, from whom. */
    approvals?: { needed: number; from: string[] };
  };
  /** For step events: the versions, and how it ended (`succeeded`, `unchanged`, `failed`, `rolled-back`). */
  step?: { from?: string; to: string; outcome?: string; error?: string };
  /** The audit entry this event comes from (absent for a test event). */
  audit?: { seq: number; hash: string; kind: AuditKind };
  /** The audit entry's details. */
  data: Record<string, unknown>;
  /** Where to look at it (with `server.url` set). */
  link?: string;
}

/**
 * The notify events an audit entry stands for, in order (one entry may be two: a promotion that
 * finished after rolling back is `promotion.finished` and `promotion.rolled-back`). Most entries
 * stand for none.
 */
export function notifyEventTypes(entry: Pick<AuditEntry, 'kind' | 'data'>): NotifyEventType[] {
  const data = entry.data;
  switch (entry.kind) {
    case 'promotion.requested':
    case 'promotion.started':
    case 'approval.given':
    case 'approval.rejected':
    case 'gate.blocked':
    case 'step.started':
    case 'step.rolled-back':
      return [entry.kind];
    case 'promotion.finished': {
      const rolledBack = Array.isArray(data.rolledBack) && data.rolledBack.length > 0;
      return rolledBack ? ['promotion.finished', 'promotion.rolled-back'] : ['promotion.finished'];
    }
    case 'gate.waiting':
      return data.gate === 'approvals' ? ['approval.requested'] : [];
    case 'drift.detected':
      return ['drift.detected'];
    case 'verification.finished':
      return data.state === 'failed' ? ['verification.failed'] : [];
    case 'step.succeeded':
    case 'step.unchanged':
    case 'step.failed':
      return ['step.finished'];
    default:
      return [];
  }
}

/** Whether `target` hears `event`: it subscribes to its type, and to its environment (events of none pass). */
export function subscribes(target: Pick<NotifyTargetConfig, 'format' | 'events' | 'environments'>, event: Pick<NotifyEvent, 'type' | 'environment'>): boolean {
  if (event.type === TEST_EVENT) return true;
  const events: readonly string[] = target.events ?? DEFAULT_EVENTS[target.format];
  if (!events.includes(event.type)) return false;
  return target.environments === undefined || event.environment === undefined || target.environments.includes(event.environment);
}

/** How a step event's audit kind reads as an outcome. */
export function stepOutcome(kind: AuditKind): string | undefined {
  const outcomes: Partial<Record<AuditKind, string>> = {
    'step.succeeded': 'succeeded',
    'step.unchanged': 'unchanged',
    'step.failed': 'failed',
    'step.rolled-back': 'rolled-back',
  };
  return outcomes[kind];
}

/** The link to a promotion (or, without one, the environment) on the server at `base`. */
export function notifyLink(base: string | undefined, event: Pick<NotifyEvent, 'project' | 'environment' | 'promotion'>): string | undefined {
  if (base === undefined) return undefined;
  const root = `${base.replace(/\/+$/, '')}/api/v1/projects/${encodeURIComponent(event.project)}`;
  if (event.promotion) return `${root}/promotions/${event.promotion.id}`;
  if (event.environment !== undefined) return `${root}/environments/${encodeURIComponent(event.environment)}`;
  return root;
}
