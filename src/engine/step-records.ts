import type { StepRecord } from '../core/model.js';
import type { PlannedPromotion } from './planner.js';

/** A promotion's steps, from a fresh plan: `previous` is what runs now, which a rollback restores. */
export function stepRecords(id: string, environment: string, planned: PlannedPromotion): StepRecord[] {
  const currentBy = new Map(planned.current.map((s) => [s.component, s]));
  return planned.plan.steps.map((p) => {
    const cur = currentBy.get(p.component);
    return {
      promotionId: id,
      component: p.component,
      environment,
      state: 'pending',
      action: p.action,
      fromVersion: p.fromVersion,
      toVersion: p.toVersion,
      reversible: p.reversible,
      applyStarted: false,
      attempts: 0,
      idempotencyKey: `${id}:${p.component}`,
      previous: cur
        ? { version: cur.version, releaseId: cur.releaseId, configDigest: cur.configDigest, outputs: cur.outputs, sensitiveOutputs: cur.sensitiveOutputs, inputs: cur.inputs }
        : undefined,
    };
  });
}

/**
 * The steps of a promotion planned again after it ran in part (it stopped for a new approval): the
 * steps that already ran keep their records (what ran before them, which a rollback restores, and
 * when and how they ran); the rest come from the new plan.
 */
export function replannedSteps(ran: readonly StepRecord[], fresh: readonly StepRecord[]): StepRecord[] {
  const kept = new Map(ran.filter((s) => s.state !== 'pending').map((s) => [s.component, s]));
  return fresh.map((s) => kept.get(s.component) ?? s);
}
