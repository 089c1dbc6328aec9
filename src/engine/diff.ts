import { compareLeaves, flatten, plainLeaves, type Leaf, type Leaves, type ValueDiff } from '../core/diff.js';
import { InputError } from '../core/errors.js';
import { renderTemplates, type EvalScope } from '../core/expression/index.js';
import type { ComponentState, ProjectConfig, ReleaseRecord } from '../core/model.js';
import { sensitiveNames } from '../core/outputs.js';
import { printable } from '../core/printable.js';
import { Redactor } from '../core/redact.js';
import type { Store } from '../store/store.js';
import type { EngineDeps } from './deps.js';
import { componentScope, componentsScope } from './render.js';
import type { SecretSource } from './secrets.js';

/** One side of a component in an environment diff: what runs there, as far as Lockstep knows. */
export interface ComponentSide {
  /** Absent: never promoted there. */
  version?: string;
  releaseId?: string;
  promotionId?: string;
  updatedAt?: string;
  /** Why its inputs could not be resolved on this side (a reference that is not available): never a secret. */
  problem?: string;
}

export interface ComponentDiff {
  component: string;
  left: ComponentSide;
  right: ComponentSide;
  /** Same version, and no input or output differs (secrets included; an unknown one is not "same"). */
  same: boolean;
  versionChanged: boolean;
  /** `with:` as resolved in each environment: the fields that differ, and every secret one. */
  inputs: ValueDiff[];
  /** The recorded outputs that differ, and every sensitive one. */
  outputs: ValueDiff[];
}

export interface EnvironmentDiff {
  kind: 'environments';
  left: { environment: string; release?: string };
  right: { environment: string; release?: string };
  /** What the two environments' configs say differently of their gates (and `after`, `onFailure`). */
  gates: ValueDiff[];
  components: ComponentDiff[];
  /** Components that are the same in both (also in `components`, with `same: true`). */
  same: string[];
}

export interface ReleaseDiff {
  kind: 'releases';
  left: Pick<ReleaseRecord, 'id' | 'createdAt' | 'createdBy' | 'message'>;
  right: Pick<ReleaseRecord, 'id' | 'createdAt' | 'createdBy' | 'message'>;
  components: { component: string; left?: string; right?: string; same: boolean }[];
  labels: ValueDiff[];
  same: string[];
}

export type DiffResult = EnvironmentDiff | ReleaseDiff;

export interface DiffRequest {
  left: string;
  right: string;
  /** Take both as releases even where an environment has that name. */
  releases?: boolean;
}

/**
 * `lockstep diff A B`: two environments when both name one of the config (and `releases` is not
 * set), else two releases (an id or a unique prefix). One environment and one release is refused:
 * InputError naming the argument. Read-only. Secrets and sensitive outputs are compared, never shown.
 */
export async function diff(deps: Pick<EngineDeps, 'store' | 'loaded' | 'secrets'>, request: DiffRequest): Promise<DiffResult> {
  const environments = deps.loaded.config.environments;
  const isEnv = (name: string): boolean => Object.hasOwn(environments, name);
  if (request.releases !== true && (isEnv(request.left) || isEnv(request.right))) {
    if (!isEnv(request.left) || !isEnv(request.right)) {
      const [env, other, field] = isEnv(request.left) ? [request.left, request.right, 'right'] : [request.right, request.left, 'left'];
      throw new InputError(
        `${printable(env)} is an environment but ${printable(other)} is not one: compare two environments (${Object.keys(environments).join(', ')}), or two releases with --releases`,
        field,
      );
    }
    return diffEnvironments(deps, request.left, request.right);
  }
  return diffReleases(deps.store, request.left, request.right);
}

async function diffReleases(store: Pick<Store, 'getRelease'>, leftRef: string, rightRef: string): Promise<ReleaseDiff> {
  const left = await store.getRelease(leftRef);
  const right = await store.getRelease(rightRef);
  const names = [...new Set([...Object.keys(left.versions), ...Object.keys(right.versions)])].sort();
  const components = names.map((component) => {
    const l = Object.hasOwn(left.versions, component) ? left.versions[component] : undefined;
    const r = Object.hasOwn(right.versions, component) ? right.versions[component] : undefined;
    return { component, ...(l !== undefined ? { left: l } : {}), ...(r !== undefined ? { right: r } : {}), same: l === r };
  });
  const side = (r: ReleaseRecord) => ({ id: r.id, createdAt: r.createdAt, createdBy: r.createdBy, ...(r.message !== undefined ? { message: r.message } : {}) });
  return {
    kind: 'releases',
    left: side(left),
    right: side(right),
    components,
    labels: compareLeaves(plainLeaves(left.labels), plainLeaves(right.labels)),
    same: components.filter((c) => c.same).map((c) => c.component),
  };
}

