import { ConflictError } from '../core/errors.js';
import type { PromotionRecord } from '../core/model.js';
import type { EngineDeps } from './deps.js';
import { actorProof } from './gates.js';
import { withPendingClaim } from './promote.js';

/**
 * Cancels a promotion that has not started: a pending one (waiting on its gates) ends `cancelled`,
 * releasing nothing since it held nothing (one that ran in part is refused: see below),
 * with who and why in its record and the audit log. A running promotion is refused (ConflictError):
 * only the process that runs it can stop its steps (the CLI's Ctrl-C, `runner.cancel`), and that
 * process may be another one; stopping it from here would need a cancel request it notices at a
 * step boundary, which the runner does not read yet. A promotion already ended is refused too.
 */
export async function cancelPromotion(deps: EngineDeps, promotionRef: string, why?: string): Promise<PromotionRecord> {
  const promotion = await deps.store.getPromotion(promotionRef);
  const id = promotion.id.slice(0, 12);
  if (promotion.state !== 'pending') {
    const running = promotion.state === 'running' || promotion.state === 'rolling-back';
    throw new ConflictError(
      running
        ? `promotion ${id} is ${promotion.state}: only a pending promotion can be cancelled here; the process running it stops it (Ctrl-C in the terminal that started it)`
        : `promotion ${id} is ${promotion.state}: only a pending promotion can be cancelled`,
    );
  }
  // One that ran in part waits for a new approval of a changed plan: systems have changed, and
  // ending it here would skip its failure policy. Rejecting it applies the policy (approve.ts).
  if (promotion.startedAt !== undefined)
    throw new ConflictError(
      `promotion ${id} ran in part before it came to wait again: reject it (lockstep approve ${id} --reject) so its failure policy applies`,
    );
  const reason = `cancelled by ${deps.actor}${why === undefined || why.trim() === '' ? '' : `: ${why}`}`;
  const cancelled = await withPendingClaim(deps, promotion, async (_claimed, owner) => {
    // Read again under the claim: another process may have decided on it since (and let go of it).
    const now = await deps.store.getPromotion(promotion.id);
    if (now.state !== 'pending' || now.startedAt !== undefined)
      throw new ConflictError(`promotion ${id} is ${now.state}: only a pending promotion can be cancelled`);
    const at = deps.clock.now().toISOString();
    const record: PromotionRecord = { ...now, state: 'cancelled', reason, finishedAt: at, owner: undefined };
    await deps.store.commit({
      fence: { promotionId: record.id, ownerToken: owner.token },
      promotion: { record },
      audit: [
        {
          kind: 'promotion.finished',
          time: at,
          actor: deps.actor,
          project: record.project,
          environment: record.environment,
          releaseId: record.releaseId,
          promotionId: record.id,
          data: { state: 'cancelled', reason, ...actorProof(deps) },
        },
      ],
    });
    return record;
  });
  // Another process holds the claim: it is deciding on the promotion now (an approval, the worker).
  if (cancelled === undefined)
    throw new ConflictError(`promotion ${id} is being decided on by another process; try again`);
  return cancelled;
}
