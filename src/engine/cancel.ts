import { cancelReason, type CancelRequest } from '../core/cancel-request.js';
import { ConflictError } from '../core/errors.js';
import type { PromotionRecord } from '../core/model.js';
import type { EngineDeps } from './deps.js';
import { actorProof } from './gates.js';
import { withPendingClaim } from './promote.js';

/**
 * Cancels a promotion, with who and why in its record and the audit log.
 *
 * - Pending (waiting on its gates, never started): it ends `cancelled` at once, releasing nothing
 *   since it held nothing. One that ran in part before it came to wait again is refused: systems
 *   changed, and rejecting it applies its failure policy.
 * - Running: a cancel request is recorded (audit `promotion.cancel-requested`), and the process
 *   running it cancels it as Ctrl-C in its terminal would: its running steps are stopped, then its
 *   failure policy applies (rolled back, or halted). This process, when it runs the promotion, does so
 *   at once; another process (a CLI in someone's terminal, another server) at its next lease renewal;
 *   nobody, when its process is gone, until it is resumed (a server's worker does so by itself). The
 *   promotion is returned as it stands: still running.
 * - Rolling back, interrupted or ended: refused (ConflictError).
 */
export async function cancelPromotion(deps: EngineDeps, promotionRef: string, why?: string): Promise<PromotionRecord> {
  const promotion = await deps.store.getPromotion(promotionRef);
  const id = promotion.id.slice(0, 12);
  if (promotion.state === 'running') return requestCancel(deps, promotion, why);
  if (promotion.state !== 'pending') throw new ConflictError(refusal(promotion));
  // One that ran in part waits for a new approval of a changed plan: systems have changed, and
  // ending it here would skip its failure policy. Rejecting it applies the policy (approve.ts).
  if (promotion.startedAt !== undefined)
    throw new ConflictError(
      `promotion ${id} ran in part before it came to wait again: reject it (lockstep approve ${id} --reject) so its failure policy applies`,
    );
  const reason = cancelReason({ by: deps.actor, reason: why });
  const cancelled = await withPendingClaim(deps, promotion, async (_claimed, owner) => {
    // Read again under the claim: another process may have decided on it since (and let go of it).
    const now = await deps.store.getPromotion(promotion.id);
    if (now.state !== 'pending' || now.startedAt !== undefined)
      throw new ConflictError(`promotion ${id} is ${now.state}: only a pending or running promotion can be cancelled`);
    const at = deps.clock.now().toISOString();
    const record: PromotionRecord = { ...now, state: 'cancelled', reason, finishedAt: at, owner: undefined };
    await deps.store.commit({
      fence: { promotionId: record.id, ownerToken: owner.token },
      promotion: { record },
      audit: [event(deps, record, 'promotion.finished', { state: 'cancelled', reason, ...actorProof(deps) })],
    });
    return record;
  });
  // Another process holds the claim: it is deciding on the promotion now (an approval, the worker).
  if (cancelled === undefined)
    throw new ConflictError(`promotion ${id} is being decided on by another process; try again`);
  return cancelled;
}

/**
 * Records the request (the first one stays: asking again changes nothing) and, when this process runs
 * the promotion, hands it to the runner at once rather than at its next lease renewal.
 */
async function requestCancel(deps: EngineDeps, promotion: PromotionRecord, why: string | undefined): Promise<PromotionRecord> {
  const earlier = await deps.store.getCancelRequest(promotion.id);
  const reason = why?.trim() ?? '';
  const request: CancelRequest = earlier ?? {
    promotionId: promotion.id,
    by: deps.actor,
    ...(reason === '' ? {} : { reason }),
    at: deps.clock.now().toISOString(),
  };
  if (earlier === undefined) {
    const owner = promotion.owner;
    await deps.store.commit({
      cancelRequest: request,
      audit: [
        event(deps, promotion, 'promotion.cancel-requested', {
          reason: request.reason,
          // Who will act on it: the process that runs the promotion now, if any.
          owner: owner === undefined ? null : { host: owner.host, pid: owner.pid },
          ...actorProof(deps),
        }),
      ],
    });
  }
  deps.running?.get(promotion.id)?.cancelRequested(request);
  return deps.store.getPromotion(promotion.id);
}

/**
 * Why `cancelPromotion` would refuse the promotion as it stands (absent: it would take the request),
 * read-only: what the web UI shows instead of a Cancel button that would be refused.
 */
export function cancelRefusal(promotion: PromotionRecord): string | undefined {
  if (promotion.state === 'running') return undefined;
  if (promotion.state !== 'pending') return refusal(promotion);
  if (promotion.startedAt !== undefined) {
    const id = promotion.id.slice(0, 12);
    return `promotion ${id} ran in part before it came to wait again: reject it (lockstep approve ${id} --reject) so its failure policy applies`;
  }
  return undefined;
}

function refusal(promotion: PromotionRecord): string {
  const id = promotion.id.slice(0, 12);
  switch (promotion.state) {
    case 'rolling-back':
      return `promotion ${id} is rolling back already (its failure policy is being applied): cancelling now would stop the rollback halfway`;
    case 'interrupted':
      return `promotion ${id} is interrupted and waits for a decision: lockstep resume ${id} --retry-step C | --mark-done C`;
    default:
      return `promotion ${id} is ${promotion.state}: only a pending or running promotion can be cancelled`;
  }
}

function event(deps: EngineDeps, p: PromotionRecord, kind: 'promotion.finished' | 'promotion.cancel-requested', data: Record<string, unknown>) {
  return { kind, time: deps.clock.now().toISOString(), actor: deps.actor, project: p.project, environment: p.environment, releaseId: p.releaseId, promotionId: p.id, data };
}
