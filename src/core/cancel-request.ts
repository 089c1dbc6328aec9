/**
 * A request that the process running a promotion cancel it, recorded in the store by whoever asked
 * (`lockstep cancel`, the API) when another process runs it. The runner reads it at its next lease
 * renewal and cancels itself, as Ctrl-C in its own terminal would.
 */
export interface CancelRequest {
  promotionId: string;
  /** Who asked: the actor (claimed locally, the token's identity through the server). */
  by: string;
  reason?: string;
  /** When it was recorded (ISO 8601). */
  at: string;
}

/** What the cancelled steps' errors and the promotion's reason say: who cancelled it, and why. */
export function cancelReason(request: Pick<CancelRequest, 'by' | 'reason'>): string {
  const why = request.reason?.trim() ?? '';
  return `cancelled by ${request.by}${why === '' ? '' : `: ${why}`}`;
}
