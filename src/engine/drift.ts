import { sensitiveOutputNames, type StepContext } from '../core/adapter.js';
import type { AuditEventInput } from '../core/audit.js';
import { componentConfigDigest, referencedOutputs } from '../core/plan.js';
import { compareObserved, driftChange, hasDrift } from '../core/drift.js';
import type { ComponentDrift, DriftReport, DriftState } from '../core/drift.js';
import { errorMessage, InputError } from '../core/errors.js';
import type { ComponentState, ReleaseRecord } from '../core/model.js';
import { sensitiveNames } from '../core/outputs.js';
import { printable } from '../core/printable.js';
import { REDACTED, Redactor } from '../core/redact.js';
import { didYouMean } from '../core/suggest.js';
import type { EngineDeps } from './deps.js';
import { actorProof } from './gates.js';
import { componentScope, componentsScope, renderEnvironmentVarsEach, renderSpec } from './render.js';

export interface DriftQuery {
  /** One environment; absent: every environment of the config. */
  environment?: string;
  /** One component; absent: every component. */
  component?: string;
  /** What asked: a person (`command`) or the server's schedule. Recorded with each finding. */
  trigger?: 'command' | 'schedule';
  signal?: AbortSignal;
}

/**
 * Asks every component whose adapter can observe what runs now, compares it with what Lockstep
 * recorded in the environment, and records the outcome: each component's last check (shown by
 * `status`), and in the audit log `drift.detected` when a component drifts (or drifts differently)
 * and `drift.cleared` when a drift is gone. Read-only for the systems observed. An environment with a
 * promotion running is skipped (what runs there is changing on purpose). InputError for an unknown
 * environment or component.
 */
export async function checkDrift(deps: EngineDeps, query: DriftQuery = {}): Promise<DriftReport[]> {
  const { config } = deps.loaded;
  const environments = Object.keys(config.environments);
  if (query.environment !== undefined && !environments.includes(query.environment)) {
    throw new InputError(`unknown environment ${printable(query.environment)} (known: ${environments.join(', ')})${didYouMean(query.environment, environments)}`, '--env');
  }
  const components = Object.keys(config.components);
  if (query.component !== undefined && !components.includes(query.component)) {
    throw new InputError(`unknown component ${printable(query.component)} (known: ${components.join(', ')})${didYouMean(query.component, components)}`, '--component');
  }
  const reports: DriftReport[] = [];
  for (const environment of query.environment !== undefined ? [query.environment] : environments) {
    reports.push(await checkEnvironment(deps, environment, query));
  }
  return reports;
}

/** The last drift check of each component in `environment`, as recorded. InputError for an unknown environment. */
export async function recordedDrift(deps: EngineDeps, environment: string): Promise<DriftState[]> {
  const environments = Object.keys(deps.loaded.config.environments);
  if (!environments.includes(environment)) {
    throw new InputError(`unknown environment ${printable(environment)} (known: ${environments.join(', ')})${didYouMean(environment, environments)}`, '--env');
  }
  return deps.store.driftStates(environment);
}

async function checkEnvironment(deps: EngineDeps, environment: string, query: DriftQuery): Promise<DriftReport> {
  const { config } = deps.loaded;
  const checkedAt = deps.clock.now().toISOString();
  const active = await deps.store.activePromotion(environment);
  if (active !== undefined) {
    return { environment, checkedAt, components: [], drifted: false, skipped: `promotion ${active.id.slice(0, 12)} is running there` };
  }
  const states = new Map((await deps.store.environmentState(environment)).map((s) => [s.component, s]));
  const before = new Map((await deps.store.driftStates(environment)).map((s) => [s.component, s]));
  const redactor = new Redactor();
  const { vars } = renderEnvironmentVarsEach(config, environment, deps.secrets, redactor);
  const releases = new Map<string, ReleaseRecord>();
  const releaseOf = async (id: string): Promise<ReleaseRecord> => {
    const known = releases.get(id);
    if (known) return known;
    const release = await deps.store.getRelease(id);
    releases.set(id, release);
    return release;
  };
  const signal = query.signal ?? new AbortController().signal;
  const results: ComponentDrift[] = [];
  for (const name of Object.keys(config.components)) {
    if (query.component !== undefined && name !== query.component) continue;
    const result = await checkComponent(deps, { environment, name, state: states.get(name), states, vars, redactor, releaseOf, signal });
    // Whatever an adapter or a failure said passes the redactor before it is shown or stored.
    results.push(redactor.redactValue(result));
  }
  const trigger = query.trigger ?? 'command';
  const audit: AuditEventInput[] = [];
  for (const r of results) {
    const change = driftChange(before.get(r.component), r);
    if (change === undefined) continue;
    audit.push({
      kind: change === 'detected' ? 'drift.detected' : 'drift.cleared',
      time: checkedAt,
      actor: deps.actor,
      project: config.project,
      environment,
      component: r.component,
      releaseId: states.get(r.component)?.releaseId,
      data: {
        trigger,
        recordedVersion: r.recordedVersion,
        ...(r.observedVersion !== undefined ? { observedVersion: r.observedVersion } : {}),
        findings: r.findings.map(({ field, expected, found }) => ({ field, expected, found })),
        ...actorProof(deps),
      },
    });
  }
  // A check cut short (the caller went away) records nothing: its components failed for that reason only.
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('the drift check was cancelled');
  const stored: DriftState[] = results.map((r) => ({ ...r, environment, checkedAt }));
  await deps.store.commit({ driftStates: stored, audit });
  return { environment, checkedAt, components: results, drifted: hasDrift(results) };
}

