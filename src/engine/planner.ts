import type { Adapter, AdapterCapabilities, AdapterPlan, StepContext } from '../core/adapter.js';
import { errorMessage, InputError } from '../core/errors.js';
import { findReferences } from '../core/expression/index.js';
import { componentDependencies, dagLevels } from '../core/graph.js';
import type { EvalScope } from '../core/expression/index.js';
import { inputFingerprint } from '../core/fingerprint.js';
import type { ComponentState, OutputDeclaration, PlannedGate, PlannedInput, PlanUnknown, ProjectConfig, PromotionPlan, ReleaseRecord, ValueType } from '../core/model.js';
import { checkOutputs, sensitiveNames } from '../core/outputs.js';
import { buildPlan, componentConfigDigest, decideAction, holdsUnknown, knownAfter, missingPromotionPath, referencedOutputs } from '../core/plan.js';
import { REDACTED, Redactor } from '../core/redact.js';
import { didYouMean } from '../core/suggest.js';
import type { EngineDeps } from './deps.js';
import { componentScope, componentsScope, renderEnvironmentVarsEach, renderSpec } from './render.js';
import { fingerprintKey } from './fingerprint-key.js';
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
 * What a component's outputs are while planning, as its dependents see them: `values` holds what is
 * known (recorded, read back, or planned by its adapter); `unknown` the outputs known only once it
 * applies; `sensitive` the names whose values are secrets.
 */
interface OutputsView {
  values: Record<string, unknown>;
  unknown: Set<string>;
  sensitive: Set<string>;
  /** The component is applied in this promotion: what it outputs may differ from what it recorded. */
  applying: boolean;
}

/**
 * Plans promoting `release` to `environment`: decides apply/unchanged per component, asks each adapter
 * what it would do (read-only), orders the DAG and checks the promotion path. Every problem (a missing
 * secret, an invalid rendered spec) is collected and reported at once.
 *
 * Components are planned in DAG order, so each dependent is planned against what its producers will
 * output: recorded outputs for a producer left alone, the values its adapter's plan predicts for one
 * applied here, and "(known after X applies)" in the place of whatever nobody can know yet.
 */
