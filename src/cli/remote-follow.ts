import type { PromotionRecord, StepRecord } from '../core/model.js';
import { stepAfterEntry } from '../core/step-events.js';
import type { RunObserver } from '../engine/deps.js';
import type { FollowEnd } from '../engine/follow.js';
import type { WaitHooks } from './backend.js';
import type { EventSubscription, ServerEvent } from './event-stream.js';

/** What following a run reads besides the events: the promotion's record as it stands. */
export interface PromotionReader {
  promotion(ref: string): Promise<{ promotion: PromotionRecord; steps: StepRecord[] }>;
}

/** Running or rolling back: a process is at work on it, and a follower waits for its end. */
export function inRun(p: PromotionRecord): boolean {
  return p.state === 'running' || p.state === 'rolling-back';
}

/** The audit entries after which a run may have stopped: it ended, was interrupted, or was planned again and waits. */
const STOPS = new Set(['promotion.finished', 'promotion.interrupted', 'promotion.replanned']);

/**
 * Follows a promotion that the server runs, through its event stream: each log line as it arrives,
 * each step change where the stream puts it (from the audit entry, so it is shown in its place
 * among the lines even when the record is already further on), until the run stops. `steps` is the
 * steps as they stood when the subscription opened. Returns the promotion as it stands then.
 */
export async function followRun(
  events: EventSubscription,
  reader: PromotionReader,
  started: PromotionRecord,
  steps: readonly StepRecord[],
  observer: RunObserver | undefined,
): Promise<PromotionRecord> {
  const shown = new Map<string, StepRecord>();
  const show = (step: StepRecord): void => {
    const before = shown.get(step.component);
    shown.set(step.component, step);
    if (before === undefined || before.state !== step.state || before.phase !== step.phase) observer?.step?.(step);
  };
  for (const step of steps) show(step);
  let state = started.state;
  for (;;) {
    const event = await events.next();
    if (!concerns(event, started.id)) continue;
    if (event.kind === 'log') {
      observer?.log?.(event.line.component, event.line.line);
      continue;
    }
    const entry = event.entry;
    const component = entry.component;
    if (entry.kind.startsWith('step.') && component !== undefined) {
      const known = shown.get(component);
      const next = known === undefined ? undefined : stepAfterEntry(known, entry);
      if (next !== undefined) show(next);
      else {
        // An entry that does not say the state (a step retried or marked done): read it.
        const read = (await reader.promotion(started.id)).steps.find((s) => s.component === component);
        if (read !== undefined) show(read);
      }
    }
    if (!entry.kind.startsWith('promotion.') && entry.kind !== 'step.rollback-started') continue;
    const now = await reader.promotion(started.id);
    if (now.promotion.state !== state) observer?.promotion?.(now.promotion);
    state = now.promotion.state;
    if (STOPS.has(entry.kind) && !inRun(now.promotion)) {
      // The run stopped: what the steps say now is what it left.
      for (const step of now.steps) show(step);
      return now.promotion;
    }
  }
}

/**
 * `promote --wait` through a server: waits while the promotion is pending (the server's worker runs
 * it when its gates pass, an approval may start it), telling `onWaiting` when what it waits for
 * changes, then follows the run to its end. `stopped` when the signal aborts.
 */
export async function waitToEnd(
  events: EventSubscription,
  reader: PromotionReader,
  pending: PromotionRecord,
  hooks: WaitHooks,
  observer: RunObserver | undefined,
  signal: AbortSignal,
): Promise<{ promotion: PromotionRecord; end: FollowEnd }> {
  const stop = (): void => events.close();
  signal.addEventListener('abort', stop, { once: true });
  try {
    // Read after the subscription opened: whatever happened before is in this record, the rest comes as events.
    let { promotion: current, steps } = await reader.promotion(pending.id);
    let said: string | undefined;
    for (;;) {
      if (current.state === 'pending') {
        if (current.reason !== said) {
          said = current.reason;
          hooks.onWaiting(current);
        }
        const event = await events.next();
        if (!concerns(event, current.id) || event.kind !== 'audit') continue;
        const read = await reader.promotion(current.id);
        current = read.promotion;
        // While it waits, its steps are as read; once it runs, their changes come as events after these.
        if (current.state === 'pending') steps = read.steps;
        continue;
      }
      if (!inRun(current)) return { promotion: current, end: 'finished' };
      hooks.onFollow(current);
      current = await followRun(events, reader, current, steps, observer);
      steps = (await reader.promotion(current.id)).steps;
    }
  } catch (error) {
    if (signal.aborted) return { promotion: (await reader.promotion(pending.id)).promotion, end: 'stopped' };
    throw error;
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

function concerns(event: ServerEvent, promotionId: string): boolean {
  return (event.kind === 'audit' ? event.entry.promotionId : event.line.promotionId) === promotionId;
}
