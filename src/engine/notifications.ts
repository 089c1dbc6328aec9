import { InputError } from '../core/errors.js';
import { didYouMean } from '../core/suggest.js';
import type { DeliveryAttempt, DeliveryFilter, DeliveryRecord, DeliveryStatus, Store } from '../store/store.js';
import type { EngineDeps } from './deps.js';
import { deliverDue, type DispatchOptions, type DispatchResult } from './notify-dispatch.js';
import { deliveriesFor, queueNotifications, startNotifyCursors, testEvent } from './notify-queue.js';

/**
 * Without a server, commands that record something send what is due as they end: bounded, so a
 * target that is down or slow adds at most about FLUSH_BUDGET_MS + FLUSH_TIMEOUT_MS to a command
 * and nothing to its result; what is not sent stays in the outbox for the next command,
 * `lockstep notify send`, or a server.
 */
export const FLUSH_BUDGET_MS = 3_000;
export const FLUSH_TIMEOUT_MS = 3_000;

/** What a flush did: deliveries queued from the audit log, and how the sending went. */
export type SentNotifications = DispatchResult & { queued: number };

/** Queues what the audit log holds for the targets, then sends what is due until `budgetMs` has passed. */
export async function flushNotifications(
  deps: Pick<EngineDeps, 'store' | 'loaded' | 'secrets' | 'clock'>,
  options: Omit<DispatchOptions, 'deadline'> & { budgetMs?: number } = {},
): Promise<SentNotifications> {
  if ((deps.loaded.config.notify ?? []).length === 0) return { queued: 0, delivered: 0, failed: 0, retrying: 0 };
  const queued = await queueNotifications(deps);
  const deadline = deps.clock.now().getTime() + (options.budgetMs ?? FLUSH_BUDGET_MS);
  const sent = await deliverDue(deps, { timeoutMs: FLUSH_TIMEOUT_MS, ...options, deadline });
  return { queued, ...sent };
}

/** Before a command records anything: targets seen for the first time hear what it does. */
export async function prepareNotifications(deps: Pick<EngineDeps, 'store' | 'loaded'>): Promise<void> {
  await startNotifyCursors(deps);
}

/**
 * Queues a test event for the target named `name`, behind what it has pending (so it also shows
 * whether those get through), then sends what is due. Returns the test delivery as it stands.
 */
export async function sendTestNotification(
  deps: Pick<EngineDeps, 'store' | 'loaded' | 'secrets' | 'clock' | 'actor'>,
  name: string,
  options: Omit<DispatchOptions, 'deadline'> & { budgetMs?: number } = {},
): Promise<DeliveryView> {
  const targets = deps.loaded.config.notify ?? [];
  const target = targets.find((t) => t.name === name);
  if (target === undefined) {
    const names = targets.map((t) => t.name);
    throw new InputError(
      names.length === 0 ? 'lockstep.yaml has no notify: targets (see docs/notifications.md)' : `no notify target ${name} (targets: ${names.join(', ')})${didYouMean(name, names)}`,
      'target',
    );
  }
  await startNotifyCursors(deps);
  const now = deps.clock.now();
  const [delivery] = deliveriesFor(target, testEvent(deps.loaded.config, deps.actor, now), deps.loaded.config, now);
  if (delivery === undefined) throw new InputError(`target ${name} has no message for a test event`, 'target');
  // Queued in the outbox like every delivery, without moving the target's cursor (compare-and-set on
  // itself); a cursor moved meanwhile means another process queued: read it again and retry.
  for (;;) {
    const at = await deps.store.notifyCursor(name);
    if (at === undefined) throw new Error(`notify target ${name} has no cursor`);
    if (await deps.store.queueDeliveries({ target: name, after: at, upTo: at, deliveries: [delivery] })) break;
  }
  await flushNotifications(deps, options);
  const [record] = (await deps.store.listDeliveries({ target: name, limit: 50 })).filter((d) => d.deliveryId === delivery.deliveryId);
  if (record === undefined) throw new Error(`the test delivery to ${name} is not in the outbox`);
  return deliveryView(record);
}

/** A delivery as `notify log` and the API show it: where it stands, never its body. */
export interface DeliveryView {
  id: number;
  deliveryId: string;
  target: string;
  event: string;
  cloudEventType?: string;
  auditSeq?: number;
  status: DeliveryStatus;
  attempts: number;
  createdAt: string;
  nextAttemptAt?: string;
  deliveredAt?: string;
  lastAttempt?: DeliveryAttempt;
}

export function deliveryView(d: DeliveryRecord): DeliveryView {
  const last = d.history.at(-1);
  return {
    id: d.id,
    deliveryId: d.deliveryId,
    target: d.target,
    event: d.event,
    ...(d.cloudEventType === undefined ? {} : { cloudEventType: d.cloudEventType }),
    ...(d.auditSeq === undefined ? {} : { auditSeq: d.auditSeq }),
    status: d.status,
    attempts: d.attempts,
    createdAt: d.createdAt,
    ...(d.status === 'pending' ? { nextAttemptAt: d.nextAttemptAt } : {}),
    ...(d.deliveredAt === undefined ? {} : { deliveredAt: d.deliveredAt }),
    ...(last === undefined ? {} : { lastAttempt: last }),
  };
}

/** Deliveries, newest first (`notify log`, GET …/notify/deliveries). */
export async function listDeliveries(store: Store, filter: DeliveryFilter = {}): Promise<DeliveryView[]> {
  return (await store.listDeliveries({ limit: 50, ...filter })).map(deliveryView);
}
