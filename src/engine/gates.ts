import type { AuditEventInput } from '../core/audit.js';
import { evaluateGates, type GateEvaluation, type UpstreamRun } from '../core/gates/evaluate.js';
import type { PlannedGate, PromotionKind, PromotionPlan, PromotionRecord, ReleaseRecord } from '../core/model.js';
import type { ActorProof, EngineDeps } from './deps.js';

/**
 * How the actor was established, for the audit data of every decision a person makes (an approval,
 * a rejection, an override): `identity: "claimed"` locally, `"authenticated"` with how (the token's
 * name) through the server, so an auditor knows which decisions rest on proof.
 */
export function actorProof(deps: Pick<EngineDeps, 'actorProof'>): ActorProof {
  return deps.actorProof ?? { identity: 'claimed' };
}

/** What gate evaluation needs of a promotion (one not recorded yet has no id and no approvals). */
export interface GateSubject {
  id?: string;
  environment: string;
  kind: PromotionKind;
  plan: PromotionPlan;
  requestedBy: string;
  windowOverride?: PromotionRecord['windowOverride'];
}

/** Reads what the gates need from the store (approvals, upstream runs) and evaluates them at the clock's now. */
export async function evaluatePromotionGates(deps: EngineDeps, subject: GateSubject, release: ReleaseRecord): Promise<GateEvaluation> {
  const env = deps.loaded.config.environments[subject.environment];
  if (!env) throw new Error(`environment ${subject.environment} is not in the config`);
  const approvals = subject.id === undefined ? [] : await deps.store.listApprovals(subject.id);
  const upstream = env.gates?.soak !== undefined ? await upstreamRuns(deps, release.id, env.after) : [];
  return evaluateGates({
    environment: env,
    groups: deps.loaded.config.groups,
    release,
    plan: subject.plan,
    kind: subject.kind,
    requestedBy: subject.requestedBy,
    approvals,
    upstream,
    windowOverride: subject.windowOverride,
    now: deps.clock.now(),
  });
}

/** For each upstream environment: when this release was verified there, and when a later promotion started replacing it. */
export async function upstreamRuns(deps: EngineDeps, releaseId: string, environments: readonly string[]): Promise<UpstreamRun[]> {
  const runs: UpstreamRun[] = [];
  for (const environment of environments) {
    const promotions = await deps.store.listPromotions({ environment });
    // Newest first: the latest successful run of this release, and the first promotion that started after it.
    const index = promotions.findIndex((p) => p.releaseId === releaseId && p.state === 'succeeded');
    const run = promotions[index];
    if (!run) {
      runs.push({ environment });
      continue;
    }
    const verifiedAt = run.verifiedAt ?? run.finishedAt;
    const later = promotions
      .slice(0, index)
      .filter((p) => p.startedAt !== undefined && p.releaseId !== releaseId)
      .map((p) => p.startedAt as string)
      .sort();
    runs.push({ environment, verifiedAt, replacedAt: later[0] });
  }
  return runs;
}

/**
 * Audit events for what changed since the last evaluation: each gate whose status changed, and each
 * approval that stopped counting (once: its key goes into `gateEvents`).
 */
export function gateDecisionEvents(
  deps: EngineDeps,
  promotion: Pick<PromotionRecord, 'id' | 'project' | 'environment' | 'releaseId' | 'gateEvents'>,
  previous: readonly PlannedGate[],
  evaluation: GateEvaluation,
  extra: { planChanges?: string[] } = {},
): { events: AuditEventInput[]; gateEvents: string[] } {
  const time = deps.clock.now().toISOString();
  const base = { time, actor: deps.actor, project: promotion.project, environment: promotion.environment, releaseId: promotion.releaseId, promotionId: promotion.id };
  const events: AuditEventInput[] = [];
  const before = new Map(previous.map((g) => [g.gate, g]));
  for (const gate of evaluation.gates) {
    const earlier = before.get(gate.gate);
    if (earlier?.status === gate.status && earlier.message === gate.message) continue;
    if (earlier?.status === gate.status && gate.status !== 'passed') continue; // same state, new numbers (time to go)
    events.push({ ...base, kind: `gate.${gate.status}`, data: { gate: gate.gate, reason: gate.message, until: gate.until, who: gate.who } });
  }
  const seen = new Set(promotion.gateEvents ?? []);
  for (const ignored of evaluation.tally.ignored) {
    if (ignored.why !== 'plan-changed' && ignored.why !== 'expired') continue;
    const key = `${ignored.why}:${ignored.approval.actor}:${ignored.approval.at}`;
    if (seen.has(key)) continue;
    seen.add(key);
    events.push({
      ...base,
      kind: ignored.why === 'expired' ? 'approval.expired' : 'approval.invalidated',
      data: {
        approver: ignored.approval.actor,
        approvedAt: ignored.approval.at,
        approvedPlan: ignored.approval.planDigest,
        reason: ignored.message,
        planChanges: ignored.why === 'plan-changed' ? extra.planChanges : undefined,
      },
    });
  }
  return { events, gateEvents: [...seen] };
}
