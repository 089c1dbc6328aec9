import { randomUUID } from 'node:crypto';
import type { AuditEntry } from '../core/audit.js';
import { cdEvents } from '../core/notify/cdevents.js';
import { notifyEventTypes, notifyLink, stepOutcome, subscribes, TEST_EVENT, type NotifyEvent, type NotifyTargetConfig } from '../core/notify/notify-events.js';
import { slackMessage } from '../core/notify/slack-message.js';
import type { ProjectConfig, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import { structuredCloudEvent } from '../notify/cloud-event.js';
import type { NewDelivery, Store } from '../store/store.js';
import type { EngineDeps } from './deps.js';

/** Audit entries read per page, and per queuing transaction. */
const PAGE = 200;

/**
 * Queues the deliveries of every `notify:` target for the audit entries it has not read yet. The
 * audit log is the source of truth: each target has a cursor in the store, moved in the same
 * transaction as the deliveries it queues, so an entry written just before a crash is queued after
 * it, and two processes never queue one twice (the store's compare-and-set). A target seen for the
 * first time starts at the log's head: it hears what happens from then on, not the project's past.
 * Returns how many deliveries were queued.
 */
export async function queueNotifications(deps: Pick<EngineDeps, 'store' | 'loaded' | 'clock'>): Promise<number> {
  const targets = deps.loaded.config.notify ?? [];
  if (targets.length === 0) return 0;
  const context = new EventContext(deps.store, deps.loaded.config, deps.clock.now());
  let queued = 0;
  for (const target of targets) queued += await queueTarget(deps.store, target, context);
  return queued;
}

/** Starts a cursor at the log's head for every target that has none: call before writing, so what follows is heard. */
export async function startNotifyCursors(deps: Pick<EngineDeps, 'store' | 'loaded'>): Promise<void> {
  for (const target of deps.loaded.config.notify ?? []) {
    if ((await deps.store.notifyCursor(target.name)) === undefined) await startCursor(deps.store, target.name);
  }
}

async function startCursor(store: Store, target: string): Promise<void> {
  const head = (await store.auditHead())?.seq ?? 0;
  // False when another process started it first: then it stands where that one put it.
  await store.queueDeliveries({ target, after: undefined, upTo: head, deliveries: [] });
}

async function queueTarget(store: Store, target: NotifyTargetConfig, context: EventContext): Promise<number> {
  let after = await store.notifyCursor(target.name);
  if (after === undefined) {
    await startCursor(store, target.name);
    return 0;
  }
  let queued = 0;
  for (;;) {
    const page = await store.auditPage(after, PAGE);
    const last = page.at(-1);
    if (last === undefined) return queued;
    const deliveries: NewDelivery[] = [];
    for (const entry of page) {
      for (const event of await context.events(entry)) {
        if (subscribes(target, event)) deliveries.push(...deliveriesFor(target, event, context.config, context.now));
      }
    }
    // Another process moved the cursor first: it queued these, and the next round reads on from there.
    if (!(await store.queueDeliveries({ target: target.name, after, upTo: last.seq, deliveries }))) return queued;
    queued += deliveries.length;
    after = last.seq;
    if (page.length < PAGE) return queued;
  }
}

/** The deliveries of one event to one target, in its format: one request each (CDEvents: one per CloudEvent). */
export function deliveriesFor(target: NotifyTargetConfig, event: NotifyEvent, config: ProjectConfig, now: Date): NewDelivery[] {
  const base = { target: target.name, event: event.type, createdAt: now.toISOString(), ...(event.audit ? { auditSeq: event.audit.seq } : {}) };
  switch (target.format) {
    case 'json':
      return [{ ...base, deliveryId: randomUUID(), contentType: 'application/json', body: JSON.stringify(event) }];
    case 'slack':
      return [{ ...base, deliveryId: randomUUID(), contentType: 'application/json', body: JSON.stringify(slackMessage(event)) }];
    case 'cdevents':
      return cdEvents(event, config.server?.url).map((cd) => ({ ...base, deliveryId: randomUUID(), cloudEventType: cd.context.type, ...structuredCloudEvent(cd) }));
  }
}

/** The event `lockstep notify test` sends: it names the project and nothing else. */
export function testEvent(config: ProjectConfig, actor: string, now: Date): NotifyEvent {
  const event: NotifyEvent = { version: 1, id: `test-${randomUUID()}`, type: TEST_EVENT, time: now.toISOString(), actor, project: config.project, data: { message: 'a test notification from lockstep notify test' } };
  const link = notifyLink(config.server?.url, event);
  return link === undefined ? event : { ...event, link };
}

/**
 * Builds events from audit entries, reading the records they name once per round: the release
 * (its versions), the promotion (its kind and state) and, for steps, the step (its versions).
 */
class EventContext {
  private readonly releases = new Map<string, Promise<ReleaseRecord | undefined>>();
  private readonly promotions = new Map<string, Promise<PromotionRecord | undefined>>();
  private readonly steps = new Map<string, Promise<StepRecord[]>>();

  constructor(
    private readonly store: Store,
    readonly config: ProjectConfig,
    /** When the deliveries are queued: from then on they are due. */
    readonly now: Date,
  ) {}

  async events(entry: AuditEntry): Promise<NotifyEvent[]> {
    const types = notifyEventTypes(entry);
    if (types.length === 0) return [];
    const release = entry.releaseId === undefined ? undefined : await this.release(entry.releaseId);
    const promotion = entry.promotionId === undefined ? undefined : await this.promotion(entry.promotionId);
    const step = entry.promotionId !== undefined && entry.component !== undefined ? (await this.stepsOf(entry.promotionId)).find((s) => s.component === entry.component) : undefined;
    return types.map((type) => {
      const event: NotifyEvent = {
        version: 1,
        id: `${entry.seq}.${type}`,
        type,
        time: entry.time,
        actor: entry.actor,
        project: entry.project,
        ...(entry.environment === undefined ? {} : { environment: entry.environment }),
        ...(entry.component === undefined ? {} : { component: entry.component }),
        ...(release ? { release: { id: release.id, versions: release.versions, labels: release.labels, ...(release.message === undefined ? {} : { message: release.message }) } } : {}),
        ...(promotion ? { promotion: this.promotionView(promotion) } : {}),
        ...(step ? { step: stepView(step, entry) } : {}),
        audit: { seq: entry.seq, hash: entry.hash, kind: entry.kind },
        data: entry.data,
      };
      const link = notifyLink(this.config.server?.url, event);
      return link === undefined ? event : { ...event, link };
    });
  }

  private promotionView(p: PromotionRecord): NonNullable<NotifyEvent['promotion']> {
    const approvals = this.config.environments[p.environment]?.gates?.approvals;
    return {
      id: p.id,
      kind: p.kind,
      state: p.state,
      requestedBy: p.requestedBy,
      ...(p.reason === undefined ? {} : { reason: p.reason }),
      ...(approvals ? { approvals: { needed: approvals.count, from: approvals.from } } : {}),
    };
  }

  private release(id: string): Promise<ReleaseRecord | undefined> {
    return cached(this.releases, id, () => this.store.getRelease(id));
  }

  private promotion(id: string): Promise<PromotionRecord | undefined> {
    return cached(this.promotions, id, () => this.store.getPromotion(id));
  }

  private stepsOf(promotionId: string): Promise<StepRecord[]> {
    let steps = this.steps.get(promotionId);
    if (steps === undefined) {
      steps = this.store.listSteps(promotionId).catch(() => []);
      this.steps.set(promotionId, steps);
    }
    return steps;
  }
}

/** A record the entry names but the store no longer finds gives an event without it, not a stuck cursor. */
function cached<T>(map: Map<string, Promise<T | undefined>>, id: string, read: () => Promise<T>): Promise<T | undefined> {
  let value = map.get(id);
  if (value === undefined) {
    value = read().catch(() => undefined);
    map.set(id, value);
  }
  return value;
}

function stepView(step: StepRecord, entry: AuditEntry): NonNullable<NotifyEvent['step']> {
  const outcome = stepOutcome(entry.kind);
  const error = entry.kind === 'step.failed' && typeof entry.data.error === 'string' ? entry.data.error : undefined;
  return {
    ...(step.fromVersion === undefined ? {} : { from: step.fromVersion }),
    to: step.toVersion,
    ...(outcome === undefined ? {} : { outcome }),
    ...(error === undefined ? {} : { error }),
  };
}
