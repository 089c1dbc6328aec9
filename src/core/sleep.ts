/**
 * Waiting that honours cancellation, shared by the engine and the adapters (every long wait takes an
 * AbortSignal). Not pure, but it decides nothing: it is here because core is the one layer every
 * other imports.
 */

/** Resolves after `ms`, or at once when `signal` aborts; callers that care look at `signal.aborted`. */
export function sleepUntilAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves after `ms`; rejects with `reasonOf(signal)` as soon as `signal` aborts (at once when it already has). */
export function sleepOrThrow(ms: number, signal: AbortSignal, reasonOf: (signal: AbortSignal) => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(reasonOf(signal));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(reasonOf(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
