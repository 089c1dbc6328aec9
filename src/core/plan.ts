import type { AdapterCapabilities, AdapterPlan } from './adapter.js';
import { canonicalJson, sha256Hex } from './canonical-json.js';
import { findReferences } from './expression/index.js';
import type {
  ComponentState,
  PlannedGate,
  PlannedInput,
  PlannedStep,
  PlanUnknown,
  ProjectConfig,
  PromotionPlan,
  ReleaseRecord,
  Risk,
} from './model.js';
import { own } from './own.js';

/**
 * What an output of a producer applied in the same promotion stands as in its dependents' plans
 * while its value is known only once the producer has applied: `(known after infra applies)`, in
 * the place where the value goes. An adapter whose spec checks a format recognises it with
 * `holdsUnknown` and plans the rest.
 */
export function knownAfter(producer: string): string {
  return `(known after ${producer} applies)`;
}

const UNKNOWN_MARK = /\(known after [^\s()]+ applies\)/u;

/** Whether a rendered value holds (or is) the stand-in of a value known only after its producer applies. */
export function holdsUnknown(value: string): boolean {
  return UNKNOWN_MARK.test(value);
}

/**
 * Digest of what a component is configured to do in one environment: its type, its `with`, its
 * declared outputs, and the (unrendered) environment vars it references. A component is re-applied
 * when its version *or* this digest changes. Secrets stay as their `${{ secrets.X }}` text, so no
 * secret reaches it.
 */
export function componentConfigDigest(config: ProjectConfig, environment: string, component: string): string {
  const c = config.components[component];
  const env = config.environments[environment];
  if (!c || !env) throw new Error(`unknown component ${component} or environment ${environment}`);
  const used = new Set(
    findReferences(c.with)
      .refs.filter((r) => r.path[0] === 'env' && r.path[1] === 'vars' && r.path[2] !== undefined)
      .map((r) => r.path[2] as string),
  );
  // A reference to env.vars as a whole uses all of them.
  const wholeVars = findReferences(c.with).refs.some((r) => r.path[0] === 'env' && (r.path.length === 1 || (r.path[1] === 'vars' && r.path.length === 2)));
  const vars = wholeVars ? env.vars : Object.fromEntries(Object.entries(env.vars).filter(([k]) => used.has(k)));
  return sha256Hex(canonicalJson({ type: c.type, with: c.with, outputs: c.outputs, vars }));
}

/**
 * The outputs of other components that a component's `with` references: producer → output names.
 * Pure.
 */
export function referencedOutputs(config: ProjectConfig, component: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const ref of findReferences(config.components[component]?.with ?? {}).refs) {
    const [root, producer, kind, output] = ref.path;
    if (root !== 'components' || kind !== 'outputs' || producer === undefined) continue;
    const names = out.get(producer) ?? new Set<string>();
    // A reference to all outputs (components.x.outputs) is written as '*'.
    names.add(output ?? '*');
    out.set(producer, names);
  }
  return out;
}

/** Why a component is applied or left alone. Pure. */
export function decideAction(
  current: ComponentState | undefined,
  toVersion: string,
  configDigest: string,
): { action: 'apply' | 'unchanged'; reason: string } {
  if (!current) return { action: 'apply', reason: `first install of ${toVersion}` };
  if (current.version !== toVersion) return { action: 'apply', reason: `${current.version} → ${toVersion}` };
  if (current.configDigest !== configDigest) return { action: 'apply', reason: `configuration changed (version ${toVersion})` };
  return { action: 'unchanged', reason: `already at ${toVersion}` };
}

export interface PlanInput {
  config: ProjectConfig;
  environment: string;
  release: ReleaseRecord;
  current: readonly ComponentState[];
  dependencies: ReadonlyMap<string, readonly string[]>;
  levels: readonly (readonly string[])[];
  /** Per component: what the adapter says (only for components that will be applied). */
  adapterPlans: ReadonlyMap<string, AdapterPlan>;
  capabilities: ReadonlyMap<string, AdapterCapabilities>;
  gates: readonly PlannedGate[];
  /** componentConfigDigest per component, when the caller computed them already (they are not cheap). */
  configDigests?: ReadonlyMap<string, string>;
  /** Per consumer: the outputs of other components it consumes, as planned. */
  inputs?: ReadonlyMap<string, readonly PlannedInput[]>;
  /**
   * Per component at the same version and configuration: why it is applied all the same (an output it
   * consumes changes, or is known only once its producer applies).
   */
  inputReasons?: ReadonlyMap<string, string>;
  unknowns?: readonly PlanUnknown[];
}

