/**
 * Why a `fetch` got no answer, in a few words. Node's fetch only says "fetch failed"; the reason is
 * in its `cause`: a system code (ECONNREFUSED, ENOTFOUND) where there is one, else the cause's message.
 */
export function fetchFailure(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message;
  return error instanceof Error ? error.message : String(error);
}
