import type { AdapterCapabilities, AdapterPlan, StepContext } from '../core/adapter.js';
import { errorMessage, InputError } from '../core/errors.js';
import { findReferences } from '../core/expression/index.js';
import { componentDependencies, dagLevels } from '../core/graph.js';
import type { ComponentState, OutputDeclaration, PlannedGate, PromotionPlan, ReleaseRecord, ValueType } from '../core/model.js';
import { buildPlan, componentConfigDigest, decideAction, KNOWN_AFTER_APPLY, missingPromotionPath } from '../core/plan.js';
import { Redactor } from '../core/redact.js';
import type { EngineDeps } from './deps.js';
import { componentScope, componentsScope, renderEnvironmentVars, renderSpec } from './render.js';
import { own } from '../core/own.js';
import { printable } from '../core/printable.js';

export interface PlannedPromotion {
  release: ReleaseRecord;
  plan: PromotionPlan;
  current: ComponentState[];
  /** Environments in `after` where this release has not succeeded. */
  missingPath: string[];
}

/** Components whose `with` references outputs of the given components. */
export function outputConsumers(deps: EngineDeps, producers: ReadonlySet<string>): Set<string> {
  const consumers = new Set<string>();
  for (const [name, c] of Object.entries(deps.loaded.config.components)) {
    for (const ref of findReferences(c.with).refs) {
      if (ref.path[0] === 'components' && ref.path[2] === 'outputs' && producers.has(ref.path[1] ?? '')) consumers.add(name);
    }
  }
  return consumers;
}

/** Checks that a release pins every component of the config. */
export function checkReleaseCoversConfig(deps: EngineDeps, release: ReleaseRecord): void {
  const missing = Object.keys(deps.loaded.config.components).filter((c) => own(release.versions, c) === undefined);
  if (missing.length > 0) {
    throw new InputError(
      `release ${release.id.slice(0, 12)} has no version for ${missing.join(', ')} (added to the config after the release was made): create a new release`,
      'release',
    );
  }
}

/**
 * Plans promoting `release` to `environment`: decides apply/unchanged per component, asks each adapter
 * what it would do (read-only), orders the DAG and checks the promotion path. Every problem (a missing
 * secret, an invalid rendered spec) is collected and reported at once.
 */