/** Assembles a promotion plan from the parts gathered by the engine. Pure. */
export function buildPlan(input: PlanInput): PromotionPlan {
  const currentBy = new Map(input.current.map((s) => [s.component, s]));
  const levelOf = new Map<string, number>();
  input.levels.forEach((names, level) => names.forEach((n) => levelOf.set(n, level)));

  const steps: PlannedStep[] = [];
  for (const names of input.levels) {
    for (const component of names) {
      const c = input.config.components[component];
      const toVersion = own(input.release.versions, component);
      if (!c || toVersion === undefined) continue;
      const configDigest = input.configDigests?.get(component) ?? componentConfigDigest(input.config, input.environment, component);
      const current = currentBy.get(component);
      let { action, reason } = decideAction(current, toVersion, configDigest);
      const inputReason = input.inputReasons?.get(component);
      if (action === 'unchanged' && inputReason !== undefined) {
        action = 'apply';
        reason = inputReason;
      }
      const adapterPlan = input.adapterPlans.get(component);
      if (action === 'apply' && adapterPlan?.action === 'unchanged') {
        action = 'unchanged';
        reason = `the ${c.type} adapter reports nothing to change`;
      }
      const caps = input.capabilities.get(component);
      const reversibleInGeneral = (caps?.reversible ?? false) && !(adapterPlan?.irreversible ?? false);
      // Only an apply can be rolled back, so only its refusal is worth showing.
      const notReversible = reversibleInGeneral && action === 'apply' ? adapterPlan?.notReversible : undefined;
      const reversible = reversibleInGeneral && notReversible === undefined;
      const inputs = input.inputs?.get(component);
      steps.push({
        component,
        type: c.type,
        fromVersion: current?.version,
        toVersion,
        action,
        reason,
        reversible,
        summary: action === 'unchanged' ? 'nothing to do' : (adapterPlan?.summary ?? ''),
        details: action === 'unchanged' ? undefined : adapterPlan?.details,
        risk: action === 'unchanged' ? 'low' : (adapterPlan?.risk ?? defaultRisk(reversible)),
        dependsOn: [...(input.dependencies.get(component) ?? [])],
        level: levelOf.get(component) ?? 0,
        configDigest,
        ...(inputs !== undefined && inputs.length > 0 ? { inputs: [...inputs] } : {}),
        ...(notReversible !== undefined ? { notReversible } : {}),
        data: action === 'unchanged' ? undefined : adapterPlan?.data,
      });
    }
  }
  const irreversible = steps.some((s) => s.action === 'apply' && !s.reversible);
  const withoutDigest = {
    releaseId: input.release.id,
    environment: input.environment,
    steps,
    levels: input.levels.map((l) => [...l]),
    gates: [...input.gates],
    irreversible,
    // Left out when there are none, so plans without unknowns keep the digests they had.
    ...(input.unknowns !== undefined && input.unknowns.length > 0 ? { unknowns: [...input.unknowns] } : {}),
  };
  return { ...withoutDigest, digest: planDigest(withoutDigest) };
}

function defaultRisk(reversible: boolean): Risk {
  return reversible ? 'low' : 'medium';
}

/**
 * The digest approvals bind to: everything the plan says it will do, without the gates' own status
 * and without each adapter's `data` (where it keeps the saved plan it applies, named afresh by every
 * planning run). A changed plan — a Terraform plan that now destroys something — changes the digest.
 */
export function planDigest(plan: Omit<PromotionPlan, 'digest'>): string {
  const { gates: _gates, steps, ...rest } = plan;
  return sha256Hex(canonicalJson({ ...rest, steps: steps.map(({ data: _data, ...step }) => step) }));
}

/** Environments in `after` that have not run this release successfully. Pure. */
export function missingPromotionPath(
  config: ProjectConfig,
  environment: string,
  succeededIn: ReadonlySet<string>,
): string[] {
  const env = config.environments[environment];
  return (env?.after ?? []).filter((e) => !succeededIn.has(e));
}

/** What differs between two plans of the same promotion, one line per component: why approvals of the old one no longer count. Pure. */
export function planChanges(before: PromotionPlan, after: PromotionPlan): string[] {
  const old = new Map(before.steps.map((s) => [s.component, s]));
  const now = new Map(after.steps.map((s) => [s.component, s]));
  const out: string[] = [];
  for (const name of new Set([...old.keys(), ...now.keys()])) {
    const a = old.get(name);
    const b = now.get(name);
    if (!a || !b) {
      out.push(`${name}: ${a ? 'no longer in the plan' : 'new in the plan'}`);
      continue;
    }
    const fields = ['action', 'fromVersion', 'toVersion', 'reversible', 'risk', 'summary', 'details'] as const;
    const differ = fields.filter((f) => a[f] !== b[f]);
    const inputs = inputChanges(a.inputs ?? [], b.inputs ?? []);
    if (differ.length === 0 && a.configDigest === b.configDigest && inputs.length === 0) continue;
    const shown = differ.filter((f) => f !== 'details').map((f) => `${f} ${String(a[f] ?? '(none)')} → ${String(b[f] ?? '(none)')}`);
    if (differ.includes('details')) shown.push('details changed');
    if (a.configDigest !== b.configDigest) shown.push('configuration changed');
    shown.push(...inputs);
    out.push(`${name}: ${shown.join('; ')}`);
  }
  if (out.length === 0 && before.irreversible !== after.irreversible) out.push(`irreversible ${String(before.irreversible)} → ${String(after.irreversible)}`);
  return out;
}

/** How a consumed value differs between two plans: `input iam.outputs.role_arn "a" → "b"`; a sensitive one is "changed" only. Pure. */
function inputChanges(before: readonly PlannedInput[], after: readonly PlannedInput[]): string[] {
  const out: string[] = [];
  const old = new Map(before.map((i) => [`${i.producer}.outputs.${i.output}`, i]));
  for (const now of after) {
    const name = `${now.producer}.outputs.${now.output}`;
    const was = old.get(name);
    if (was === undefined || canonicalJson(was) === canonicalJson(now)) continue;
    out.push(`input ${name} ${describeInput(was)} → ${describeInput(now)}`);
  }
  return out;
}

/** A planned input as a person reads it: its value as JSON, "(sensitive)", or the unknown stand-in. */
export function describeInput(input: PlannedInput): string {
  if (input.state === 'unknown') return knownAfter(input.producer);
  if (input.sensitive === true) return '(sensitive)';
  return JSON.stringify(input.value) ?? 'null';
}
