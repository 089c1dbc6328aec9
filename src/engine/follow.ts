import type { PromotionRecord } from '../core/model.js';
import type { EngineDeps, RunObserver } from './deps.js';
import { ownerIsGone } from './lease.js';
import { waitWhilePending } from './tick.js';
import type { PromoteOptions } from './promote.js';
import { sleepUntilAborted as sleep } from '../core/sleep.js';

/** How often a promotion run by another process is looked at in the store. */
export const FOLLOW_POLL_MS = 500;

/** How following a promotion ended. */
export type FollowEnd =
  /** It reached a state that needs nobody in this process: succeeded, failed, rejected, cancelled, interrupted. */
  | 'finished'
  /** The process running it is gone (dead, or its lease expired): someone must resume it. */
  | 'owner-gone'
  /** The signal aborted: we stopped watching; the promotion goes on where it is. */
  | 'stopped';

export interface WaitToEndOptions extends Pick<PromoteOptions, 'onCreated' | 'onRunner'> {
  signal: AbortSignal;
  /** A pending promotion's gates changed what they wait for. */
  onWaiting?(p: PromotionRecord): void;
  /** Another process runs the promotion; from now on its steps are reported to `observer`. */
  onFollow?(p: PromotionRecord): void;
  observer?: RunObserver;
  pollMs?: number;
}

/**
 * `promote --wait`: waits while the promotion is pending (it may run here, when the gates pass on
 * one of our evaluations), and while another process runs it (the approval that completed the gates
 * runs it in the approver's process), until it ends. Reads the store only: it never takes over a
 * promotion another process holds.
 */
export async function waitToEnd(deps: EngineDeps, promotion: PromotionRecord, options: WaitToEndOptions): Promise<{ promotion: PromotionRecord; end: FollowEnd }> {
  let current = promotion;
  for (;;) {
    if (current.state === 'pending') {
      current = await waitWhilePending(deps, current, { ...options, signal: options.signal });
      if (options.signal.aborted) return { promotion: current, end: 'stopped' };
    }
    if (current.state !== 'running' && current.state !== 'rolling-back') return { promotion: current, end: 'finished' };
    options.onFollow?.(current);
    const followed = await followRun(deps, current.id, options);
    // A run that stopped short (the environment was busy) leaves the promotion pending again: wait on.
    if (followed.end !== 'finished' || followed.promotion.state !== 'pending') return followed;
    current = followed.promotion;
  }
}

/**
 * Watches a promotion that another process runs until it leaves running/rolling-back, reporting its
 * step changes and log lines to the observer as the store shows them.
 */
export async function followRun(
  deps: EngineDeps,
  promotionId: string,
  options: { signal: AbortSignal; observer?: RunObserver; pollMs?: number },
): Promise<{ promotion: PromotionRecord; end: FollowEnd }> {
  const seen = new Map<string, string>();
  let logsSeen = 0;
  let lastState = '';
  for (;;) {
    const promotion = await deps.store.getPromotion(promotionId);
    for (const step of await deps.store.listSteps(promotionId)) {
      const key = `${step.state}/${step.phase ?? ''}`;
      if (seen.get(step.component) === key) continue;
      seen.set(step.component, key);
      options.observer?.step?.(step);
    }
    const logs = await deps.store.stepLogs(promotionId);
    for (const line of logs.slice(logsSeen)) options.observer?.log?.(line.component, line.line);
    logsSeen = Math.max(logsSeen, logs.length);
    if (promotion.state !== lastState) {
      lastState = promotion.state;
      options.observer?.promotion?.(promotion);
    }
    if (promotion.state !== 'running' && promotion.state !== 'rolling-back') return { promotion, end: 'finished' };
    if (ownerIsGone(promotion, deps.clock.now())) return { promotion, end: 'owner-gone' };
    await sleep(options.pollMs ?? FOLLOW_POLL_MS, options.signal);
    if (options.signal.aborted) return { promotion, end: 'stopped' };
  }
}