async function diffEnvironments(deps: Pick<EngineDeps, 'store' | 'loaded' | 'secrets'>, left: string, right: string): Promise<EnvironmentDiff> {
  const config = deps.loaded.config;
  const sides = await Promise.all([left, right].map((env) => environmentSide(deps, env)));
  const [l, r] = sides as [Side, Side];
  const gateView = (env: string) => {
    const e = config.environments[env];
    // No `gates:` reads as the parser's defaults of one, so that only what is set differs.
    return { after: e?.after ?? [], onFailure: e?.onFailure, gates: e?.gates ?? { windows: [], policy: [], verify: [], auto: false, overrideBy: [] } };
  };
  const components = Object.keys(config.components).map((component): ComponentDiff => {
    const ls = l.states.get(component);
    const rs = r.states.get(component);
    const li = l.inputs.get(component);
    const ri = r.inputs.get(component);
    // Inputs are compared where the component runs on both sides: where it never ran there is nothing resolved to compare.
    const inputs = li?.leaves !== undefined && ri?.leaves !== undefined ? compareLeaves(li.leaves, ri.leaves) : [];
    const outputs = ls !== undefined && rs !== undefined ? compareLeaves(outputLeaves(config, ls, l.states), outputLeaves(config, rs, r.states)) : [];
    const versionChanged = ls?.version !== rs?.version;
    const same = !versionChanged && ls !== undefined && rs !== undefined && li?.problem === undefined && ri?.problem === undefined && [...inputs, ...outputs].every((d) => d.changed === false);
    return { component, left: componentSide(ls, li?.problem), right: componentSide(rs, ri?.problem), same, versionChanged, inputs, outputs };
  });
  return {
    kind: 'environments',
    left: { environment: left, ...(l.release !== undefined ? { release: l.release } : {}) },
    right: { environment: right, ...(r.release !== undefined ? { release: r.release } : {}) },
    gates: compareLeaves(plainLeaves(gateView(left)), plainLeaves(gateView(right))),
    components,
    same: components.filter((c) => c.same).map((c) => c.component),
  };
}

function componentSide(state: ComponentState | undefined, problem: string | undefined): ComponentSide {
  if (state === undefined) return {};
  return { version: state.version, releaseId: state.releaseId, promotionId: state.promotionId, updatedAt: state.updatedAt, ...(problem !== undefined ? { problem } : {}) };
}

interface Side {
  release?: string;
  states: Map<string, ComponentState>;
  inputs: Map<string, { leaves?: Leaves; problem?: string }>;
}

/** Markers no config or secret holds: they stand for a secret, a sensitive output, or a value unknown here. */
const SECRET_MARK = '\u0000lockstep-secret\u0000';
const UNKNOWN_MARK = '\u0000lockstep-unknown\u0000';

async function environmentSide(deps: Pick<EngineDeps, 'store' | 'loaded' | 'secrets'>, environment: string): Promise<Side> {
  const config = deps.loaded.config;
  const states = new Map((await deps.store.environmentState(environment)).map((s) => [s.component, s]));
  const [lastOk] = await deps.store.listPromotions({ environment, states: ['succeeded'], limit: 1 });
  const releases = new Map<string, ReleaseRecord>();
  const inputs = new Map<string, { leaves?: Leaves; problem?: string }>();
  for (const [component, state] of states) {
    if (!Object.hasOwn(config.components, component)) continue;
    let release = releases.get(state.releaseId);
    if (release === undefined) {
      release = await deps.store.getRelease(state.releaseId);
      releases.set(release.id, release);
    }
    inputs.set(component, resolvedInputs(config, environment, component, release, states, deps.secrets));
  }
  return { ...(lastOk !== undefined ? { release: lastOk.releaseId } : {}), states, inputs };
}

/**
 * A component's `with:` rendered as it is in the environment: its env vars, its version there, the
 * outputs its producers recorded there. Rendered twice: once with every secret and sensitive output
 * replaced by a marker (what may be shown), once with the real values (what is compared, and then
 * dropped). A leaf the two renders disagree on depends on a secret, and is shown as changed or not.
 */
