import { computeDora, type DoraReport } from '../core/dora.js';
import { parseDuration } from '../core/duration.js';
import { InputError } from '../core/errors.js';
import type { StepRecord } from '../core/model.js';
import { printable } from '../core/printable.js';
import type { EngineDeps } from './deps.js';

/** How far back `lockstep metrics` looks without --since. */
export const DEFAULT_METRICS_WINDOW = '30d';

export interface DoraQuery {
  environment?: string;
  component?: string;
  /** A duration back from now (`90d`, `12h`); default DEFAULT_METRICS_WINDOW. */
  since?: string;
}

export interface DoraMetrics extends DoraReport {
  since: string;
}

/**
 * DORA metrics over the window ending now (the engine's clock), per environment of the config (or
 * the one asked for), and per component (every one, or the one asked for). Reads the whole record of
 * those environments: what happened before the window decides whether the environment was failing
 * when it opened. Read-only. InputError naming `--env`, `--component` or `--since`.
 */
export async function doraMetrics(deps: Pick<EngineDeps, 'store' | 'loaded' | 'clock'>, query: DoraQuery = {}): Promise<DoraMetrics> {
  const config = deps.loaded.config;
  if (query.environment !== undefined && !Object.hasOwn(config.environments, query.environment))
    throw new InputError(`unknown environment ${printable(query.environment)}`, '--env');
  if (query.component !== undefined && !Object.hasOwn(config.components, query.component))
    throw new InputError(`unknown component ${printable(query.component)}`, '--component');
  const since = query.since ?? DEFAULT_METRICS_WINDOW;
  const ms = parseDuration(since);
  if (ms === undefined || ms <= 0)
    throw new InputError(`--since takes a duration back from now, like 90d, 12h or 1d12h, not ${printable(since)}`, '--since');

  const to = deps.clock.now();
  const from = new Date(to.getTime() - ms);
  const environments = query.environment !== undefined ? [query.environment] : Object.keys(config.environments);
  const components = query.component !== undefined ? [query.component] : Object.keys(config.components);

  const promotions = [];
  const steps = new Map<string, StepRecord[]>();
  for (const environment of environments) {
    promotions.push(...(await deps.store.listPromotions({ environment })));
    for (const step of await deps.store.listStepHistory({ environment })) {
      const list = steps.get(step.promotionId) ?? [];
      list.push(step);
      steps.set(step.promotionId, list);
    }
  }
  const releases = await deps.store.listReleases();
  return { since, ...computeDora({ window: { from, to }, environments, components, promotions, steps, releases }) };
}
