import type { AuditEventInput } from '../core/audit.js';
import { canonicalJson } from '../core/canonical-json.js';
import { inputFingerprint } from '../core/fingerprint.js';
import type { InputChange, PlannedStep, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import { planChanges } from '../core/plan.js';
import type { GateEvaluation } from '../core/gates/evaluate.js';
import type { EngineDeps } from './deps.js';
import { evaluatePromotionGates, gateDecisionEvents } from './gates.js';
import { planPromotion } from './planner.js';
import { replannedSteps, stepRecords } from './step-records.js';

/**
 * A step's plan was made against values its producers were to output (their planned or recorded
 * outputs). Before the step applies, the values it is about to consume are compared with those: what
 * differs was not in the plan people approved. Only producers applied in this promotion can hand
 * over something new. `valueOf` gives the value now (undefined when not available); `key` is the
 * fingerprint key for sensitive values. Pure.
 */
export function inputChanges(
  planned: PlannedStep | undefined,
  steps: ReadonlyMap<string, StepRecord>,
  valueOf: (producer: string, output: string) => unknown,
  key: Uint8Array | undefined,
): InputChange[] {
  const changes: InputChange[] = [];
  for (const input of planned?.inputs ?? []) {
    if (input.state !== 'known') continue;
    const producer = steps.get(input.producer);
    if (producer?.state !== 'succeeded' || !producer.applyStarted) continue;
    const now = valueOf(input.producer, input.output);
    const base = { consumer: planned?.component ?? '', producer: input.producer, output: input.output };
    if (input.sensitive === true) {
      if (inputFingerprint(now, true, key) !== input.fingerprint) changes.push({ ...base, sensitive: true });
    } else if (canonicalJson(now ?? null) !== canonicalJson(input.value ?? null)) {
      changes.push({ ...base, approved: input.value, now });
    }
  }
  return changes;
}

/** `iam.outputs.role_arn was "a" in the approved plan and is now "b"`, one clause per change; secrets as "changed" only. */
export function describeInputChanges(changes: readonly InputChange[]): string {
  return changes
    .map((c) => {
      const name = `${c.producer}.outputs.${c.output}`;
      return c.sensitive === true
        ? `${name} (sensitive) changed since the plan was approved`
        : `${name} was ${JSON.stringify(c.approved) ?? 'null'} in the approved plan and is now ${JSON.stringify(c.now) ?? 'null'}`;
    })
    .join('; ');
}

export interface Replanned {
  /** The promotion with its new plan and gates evaluated against it (state unchanged). */
  record: PromotionRecord;
  steps: StepRecord[];
  evaluation: GateEvaluation;
  audit: AuditEventInput[];
}

/**
 * Plans a promotion that ran in part again, from what its environment runs now: the steps that ran
 * keep their records, the rest are planned against the outputs their producers really have. The gates
 * are evaluated against the new plan, so approvals of the old one no longer count. Throws what
 * planPromotion throws when the new plan cannot be made. Commits nothing.
 */
export async function replanPromotion(
  deps: EngineDeps,
  promotion: PromotionRecord,
  release: ReleaseRecord,
  ran: readonly StepRecord[],
  changes: readonly InputChange[],
  heldOutputs?: ReadonlyMap<string, Readonly<Record<string, unknown>>>,
): Promise<Replanned> {
  // The promotion path passed when it started; the release has not left those environments since.
  const planned = await planPromotion(deps, release, promotion.environment, { skipPathCheck: true, heldOutputs });
  const steps = replannedSteps(ran, stepRecords(promotion.id, promotion.environment, planned));
  const previousGates = promotion.plan.gates;
  let record: PromotionRecord = { ...promotion, plan: { ...planned.plan, gates: previousGates }, configDigest: deps.loaded.digest };
  const evaluation = await evaluatePromotionGates(deps, record, release);
  const changed = planChanges(promotion.plan, planned.plan);
  const decisions = gateDecisionEvents(deps, record, previousGates, evaluation, { planChanges: changed });
  record = { ...record, plan: { ...record.plan, gates: evaluation.gates }, gateEvents: decisions.gateEvents };
  const time = deps.clock.now().toISOString();
  const replanned: AuditEventInput = {
    kind: 'promotion.replanned',
    time,
    actor: deps.actor,
    project: promotion.project,
    environment: promotion.environment,
    releaseId: promotion.releaseId,
    promotionId: promotion.id,
    data: {
      reason: describeInputChanges(changes),
      inputs: changes,
      planDigest: { approved: promotion.plan.digest, now: planned.plan.digest },
      planChanges: changed,
      gates: evaluation.verdict,
    },
  };
  return { record, steps, evaluation, audit: [replanned, ...decisions.events] };
}
