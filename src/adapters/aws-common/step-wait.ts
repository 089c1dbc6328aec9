import type { StepContext } from '../../core/adapter.js';
import { StepFailure } from '../../core/errors.js';
import { sleepUntilAborted as sleep } from '../../core/sleep.js';

/** How often a waiting step heartbeats. */
const HEARTBEAT_MS = 2_000;

/**
 * Waits `ms` while heartbeating, and throws the step's abort reason as soon as it is cancelled. Shared
 * by the AWS adapters, which all poll a service that works in the background.
 */
export async function pause(ctx: Pick<StepContext, 'signal' | 'heartbeat'>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    throwIfAborted(ctx.signal, what);
    await sleep(Math.min(HEARTBEAT_MS, end - Date.now()), ctx.signal);
    ctx.heartbeat();
  }
  throwIfAborted(ctx.signal, what);
}

/** The engine's reason when it is an Error, else a StepFailure naming `what` was cancelled. */
export function throwIfAborted(signal: AbortSignal, what: string): void {
  if (!signal.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof Error ? reason : new StepFailure(`${what}: cancelled`, false, { cause: reason });
}

