import type { AuditEventInput } from '../core/audit.js';
import { listsPerson } from '../core/config/gate-rules.js';
import { parseDuration } from '../core/duration.js';
import { ConflictError, InputError, NotAllowedError } from '../core/errors.js';
import { approvalRefusal } from '../core/gates/evaluate.js';
import type { ApprovalRecord, PromotionRecord, ReleaseRecord } from '../core/model.js';
import type { EngineDeps } from './deps.js';
import { actorProof } from './gates.js';
import { advancePending, withPendingClaim, type AdvanceOptions } from './promote.js';
import { PromotionRunner } from './runner.js';

export interface ApproveOptions extends AdvanceOptions {
  comment?: string;
  /** Reject instead: the promotion ends (`rejected`). Needs a comment. */
  reject?: boolean;
}

/**
 * Records the actor's approval (bound to the digest of the plan as it stands) or rejection of a
 * pending promotion. Refusals (not in `from`, the requester or release author under separation of
 * duties, a second approval by the same person) are audited and thrown as NotAllowedError. An
 * approval that completes the gates runs the promotion in this process.
 */
export async function approve(deps: EngineDeps, promotionRef: string, options: ApproveOptions = {}): Promise<PromotionRecord> {
  const promotion = await deps.store.getPromotion(promotionRef);
  if (promotion.state !== 'pending') {
    throw new ConflictError(`promotion ${promotion.id.slice(0, 12)} is ${promotion.state}: only a pending promotion can be approved or rejected`);
  }
  const env = deps.loaded.config.environments[promotion.environment];
  const release = await deps.store.getRelease(promotion.releaseId);
  const now = deps.clock.now();
  const base = { time: now.toISOString(), actor: deps.actor, project: promotion.project, environment: promotion.environment, releaseId: promotion.releaseId, promotionId: promotion.id };
  const decision = options.reject ? 'reject' : 'approve';
  const providerGroups = [...(deps.actorGroups ?? [])];
  const comment = options.comment?.trim() || undefined;
  if (options.reject && comment === undefined) throw new InputError('a rejection needs --comment saying why', '--comment');

  const refusal = options.reject ? rejectionRefusal(deps, promotion) : await approvalProblem(deps, promotion, release);
  if (refusal !== undefined) {
    await deps.store.commit({ audit: [{ ...base, kind: 'approval.refused', data: { decision, reason: refusal, ...actorProof(deps) } }] });
    throw new NotAllowedError(refusal);
  }
  const expires = env?.gates?.approvals?.expires;
  const approval: ApprovalRecord = {
    promotionId: promotion.id,
    actor: deps.actor,
    decision,
    comment,
    planDigest: promotion.plan.digest,
    at: now.toISOString(),
    expiresAt: !options.reject && expires !== undefined ? new Date(now.getTime() + (parseDuration(expires) ?? 0)).toISOString() : undefined,
    ...(providerGroups.length === 0 ? {} : { groups: providerGroups }),
  };
  const event: AuditEventInput = {
    ...base,
    kind: options.reject ? 'approval.rejected' : 'approval.given',
    data: { comment, planDigest: approval.planDigest, expiresAt: approval.expiresAt, ...actorProof(deps), ...(approval.groups === undefined ? {} : { groups: approval.groups }) },
  };
  if (!options.reject) {
    await deps.store.commit({ approvals: [approval], audit: [event] });
    return advancePending(deps, promotion.id, options);
  }

  // A rejection ends the promotion: claimed first, so it cannot start running meanwhile.
  const rejected = await withPendingClaim(deps, promotion, async (claimed, owner) => {
    const reason = `rejected by ${deps.actor}: ${comment ?? ''}`;
    const fence = { promotionId: promotion.id, ownerToken: owner.token };
    if (claimed.startedAt !== undefined) return abandon(deps, claimed, fence, reason, approval, [event], options);
    const record: PromotionRecord = { ...claimed, state: 'rejected', reason, finishedAt: now.toISOString(), owner: undefined };
    await deps.store.commit({
      fence,
      approvals: [approval],
      promotion: { record },
      audit: [event, { ...base, kind: 'promotion.finished', data: { state: 'rejected', reason } }],
    });
    return record;
  });
  if (!rejected) throw new ConflictError(`promotion ${promotion.id.slice(0, 12)} is being evaluated by another process; try again`);
  return rejected;
}

/**
 * Ends a promotion that ran in part and stopped for a new approval, which was refused: what it applied
 * so far is treated as a failed promotion's would be (onFailure). The steps not yet run are skipped;
 * with `rollback`, the runner rolls back what changed, in reverse order.
 */