function resolvedInputs(
  config: ProjectConfig,
  environment: string,
  component: string,
  release: ReleaseRecord,
  states: ReadonlyMap<string, ComponentState>,
  secrets: SecretSource,
): { leaves?: Leaves; problem?: string } {
  const consumer = states.get(component);
  const shown = (): { secret: (name: string) => string; output: (producer: string, output: string) => unknown } => ({
    secret: () => SECRET_MARK,
    output: () => SECRET_MARK,
  });
  const compared = (): { secret: (name: string) => string; output: (producer: string, output: string) => unknown } => ({
    secret: (name) => secrets.get(name) ?? UNKNOWN_MARK,
    // A sensitive value is never stored: what the consumer recorded of it is its fingerprint.
    output: (producer, output) => consumer?.inputs?.[`${producer}.outputs.${output}`] ?? UNKNOWN_MARK,
  });
  let visible: Map<string, unknown>;
  let real: Map<string, unknown>;
  // Every secret rendered is added to it; a message passes through it, though rendering's messages
  // name references and types, never values (expression-error.ts).
  const redactor = new Redactor();
  try {
    visible = flatten(render(config, environment, component, release, states, shown(), redactor), 'with');
    real = flatten(render(config, environment, component, release, states, compared(), redactor), 'with');
  } catch (error) {
    return { problem: redactor.redact((error as Error).message) };
  }
  const leaves: Leaves = new Map();
  for (const [path, value] of visible) {
    const actual = real.get(path);
    const shownText = JSON.stringify(value) ?? '';
    const actualText = JSON.stringify(actual) ?? '';
    // Holding a marker, or rendering otherwise with the real values: it depends on a secret.
    const secret = shownText.includes(JSON.stringify(SECRET_MARK).slice(1, -1)) || shownText !== actualText;
    const leaf: Leaf = secret
      ? { secret: true, key: actualText.includes(JSON.stringify(UNKNOWN_MARK).slice(1, -1)) ? undefined : actualText }
      : { secret: false, value };
    leaves.set(path, leaf);
  }
  return { leaves };
}

function render(
  config: ProjectConfig,
  environment: string,
  component: string,
  release: ReleaseRecord,
  states: ReadonlyMap<string, ComponentState>,
  values: { secret: (name: string) => string; output: (producer: string, output: string) => unknown },
  redactor: Redactor,
): unknown {
  const env = config.environments[environment];
  const varScope: EvalScope = { values: { env: { name: environment } }, secret: values.secret, redactor };
  const vars = renderTemplates(env?.vars ?? {}, varScope, { path: ['environments', environment, 'vars'] }) as Record<string, unknown>;
  const components = componentsScope(config, release, (producer) => {
    const state = states.get(producer);
    if (state === undefined) return undefined;
    const sensitive = new Set(sensitiveNames(config.components[producer]?.outputs ?? {}, state.sensitiveOutputs ?? []));
    return Object.fromEntries(Object.entries(state.outputs).map(([k, v]) => [k, sensitive.has(k) ? values.output(producer, k) : v]));
  });
  const scope = componentScope({
    environment,
    vars,
    release,
    component,
    previousVersion: undefined,
    components,
    secrets: { get: values.secret },
    redactor,
  });
  return renderTemplates(config.components[component]?.with ?? {}, scope, { path: ['components', component, 'with'] });
}

/**
 * The recorded outputs as leaves. A sensitive one is compared by the fingerprint a consumer in the
 * same environment recorded of it (HMAC with the state's key: equal values, equal fingerprints);
 * without a consumer nothing of it is kept, and whether it changed cannot be told.
 */
function outputLeaves(config: ProjectConfig, state: ComponentState, states: ReadonlyMap<string, ComponentState>): Leaves {
  const sensitive = new Set(sensitiveNames(config.components[state.component]?.outputs ?? {}, state.sensitiveOutputs ?? []));
  const leaves: Leaves = new Map();
  for (const [name, value] of Object.entries(state.outputs)) {
    if (!sensitive.has(name)) {
      for (const [path, v] of flatten(value, name)) leaves.set(path, { secret: false, value: v });
      continue;
    }
    const ref = `${state.component}.outputs.${name}`;
    let key: string | undefined;
    for (const other of states.values()) {
      const fingerprint = other.inputs?.[ref];
      // A fingerprint recorded before the producer's latest apply may be of an older value.
      if (fingerprint !== undefined && other.updatedAt >= state.updatedAt) key = fingerprint;
    }
    leaves.set(name, { secret: true, key });
  }
  return leaves;
}