export async function planPromotion(
  deps: EngineDeps,
  release: ReleaseRecord,
  environment: string,
  options: {
    signal?: AbortSignal;
    skipPathCheck?: boolean;
    /**
     * Outputs the calling process holds in memory (a promotion planned again halfway): sensitive
     * values among them need not be read back from their systems, which some adapters cannot do.
     */
    heldOutputs?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
    /** Components to apply even when nothing changed (`promote --reapply`: to correct drift). */
    reapply?: readonly string[];
  } = {},
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
  const reapply = new Set(options.reapply ?? []);
  checkReapply(config, environment, reapply, currentBy);

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

  const configDigests = new Map<string, string>();
  for (const name of names) configDigests.set(name, componentConfigDigest(config, environment, name));
  let key: Uint8Array | undefined | null = null;
  const fingerprintOf = (value: unknown, sensitive: boolean): string | undefined => {
    if (sensitive && key === null) key = deps.fingerprintKey ?? fingerprintKey(deps.stateDir);
    return inputFingerprint(value, sensitive, key ?? undefined);
  };

  const views = new Map<string, OutputsView>();
  /** A view of recorded outputs: sensitive ones are `***` in the store, so they are not values until read back. */
  const recordedView = (c: string): OutputsView => {
    const sensitive = new Set(sensitiveNames(config.components[c]?.outputs ?? {}, currentBy.get(c)?.sensitiveOutputs ?? []));
    const recorded = currentBy.get(c)?.outputs ?? {};
    return { values: Object.fromEntries(Object.entries(recorded).filter(([k]) => !sensitive.has(k))), unknown: new Set(), sensitive, applying: false };
  };
  const allUnknown = (c: string): OutputsView => ({
    values: {},
    unknown: new Set(Object.keys(config.components[c]?.outputs ?? {})),
    sensitive: new Set(sensitiveNames(config.components[c]?.outputs ?? {}, currentBy.get(c)?.sensitiveOutputs ?? [])),
    applying: true,
  });
  const components = componentsScope(config, release, (c) => {
    const view = views.get(c);
    if (view === undefined) return undefined;
    const out: Record<string, unknown> = { ...view.values };
    for (const o of view.unknown) out[o] = knownAfter(c);
    // A sensitive value not read back (its consumer is left alone, so it is not planned) renders as
    // the stand-in the store keeps, only so that the consumer's spec renders.
    for (const o of view.sensitive) if (!(o in out)) out[o] = REDACTED;
    return out;
  });

  const specs = new Map<string, unknown>();
  const adapterPlans = new Map<string, AdapterPlan>();
  const capabilities = new Map<string, AdapterCapabilities>();
  const inputs = new Map<string, PlannedInput[]>();
  const inputReasons = new Map<string, string>();
  const unknowns: PlanUnknown[] = [];
  const signal = options.signal ?? new AbortController().signal;
  for (const level of levels) {
    for (const name of level) {
      const component = config.components[name];
      const adapter = component ? deps.adapters.get(component.type) : undefined;
      if (!component || !adapter) continue;
      const toVersion = own(release.versions, name) ?? '';
      const consumed = consumedOutputs(config, name);
      let decided = decideAction(currentBy.get(name), toVersion, configDigests.get(name) ?? '');
      if (decided.action === 'unchanged') {
        const why = inputChangeReason(consumed, views, currentBy, name, fingerprintOf) ?? (reapply.has(name) ? REAPPLY_REASON : undefined);
        if (why !== undefined) {
          inputReasons.set(name, why);
          decided = { action: 'apply', reason: why };
        }
      }
      const applying = decided.action === 'apply';
      // Left alone, it outputs what it recorded, whatever becomes of its own spec below.
      if (!applying) views.set(name, recordedView(name));
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
      if (applying) {
        // Sensitive outputs of producers left alone: from their systems, so this plan shows what will
        // really be applied (a saved Terraform plan is applied as shown).
        const needed = neededSensitiveOutputs(config, name, (p) => {
          const view = views.get(p);
          return view === undefined ? [] : [...view.sensitive].filter((o) => !(o in view.values) && !view.unknown.has(o));
        });
        let failed = false;
        for (const [producer, outputs] of needed) {
          const held = options.heldOutputs?.get(producer);
          if (held !== undefined && outputs.every((o) => o in held)) {
            for (const o of outputs) redactor.add(held[o]);
            const view = views.get(producer);
            if (view) for (const o of outputs) view.values[o] = held[o];
            continue;
          }
          const producerAdapter = deps.adapters.get(config.components[producer]?.type ?? '');
          const producerSpec = specs.get(producer);
          try {
            if (!producerAdapter || producerSpec === undefined) {
              throw new Error(`${producer}'s sensitive outputs (${outputs.join(', ')}) cannot be read back before its own spec is known`);
            }
            const ctx = planContext(deps, release, environment, vars, producer, currentBy.get(producer)?.version, signal, redactor, false);
            const read = await readSensitiveOutputs({
              config,
              adapter: producerAdapter,
              producer,
              consumer: name,
              needed: outputs,
              recordedSensitive: currentBy.get(producer)?.sensitiveOutputs ?? [],
              spec: producerSpec,
              ctx,
              redactor,
            });
            const view = views.get(producer);
            if (view) Object.assign(view.values, read);
          } catch (error) {
            problems.push(`components.${name}: ${redactor.redact(errorMessage(error))}`);
            failed = true;
          }
        }
        if (failed) {
          views.set(name, allUnknown(name));
          continue;
        }
      }
      const planned = plannedInputs(consumed, views, fingerprintOf);
      if (planned.length > 0) inputs.set(name, planned);
      if (applying) unknowns.push(...unknownsOf(config, name, views));

      let spec: unknown;
      try {
        spec = renderSpec(adapter, name, component.with, scope);
      } catch (error) {
        const message = errorMessage(error);
        if (holdsUnknown(message) || message.includes('known after apply')) {
          // A value known only at run time goes where the consumer checks a format (a URL): the
          // adapter cannot plan with the stand-in. The plan says which field waits for what; the
          // capabilities come from a rendering with typed stand-ins.
          adapterPlans.set(name, { summary: `planned at run time: ${firstLine(message)}` });
          capabilities.set(name, standInCapabilities(adapter, name, component.with, scope, config, release, views));
        } else if (!onlyUnavailableVar(message)) problems.push(message);
        if (applying) views.set(name, allUnknown(name));
        continue;
      }
      specs.set(name, spec);
      capabilities.set(name, adapter.capabilities(spec));
      if (!applying) continue;
      const ctx: StepContext = planContext(deps, release, environment, vars, name, currentBy.get(name)?.version, signal, redactor, reapply.has(name));
      try {
        const raw = await adapter.plan(spec, ctx);
        const view = plannedView(name, component.outputs, raw, currentBy.get(name), redactor, problems);
        views.set(name, view);
        const { outputs: _outputs, ...shown } = raw;
        adapterPlans.set(name, redactor.redactValue(shown));
      } catch (error) {
        problems.push(`components.${name}: plan failed: ${redactor.redact(errorMessage(error))}`);
        views.set(name, allUnknown(name));
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

  const plan = buildPlan({ config, environment, release, current, dependencies, levels, adapterPlans, capabilities, gates, configDigests, inputs, inputReasons, unknowns });
  return { release, plan, current, missingPath };
}

/** Why a component at the same version and configuration is applied: a person asked, to correct drift. */
export const REAPPLY_REASON = 're-applied on request (--reapply) to correct drift: same version and configuration';

/** Components named by --reapply must exist and run in the environment (there is nothing to re-apply otherwise). */
function checkReapply(config: ProjectConfig, environment: string, reapply: ReadonlySet<string>, currentBy: ReadonlyMap<string, ComponentState>): void {
  const known = Object.keys(config.components);
  const problems: string[] = [];
  for (const name of reapply) {
    if (!known.includes(name)) problems.push(`--reapply names an unknown component ${printable(name)} (known: ${known.join(', ')})${didYouMean(name, known)}`);
    else if (!currentBy.has(name)) problems.push(`--reapply ${name}: nothing of it was ever applied in ${environment}, so there is nothing to re-apply (promote a release instead)`);
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'), '--reapply');
}

/** The outputs of other components a component's `with` references, with `*` spelled out: producer → names. */
function consumedOutputs(config: ProjectConfig, component: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [producer, outputs] of referencedOutputs(config, component)) {
    const declared = Object.keys(config.components[producer]?.outputs ?? {});
    out.set(producer, outputs.has('*') ? declared : [...outputs].filter((o) => declared.includes(o)));
  }
  return out;
}

/** The consumed outputs as planned: a known value (a fingerprint for a sensitive one), or unknown. */
function plannedInputs(
  consumed: ReadonlyMap<string, readonly string[]>,
  views: ReadonlyMap<string, OutputsView>,
  fingerprintOf: (value: unknown, sensitive: boolean) => string | undefined,
): PlannedInput[] {
  const out: PlannedInput[] = [];
  for (const [producer, outputs] of consumed) {
    const view = views.get(producer);
    for (const output of outputs) {
      if (view === undefined || view.unknown.has(output)) {
        out.push({ producer, output, state: 'unknown' });
        continue;
      }
      const sensitive = view.sensitive.has(output);
      if (!sensitive) {
        if (output in view.values) out.push({ producer, output, state: 'known', value: view.values[output] });
        continue;
      }
      // A sensitive value not read back (the consumer is left alone) or without a key is not compared.
      const fingerprint = output in view.values ? fingerprintOf(view.values[output], true) : undefined;
      if (fingerprint !== undefined) out.push({ producer, output, state: 'known', sensitive: true, fingerprint });
    }
  }
  return out;
}

/**
 * Why a component at the same version and configuration must be applied again: an output it consumes
 * will differ from the one it was last applied with, or is known only once its producer applies.
 * Undefined when nothing it consumes changes.
 */
function inputChangeReason(
  consumed: ReadonlyMap<string, readonly string[]>,
  views: ReadonlyMap<string, OutputsView>,
  currentBy: ReadonlyMap<string, ComponentState>,
  component: string,
  fingerprintOf: (value: unknown, sensitive: boolean) => string | undefined,
): string | undefined {
  const unknown: string[] = [];
  const changed: string[] = [];
  const appliedWith = currentBy.get(component)?.inputs;
  for (const [producer, outputs] of consumed) {
    const view = views.get(producer);
    if (view === undefined) continue;
    for (const output of outputs) {
      const ref = `${producer}.outputs.${output}`;
      if (view.unknown.has(output)) {
        unknown.push(ref);
        continue;
      }
      if (!(output in view.values)) continue;
      const sensitive = view.sensitive.has(output);
      const now = fingerprintOf(view.values[output], sensitive);
      // Records made before inputs were kept: compare with what the producer output when it last applied.
      const before =
        appliedWith !== undefined
          ? appliedWith[ref]
          : sensitive
            ? undefined
            : fingerprintOf((currentBy.get(producer)?.outputs ?? {})[output], false);
      // Nothing to compare with (a sensitive value without a fingerprint): it may have changed only
      // if its producer is applied now.
      if (before === undefined || now === undefined) {
        if (view.applying) changed.push(ref);
        continue;
      }
      if (now !== before) changed.push(ref);
    }
  }
  if (changed.length > 0) return `${changed.join(', ')} ${changed.length === 1 ? 'changes' : 'change'} (same version and configuration)`;
  if (unknown.length > 0) return `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} known only after ${[...new Set(unknown.map((u) => u.split('.')[0]))].join(', ')} ${unknown.length === 1 ? 'applies' : 'apply'}: applied again in case ${unknown.length === 1 ? 'it changes' : 'they change'}`;
  return undefined;
}

/** Where each unknown value goes in a consumer's config. */
function unknownsOf(config: ProjectConfig, consumer: string, views: ReadonlyMap<string, OutputsView>): PlanUnknown[] {
  const out: PlanUnknown[] = [];
  for (const ref of findReferences(config.components[consumer]?.with ?? {}).refs) {
    const [root, producer, kind, output] = ref.path;
    if (root !== 'components' || kind !== 'outputs' || producer === undefined) continue;
    const view = views.get(producer);
    if (view === undefined) continue;
    const isUnknown = output === undefined ? view.unknown.size > 0 : view.unknown.has(output);
    if (!isUnknown) continue;
    const field = ['with', ...ref.at].join('.');
    const entry: PlanUnknown = { consumer, field, producer, output: output ?? '*' };
    if (!out.some((u) => u.field === entry.field && u.producer === producer && u.output === entry.output)) out.push(entry);
  }
  return out;
}

/**
 * What a producer applied in this promotion will output, as its adapter's plan predicts: each declared
 * output checked like an applied one (a planned value that breaks its declaration is a problem now,
 * not at run time); anything the adapter does not predict is unknown. An adapter that reports nothing
 * to change leaves the recorded outputs.
 */
function plannedView(
  name: string,
  declared: Record<string, OutputDeclaration>,
  plan: AdapterPlan,
  current: ComponentState | undefined,
  redactor: Redactor,
  problems: string[],
): OutputsView {
  const sensitive = new Set(sensitiveNames(declared, [...(current?.sensitiveOutputs ?? []), ...(plan.outputs?.sensitive ?? [])]));
  const predicted = plan.outputs;
  if (predicted === undefined) {
    if (plan.action === 'unchanged' && current !== undefined) {
      const values = Object.fromEntries(Object.entries(current.outputs).filter(([k]) => !sensitive.has(k) && k in declared));
      const unknown = new Set(Object.keys(declared).filter((k) => !(k in values)));
      return { values, unknown, sensitive, applying: true };
    }
    return { values: {}, unknown: new Set(Object.keys(declared)), sensitive, applying: true };
  }
  const known: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(predicted.known)) {
    if (!(k in declared) || predicted.unknown.includes(k)) continue;
    // Secrets from here on, before a failed check below could quote them.
    if (sensitive.has(k)) redactor.add(v);
    known[k] = v;
  }
  const onlyKnown = Object.fromEntries(Object.entries(declared).filter(([k]) => k in known));
  const checked = checkOutputs(onlyKnown, known, [...sensitive]);
  for (const problem of checked.problems) problems.push(`components.${name}: planned ${problem}`);
  const unknown = new Set(Object.keys(declared).filter((k) => !(k in checked.outputs)));
  return { values: checked.outputs, unknown, sensitive, applying: true };
}

/**
 * Capabilities of a consumer whose spec cannot be rendered with the unknown stand-ins: rendered
 * instead with a stand-in of each output's declared type. Not reversible when even that fails.
 */
function standInCapabilities(
  adapter: Adapter<unknown>,
  name: string,
  withBlock: Record<string, unknown>,
  scope: EvalScope,
  config: ProjectConfig,
  release: ReleaseRecord,
  views: ReadonlyMap<string, OutputsView>,
): AdapterCapabilities {
  const typed = componentsScope(config, release, (c) => {
    const view = views.get(c);
    if (view === undefined) return undefined;
    const out: Record<string, unknown> = { ...view.values };
    for (const o of view.unknown) out[o] = standIn(config.components[c]?.outputs[o]?.type ?? 'any', c);
    return out;
  });
  try {
    return adapter.capabilities(renderSpec(adapter, name, withBlock, { ...scope, values: { ...scope.values, components: typed } }));
  } catch {
    return { reversible: false, idempotentApply: false, observe: false };
  }
}

const TYPED_STAND_IN: Partial<Record<ValueType, unknown>> = { number: 0, integer: 0, boolean: false, object: {}, array: [] };

function standIn(type: ValueType, producer: string): unknown {
  return TYPED_STAND_IN[type] ?? knownAfter(producer);
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
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
  reapply: boolean,
): StepContext {
  return {
    reapply,
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
