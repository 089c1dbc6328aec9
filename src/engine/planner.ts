import type { AdapterCapabilities, AdapterPlan, StepContext } from '../core/adapter.js';
import { errorMessage, InputError } from '../core/errors.js';
import { findReferences } from '../core/expression/index.js';
import { componentDependencies, dagLevels } from '../core/graph.js';
import type { ComponentState, OutputDeclaration, PlannedGate, ProjectConfig, PromotionPlan, ReleaseRecord, ValueType } from '../core/model.js';
import { sensitiveNames } from '../core/outputs.js';
import { buildPlan, componentConfigDigest, decideAction, holdsUnknown, knownAfter, missingPromotionPath } from '../core/plan.js';
import { Redactor } from '../core/redact.js';
import { didYouMean } from '../core/suggest.js';
import type { EngineDeps } from './deps.js';
import { componentScope, componentsScope, renderEnvironmentVarsEach, renderSpec } from './render.js';
import { neededSensitiveOutputs, readSensitiveOutputs } from './sensitive-outputs.js';
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
    const known = Object.keys(config.environments);
    throw new InputError(`unknown environment ${printable(environment)} (known: ${known.join(', ')})${didYouMean(environment, known)}`, '--to');
  }
  checkReleaseCoversConfig(deps, release);

  const dependencies = componentDependencies(config);
  const names = Object.keys(config.components);
  const levels = dagLevels(names, dependencies);
  const current = await deps.store.environmentState(environment);
  const currentBy = new Map(current.map((s) => [s.component, s]));

  const redactor = new Redactor();
  const problems: string[] = [];
  const { vars, unavailable } = renderEnvironmentVarsEach(config, environment, deps.secrets, redactor);
  for (const [name, message] of unavailable) {
    const users = varUsers(config, name);
    problems.push(users.length > 0 ? `${message} (used by ${users.join(', ')})` : message);
  }
  /** A spec that fails only because it reads such a var adds nothing: the var's problem names the field. */
  const onlyUnavailableVar = (message: string): boolean =>
    [...unavailable.keys()].some((name) => message.includes(`env.vars.${name} is not available`));

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
  // and their capabilities (reversible?) are known; the real values come at run time. Producers left
  // alone: their recorded outputs, where a sensitive one is the `***` stand-in. A consumer applied here
  // gets the real value instead, read back from the producer's system; one left alone is not planned,
  // so the stand-in only lets its spec render.
  const sensitiveOf = (c: string): string[] => sensitiveNames(config.components[c]?.outputs ?? {}, currentBy.get(c)?.sensitiveOutputs ?? []);
  const readBack = new Map<string, Record<string, unknown>>();
  const components = componentsScope(config, release, (c) => {
    if (applying.has(c)) return placeholderOutputs(c, config.components[c]?.outputs ?? {});
    const recorded = currentBy.get(c)?.outputs;
    return recorded === undefined ? undefined : { ...recorded, ...readBack.get(c) };
  });
  const specs = new Map<string, unknown>();
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
      if (applying.has(name)) {
        // Sensitive outputs of producers left alone: from their systems, so this plan shows what will
        // really be applied (a saved Terraform plan is applied as shown).
        const needed = neededSensitiveOutputs(config, name, (p) => (applying.has(p) || readBack.has(p) ? [] : sensitiveOf(p)));
        let failed = false;
        for (const [producer, outputs] of needed) {
          const producerAdapter = deps.adapters.get(config.components[producer]?.type ?? '');
          const producerSpec = specs.get(producer);
          try {
            if (!producerAdapter || producerSpec === undefined) {
              throw new Error(`${producer}'s sensitive outputs (${outputs.join(', ')}) cannot be read back before its own spec is known`);
            }
            const ctx = planContext(deps, release, environment, vars, producer, currentBy.get(producer)?.version, signal, redactor);
            readBack.set(producer, await readSensitiveOutputs({
              config,
              adapter: producerAdapter,
              producer,
              consumer: name,
              needed: outputs,
              recordedSensitive: currentBy.get(producer)?.sensitiveOutputs ?? [],
              spec: producerSpec,
              ctx,
              redactor,
            }));
          } catch (error) {
            problems.push(`components.${name}: ${redactor.redact(errorMessage(error))}`);
            failed = true;
          }
        }
        if (failed) continue;
      }
      if (waitsForOutputs.has(name)) {
        // Its inputs are outputs of components applied in this promotion: known only at run time.
        // Rendering still checks secrets and everything else, with the recorded outputs as stand-ins.
        try {
          const spec = renderSpec(adapter, name, component.with, scope);
          capabilities.set(name, adapter.capabilities(spec));
        } catch (error) {
          // A stand-in may not satisfy a format check (a URL field): only then is it not a problem.
          const message = errorMessage(error);
          if (!holdsUnknown(message) && !message.includes('known after apply') && !message.includes('is not available')) problems.push(message);
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
        if (!onlyUnavailableVar(errorMessage(error))) problems.push(errorMessage(error));
        continue;
      }
      specs.set(name, spec);
      capabilities.set(name, adapter.capabilities(spec));
      if (!applying.has(name)) continue;
      const ctx: StepContext = planContext(deps, release, environment, vars, name, currentBy.get(name)?.version, signal, redactor);
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
  string: undefined,
  number: 0,
  integer: 0,
  boolean: false,
  object: {},
  array: [],
  any: undefined,
};

function placeholderOutputs(producer: string, declared: Record<string, OutputDeclaration>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(declared).map(([k, d]) => [k, PLACEHOLDER[d.type] ?? knownAfter(producer)]));
}

function planContext(
  deps: EngineDeps,
  release: ReleaseRecord,
  environment: string,
  vars: Record<string, unknown>,
  component: string,
  previousVersion: string | undefined,
  signal: AbortSignal,
  redactor: Redactor,
): StepContext {
  return {
    signal,
    log: () => undefined,
    heartbeat: () => undefined,
    idempotencyKey: `plan:${release.id}:${environment}:${component}`,
    project: deps.loaded.config.project,
    projectDir: deps.projectDir,
    cacheDir: deps.cacheDir,
    stateDir: deps.stateDir,
    isSensitive: (value) => redactor.covers(value),
    environment: { name: environment, vars },
    release: { id: release.id, versions: release.versions },
    promotionId: '',
    component,
    version: own(release.versions, component) ?? '',
    previousVersion,
  };
}

/** The fields of components' `with` that read `env.vars.<name>`, as dotted paths, in config order. */
function varUsers(config: ProjectConfig, name: string): string[] {
  const users: string[] = [];
  for (const [component, c] of Object.entries(config.components)) {
    for (const ref of findReferences(c.with).refs) {
      if (ref.path[0] === 'env' && ref.path[1] === 'vars' && ref.path[2] === name) users.push(['components', component, 'with', ...ref.at].join('.'));
    }
  }
  return users;
}