async function abandon(
  deps: EngineDeps,
  claimed: PromotionRecord,
  fence: { promotionId: string; ownerToken: string },
  reason: string,
  rejection: ApprovalRecord,
  audit: AuditEventInput[],
  options: ApproveOptions,
): Promise<PromotionRecord> {
  const time = deps.clock.now().toISOString();
  const base = { time, actor: deps.actor, project: claimed.project, environment: claimed.environment, releaseId: claimed.releaseId, promotionId: claimed.id };
  const pending = (await deps.store.listSteps(claimed.id)).filter((s) => s.state === 'pending');
  const skipped = pending.map((s) => ({ ...s, state: 'skipped' as const }));
  const skipEvents: AuditEventInput[] = pending.map((s) => ({ ...base, component: s.component, kind: 'step.skipped', data: { reason } }));
  const failure = { phase: 'approval' as const, error: reason, at: time };
  if (claimed.onFailure === 'rollback') {
    const record: PromotionRecord = { ...claimed, state: 'rolling-back', reason, failure };
    await deps.store.commit({ fence, approvals: [rejection], promotion: { record }, steps: skipped, audit: [...audit, ...skipEvents] });
    const runner = await PromotionRunner.load(deps, claimed.id, claimed.owner);
    options.onRunner?.(runner);
    return runner.run();
  }
  const record: PromotionRecord = { ...claimed, state: 'failed', reason, failure, finishedAt: time, owner: undefined };
  await deps.store.commit({
    fence,
    approvals: [rejection],
    promotion: { record, releaseLock: true },
    steps: skipped,
    audit: [...audit, ...skipEvents, { ...base, kind: 'promotion.finished', data: { state: 'failed', reason } }],
  });
  return record;
}

/**
 * Why the actor may not approve, or reject, the promotion as it stands (absent: they may), as
 * `approve` would refuse it: not pending, not in the gate's `from`, separation of duties, a second
 * approval of the same plan. Read-only: nothing is recorded (a refused attempt is audited when made).
 */
export async function decisionRefusals(
  deps: EngineDeps,
  promotionRef: string,
): Promise<{ promotion: PromotionRecord; approve?: string; reject?: string }> {
  const promotion = await deps.store.getPromotion(promotionRef);
  if (promotion.state !== 'pending') {
    const reason = `promotion ${promotion.id.slice(0, 12)} is ${promotion.state}: only a pending promotion can be approved or rejected`;
    return { promotion, approve: reason, reject: reason };
  }
  const release = await deps.store.getRelease(promotion.releaseId);
  const approve = await approvalProblem(deps, promotion, release);
  const reject = rejectionRefusal(deps, promotion);
  return { promotion, ...(approve === undefined ? {} : { approve }), ...(reject === undefined ? {} : { reject }) };
}

async function approvalProblem(deps: EngineDeps, promotion: PromotionRecord, release: ReleaseRecord): Promise<string | undefined> {
  const env = deps.loaded.config.environments[promotion.environment];
  if (!env) return `environment ${promotion.environment} is no longer in the config`;
  const refusal = approvalRefusal({ environment: env, groups: deps.loaded.config.groups, release, requestedBy: promotion.requestedBy }, deps.actor, deps.actorGroups);
  if (refusal !== undefined) return refusal;
  const now = deps.clock.now().getTime();
  const earlier = (await deps.store.listApprovals(promotion.id)).find(
    (a) =>
      a.decision === 'approve' &&
      a.actor.toLowerCase() === deps.actor.toLowerCase() &&
      a.planDigest === promotion.plan.digest &&
      (a.expiresAt === undefined || Date.parse(a.expiresAt) > now),
  );
  if (earlier) return `${deps.actor} already approved this plan at ${earlier.at}: each person counts once`;
  return undefined;
}

/** Who may reject: anyone who may approve (separation of duties does not stop a "no"), and the requester. */
function rejectionRefusal(deps: EngineDeps, promotion: PromotionRecord): string | undefined {
  const env = deps.loaded.config.environments[promotion.environment];
  const who = deps.actor.toLowerCase();
  if (who === promotion.requestedBy.toLowerCase()) return undefined;
  const from = env?.gates?.approvals?.from ?? [];
  if (listsPerson(from, deps.loaded.config.groups, deps.actor, deps.actorGroups)) return undefined;
  return `${deps.actor} may not reject promotions to ${promotion.environment}: only its approvers (${from.join(', ') || 'none'}) and the requester may`;
}