interface ComponentCheck {
  environment: string;
  name: string;
  state: ComponentState | undefined;
  states: ReadonlyMap<string, ComponentState>;
  vars: Record<string, unknown>;
  redactor: Redactor;
  releaseOf: (id: string) => Promise<ReleaseRecord>;
  signal: AbortSignal;
}

async function checkComponent(deps: EngineDeps, check: ComponentCheck): Promise<ComponentDrift> {
  const { config } = deps.loaded;
  const { environment, name, state, redactor } = check;
  const component = config.components[name];
  const type = component?.type ?? '';
  const adapter = deps.adapters.get(type);
  if (component === undefined || adapter === undefined) return { component: name, type, state: 'error', findings: [], note: `no adapter for type ${type}` };
  if (state === undefined) return { component: name, type, state: 'not-deployed', findings: [], note: `nothing recorded in ${environment} yet` };
  const base = { component: name, type, recordedVersion: state.version, findings: [] };
  // Sensitive values are never stored, so a spec built from them cannot be rendered as it was applied.
  const sensitiveInputs = [...referencedOutputs(config, name)].flatMap(([producer, outputs]) => {
    const sensitive = sensitiveNames(config.components[producer]?.outputs ?? {}, check.states.get(producer)?.sensitiveOutputs ?? []);
    return sensitive.filter((o) => outputs.has('*') || outputs.has(o)).map((o) => `${producer}.outputs.${o}`);
  });
  if (sensitiveInputs.length > 0) {
    return { ...base, state: 'cannot-observe', note: `its configuration reads sensitive outputs (${sensitiveInputs.join(', ')}), which drift checks do not read back` };
  }
  let spec: unknown;
  try {
    const release = await check.releaseOf(state.releaseId);
    const components = componentsScope(config, release, (c) => {
      const recorded = check.states.get(c);
      if (recorded === undefined) return undefined;
      const out: Record<string, unknown> = { ...recorded.outputs };
      for (const o of recorded.sensitiveOutputs ?? []) out[o] = REDACTED;
      return out;
    });
    // The release as it runs here: this component at its recorded version, whatever the release says.
    const running: ReleaseRecord = { ...release, versions: { ...release.versions, [name]: state.version } };
    const scope = componentScope({ environment, vars: check.vars, release: running, component: name, previousVersion: undefined, components, secrets: deps.secrets, redactor });
    spec = renderSpec(adapter, name, component.with, scope);
    if (!adapter.observe || !adapter.capabilities(spec).observe) {
      return { ...base, state: 'cannot-observe', note: `the ${type} adapter cannot observe what runs` };
    }
    const ctx = observeContext(deps, { environment, vars: check.vars, release: running, component: name, version: state.version, signal: check.signal, redactor });
    const observed = await adapter.observe(spec, ctx);
    const result = compareObserved({
      component: name,
      type,
      recordedVersion: state.version,
      observed,
      recordedOutputs: state.outputs,
      sensitiveOutputs: sensitiveNames(component.outputs, [...(state.sensitiveOutputs ?? []), ...sensitiveOutputNames(observed.outputs ?? {})]),
      isSensitive: (v) => redactor.covers(v),
    });
    if (result.state === 'drifted' && state.configDigest !== componentConfigDigest(config, environment, name)) {
      result.note = 'its configuration changed since it was applied here: some of this may be that change, which the next promotion applies';
    }
    return result;
  } catch (error) {
    return { ...base, state: 'error', note: `observe failed: ${errorMessage(error)}` };
  }
}

function observeContext(
  deps: EngineDeps,
  input: { environment: string; vars: Record<string, unknown>; release: ReleaseRecord; component: string; version: string; signal: AbortSignal; redactor: Redactor },
): StepContext {
  return {
    signal: input.signal,
    log: () => undefined,
    heartbeat: () => undefined,
    idempotencyKey: `drift:${input.environment}:${input.component}`,
    project: deps.loaded.config.project,
    projectDir: deps.projectDir,
    cacheDir: deps.cacheDir,
    stateDir: deps.stateDir,
    isSensitive: (value) => input.redactor.covers(value),
    environment: { name: input.environment, vars: input.vars },
    release: { id: input.release.id, versions: input.release.versions },
    promotionId: '',
    component: input.component,
    version: input.version,
    previousVersion: undefined,
  };
}
