import { sleepOrThrow } from '../../core/sleep.js';

/** Cancellation helpers shared by the gitops modules: every wait here honours the step's signal. */

/** The signal's reason when it is an Error (the engine's own reason for cancelling), else a plain one. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('cancelled');
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortReason(signal);
}

/** Resolves after `ms`, or rejects with the abort reason as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleepOrThrow(ms, signal, abortReason);
}