export async function planPromotion(
  deps: EngineDeps,
  release: ReleaseRecord,
  environment: string,
  options: { signal?: AbortSignal; skipPathCheck?: boolean } = {},
): Promise<PlannedPromotion> {
  const { config } = deps.loaded;
  const env = config.environments[environment];
  if (!env) {
    throw new InputError(`unknown environment ${printable(environment)} (known: ${Object.keys(config.environments).join(', ')})`, '--to');
  }
  checkReleaseCoversConfig(deps, release);

  const dependencies = componentDependencies(config);
  const names = Object.keys(config.components);
  const levels = dagLevels(names, dependencies);
  const current = await deps.store.environmentState(environment);
  const currentBy = new Map(current.map((s) => [s.component, s]));

  const redactor = new Redactor();
  const problems: string[] = [];
  let vars: Record<string, unknown> = {};
  try {
    vars = renderEnvironmentVars(config, environment, deps.secrets, redactor);
  } catch (error) {
    problems.push(errorMessage(error));
  }

  const applying = new Set<string>();
  const configDigests = new Map<string, string>();
  for (const name of names) {
    const toVersion = own(release.versions, name) ?? '';
    const digest = componentConfigDigest(config, environment, name);
    configDigests.set(name, digest);
    if (decideAction(currentBy.get(name), toVersion, digest).action === 'apply') applying.add(name);
  }
  const waitsForOutputs = outputConsumers(deps, applying);

  // Producers applied in this promotion: stand-ins of each output's declared type, so specs render
  // and their capabilities (reversible?) are known; the real values come at run time.
  const components = componentsScope(config, release, (c) =>
    applying.has(c) ? placeholderOutputs(config.components[c]?.outputs ?? {}) : currentBy.get(c)?.outputs,
  );
  const adapterPlans = new Map<string, AdapterPlan>();
  const capabilities = new Map<string, AdapterCapabilities>();
  const signal = options.signal ?? new AbortController().signal;
  for (const level of levels) {
    for (const name of level) {
      const component = config.components[name];
      const adapter = component ? deps.adapters.get(component.type) : undefined;
      if (!component || !adapter) continue;
      const scope = componentScope({
        environment,
        vars,
        release,
        component: name,
        previousVersion: currentBy.get(name)?.version,
        components,
        secrets: deps.secrets,
        redactor,
      });
      if (waitsForOutputs.has(name)) {
        // Its inputs are outputs of components applied in this promotion: known only at run time.
        // Rendering still checks secrets and everything else, with the recorded outputs as stand-ins.
        try {
          const spec = renderSpec(adapter, name, component.with, scope);
          capabilities.set(name, adapter.capabilities(spec));
        } catch (error) {
          // A stand-in may not satisfy a format check (a URL field): only then is it not a problem.
          const message = errorMessage(error);
          if (!message.includes(KNOWN_AFTER_APPLY.slice(1, -1)) && !message.includes('is not available')) problems.push(message);
        }
        const producers = [...applying].filter((p) => (dependencies.get(name) ?? []).includes(p));
        adapterPlans.set(name, { summary: `planned at run time, after ${producers.join(', ')} (their outputs are inputs here)` });
        if (!capabilities.has(name)) capabilities.set(name, { reversible: false, idempotentApply: false, observe: false });
        continue;
      }
      let spec: unknown;
      try {
        spec = renderSpec(adapter, name, component.with, scope);
      } catch (error) {
        problems.push(errorMessage(error));
        continue;
      }
      capabilities.set(name, adapter.capabilities(spec));
      if (!applying.has(name)) continue;
      const ctx: StepContext = planContext(deps, release, environment, vars, name, currentBy.get(name)?.version, signal);
      try {
        adapterPlans.set(name, redactor.redactValue(await adapter.plan(spec, ctx)));
      } catch (error) {
        problems.push(`components.${name}: plan failed: ${redactor.redact(errorMessage(error))}`);
      }
    }
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'), 'config');

  const succeededIn = new Set<string>();
  if (!options.skipPathCheck) {
    for (const e of env.after) {
      const done = await deps.store.listPromotions({ environment: e, releaseId: release.id, states: ['succeeded'], limit: 1 });
      if (done.length > 0) succeededIn.add(e);
    }
  }
  const missingPath = options.skipPathCheck ? [] : missingPromotionPath(config, environment, succeededIn);
  const gates: PlannedGate[] = [];
  if (env.after.length > 0) {
    gates.push(
      options.skipPathCheck
        ? { gate: 'promotion-path', status: 'passed', message: 'rollback: the release ran here before' }
        : missingPath.length === 0
          ? { gate: 'promotion-path', status: 'passed', message: `succeeded in ${env.after.join(', ')}` }
          : { gate: 'promotion-path', status: 'blocked', message: `not yet succeeded in ${missingPath.join(', ')}` },
    );
  }

  const plan = buildPlan({ config, environment, release, current, dependencies, levels, adapterPlans, capabilities, gates, configDigests });
  return { release, plan, current, missingPath };
}

const PLACEHOLDER: Record<ValueType, unknown> = {
  string: KNOWN_AFTER_APPLY,
  number: 0,
  integer: 0,
  boolean: false,
  object: {},
  array: [],
  any: KNOWN_AFTER_APPLY,
};

function placeholderOutputs(declared: Record<string, OutputDeclaration>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(declared).map(([k, d]) => [k, PLACEHOLDER[d.type]]));
}

function planContext(
  deps: EngineDeps,
  release: ReleaseRecord,
  environment: string,
  vars: Record<string, unknown>,
  component: string,
  previousVersion: string | undefined,
  signal: AbortSignal,
): StepContext {
  return {
    signal,
    log: () => undefined,
    heartbeat: () => undefined,
    idempotencyKey: `plan:${release.id}:${environment}:${component}`,
    project: deps.loaded.config.project,
    projectDir: deps.projectDir,
    cacheDir: deps.cacheDir,
    environment: { name: environment, vars },
    release: { id: release.id, versions: release.versions },
    promotionId: '',
    component,
    version: own(release.versions, component) ?? '',
    previousVersion,
  };
}
