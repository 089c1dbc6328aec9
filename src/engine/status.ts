import { InputError } from '../core/errors.js';
import type { GateEvaluation } from '../core/gates/evaluate.js';
import type { DriftState } from '../core/drift.js';
import type { ComponentState, PromotionRecord } from '../core/model.js';
import { printable } from '../core/printable.js';
import type { EngineDeps } from './deps.js';
import { evaluatePromotionGates } from './gates.js';

/** What runs in one environment, as `lockstep status` and `GET …/environments` show it. */
export interface EnvironmentStatus {
  environment: string;
  /** The environments it comes after (the config's `after`): the edges of the pipeline graph. */
  after: string[];
  description?: string;
  /** The last release that fully succeeded here. */
  release?: string;
  /** Components that no longer run that release's version (a later failed promotion may have left forward-only ones newer). */
  differsFromRelease: string[];
  lastPromotion?: PromotionRecord;
  activePromotion?: PromotionRecord;
  /** Pending promotions with their gates as they stand now. */
  pending: { promotion: PromotionRecord; gates: GateEvaluation['gates']; summary: string }[];
  components: ComponentState[];
  /** Each component's last drift check (`lockstep drift`, or the server's schedule); absent: never checked. */
  drift: DriftState[];
}

/**
 * Per environment (every one in the config, or `environment`): the release, each component's version,
 * the last and the active promotion, the pending ones with their gates evaluated now. Read-only:
 * nothing is re-planned or recorded. InputError (field `--env`) for an unknown environment.
 */
export async function environmentStatus(deps: EngineDeps, environment?: string): Promise<EnvironmentStatus[]> {
  if (environment !== undefined && !(environment in deps.loaded.config.environments))
    throw new InputError(`unknown environment ${printable(environment)}`, '--env');
  const envs = environment !== undefined ? [environment] : Object.keys(deps.loaded.config.environments);
  const result: EnvironmentStatus[] = [];
  for (const env of envs) {
    const components = await deps.store.environmentState(env);
    const [last] = await deps.store.listPromotions({ environment: env, limit: 1 });
    const [lastOk] = await deps.store.listPromotions({ environment: env, states: ['succeeded'], limit: 1 });
    const active = await deps.store.activePromotion(env);
    const versions = lastOk ? (await deps.store.getRelease(lastOk.releaseId)).versions : {};
    const differing = lastOk
      ? components.filter((c) => versions[c.component] !== c.version).map((c) => c.component)
      : [];
    const pending = [];
    for (const p of await deps.store.listPromotions({ environment: env, states: ['pending'] })) {
      const evaluation = await evaluatePromotionGates(deps, p, await deps.store.getRelease(p.releaseId));
      pending.push({
        promotion: { ...p, plan: { ...p.plan, gates: evaluation.gates } },
        gates: evaluation.gates,
        summary: evaluation.summary,
      });
    }
    const config = deps.loaded.config.environments[env];
    result.push({
      environment: env,
      after: config?.after ?? [],
      ...(config?.description === undefined ? {} : { description: config.description }),
      release: lastOk?.releaseId,
      differsFromRelease: differing,
      lastPromotion: last,
      activePromotion: active,
      pending,
      components,
      drift: await deps.store.driftStates(env),
    });
  }
  return result;
}
