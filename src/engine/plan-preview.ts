import type { PromotionPlan, ReleaseRecord } from '../core/model.js';
import type { EngineDeps } from './deps.js';
import { evaluatePromotionGates } from './gates.js';
import { planPromotion } from './planner.js';

/**
 * What promoting a release to an environment would do, with the gates as they would stand if the
 * actor promoted now (no approvals yet), as `lockstep plan` prints it. Records nothing.
 */
export async function previewPlan(
  deps: EngineDeps,
  releaseRef: string,
  environment: string,
): Promise<{ release: ReleaseRecord; plan: PromotionPlan }> {
  const release = await deps.store.getRelease(releaseRef);
  const planned = await planPromotion(deps, release, environment);
  const evaluation = await evaluatePromotionGates(
    deps,
    { environment, kind: 'promotion', plan: planned.plan, requestedBy: deps.actor },
    release,
  );
  return { release, plan: { ...planned.plan, gates: evaluation.gates } };
}
