import type { PlannedOutputs } from '../../core/adapter.js';
import { errorMessage } from '../../core/errors.js';

/**
 * Reading `terraform show -json PLANFILE` (the machine-readable plan, "format_version" 0.x and 1.x)
 * and `terraform output -json`. Pure: text in, values or TerraformFormatError out.
 *
 * Unknown keys are ignored, as Terraform's own compatibility promise asks of consumers within a major
 * version. An unknown major, or an action we do not know, is refused: we cannot tell whether it
 * destroys something.
 */
export const SUPPORTED_FORMAT_MAJORS = [0, 1] as const;

export const TERRAFORM_ACTIONS = ['no-op', 'create', 'read', 'update', 'delete', 'forget'] as const;
export type TerraformAction = (typeof TERRAFORM_ACTIONS)[number];

/** What one resource change amounts to, as the plan summary names it. */
export type ChangeKind = 'create' | 'update' | 'replace' | 'delete' | 'read' | 'forget' | 'no-op';

export interface ResourceChange {
  address: string;
  actions: TerraformAction[];
  kind: ChangeKind;
  /** Why, when Terraform says (`replace_because_cannot_update`, `delete_because_no_resource_config`). */
  reason?: string;
}

export interface TerraformPlan {
  formatVersion: string;
  terraformVersion?: string;
  changes: ResourceChange[];
  /** Output names whose value changes. */
  outputChanges: string[];
  /**
   * What the outputs will be once the plan is applied. Values are kept here only (they may be
   * sensitive: the names in `sensitive` are redacted by the engine); nothing else of this module
   * prints them.
   */
  outputs: PlannedOutputs;
}

/** A document that is not what Terraform's documented JSON format says. Never quotes the document. */
export class TerraformFormatError extends Error {
  override readonly name = 'TerraformFormatError';
}

/** Parses JSON text without letting the text reach the message (plan documents hold variable values). */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const position = /at position \d+(?: \(line \d+ column \d+\))?/.exec(errorMessage(error))?.[0];
    throw new TerraformFormatError(`${what} is not valid JSON${position === undefined ? '' : ` (${position})`}`);
  }
}

/** Throws unless `format_version` is a "MAJOR.MINOR" string with a major we read. */
export function checkFormatVersion(doc: unknown, what: string): string {
  if (!isObject(doc)) throw new TerraformFormatError(`${what} must be a JSON object`);
  const version = doc.format_version;
  if (typeof version !== 'string' || !/^\d+\.\d+$/.test(version)) {
    throw new TerraformFormatError(`${what} has no format_version of the form "1.2"`);
  }
  const major = Number(version.split('.')[0]);
  if (!(SUPPORTED_FORMAT_MAJORS as readonly number[]).includes(major)) {
    throw new TerraformFormatError(
      `${what} has format_version ${version}; Lockstep reads majors ${SUPPORTED_FORMAT_MAJORS.join(' and ')} only ` +
        '(a newer Terraform may have changed what the fields mean; upgrade Lockstep or pin an older Terraform)',
    );
  }
  return version;
}

/**
 * True when the document is a plan (`show -json PLANFILE`) rather than state (`show -json` without a
 * plan: `values`) or provider schemas: only plans have these keys.
 */
export function isPlanDocument(doc: unknown): boolean {
  return isObject(doc) && ('resource_changes' in doc || 'planned_values' in doc || 'output_changes' in doc);
}

/** Parses a plan document (text or already-parsed JSON). */
export function parsePlan(input: unknown, what = 'the plan (terraform show -json)'): TerraformPlan {
  const doc = typeof input === 'string' ? parseJsonText(input, what) : input;
  const formatVersion = checkFormatVersion(doc, what);
  const plan = doc as Record<string, unknown>;
  if (!isPlanDocument(plan)) {
    throw new TerraformFormatError(
      `${what} is not a plan: it has none of resource_changes, planned_values, output_changes`,
    );
  }
  const raw = plan.resource_changes ?? [];
  if (!Array.isArray(raw)) throw new TerraformFormatError(`${what}: resource_changes must be an array`);
  const changes = raw.map((entry, i) => resourceChange(entry, `${what}: resource_changes[${i}]`));
  const outputChanges: string[] = [];
  if (plan.output_changes !== undefined) {
    if (!isObject(plan.output_changes)) throw new TerraformFormatError(`${what}: output_changes must be an object`);
    for (const [name, change] of Object.entries(plan.output_changes)) {
      // Each entry is a change object itself (no `change` wrapper as in resource_changes).
      const actions = actionsOf({ change }, `${what}: output_changes.${name}`);
      if (!actions.every((a) => a === 'no-op')) outputChanges.push(name);
    }
  }
  const terraformVersion = typeof plan.terraform_version === 'string' ? plan.terraform_version : undefined;
  return { formatVersion, terraformVersion, changes, outputChanges, outputs: plannedOutputs(plan, what) };
}

/**
 * The outputs as they will be after apply, from `output_changes` (`after`, `after_unknown`,
 * `after_sensitive`). Terraform lists every output there, changed or not (a plan without changes
 * gives the current values as `after`); the names `planned_values.outputs` and the configuration
 * declare are added as unknown when `output_changes` leaves one out, so no declared output is
 * silently missing. An output the plan deletes is left out: it will not exist.
 *
 * A value with any unknown part is unknown as a whole: a consumer sees either the value or
 * "(known after … applies)", never half an object. Sensitive: `after_sensitive` anywhere true, or
 * `sensitive: true` in `planned_values` or the configuration (Terraform 0.12's plans have no
 * `after_sensitive`; taking the union never under-reports a secret). Messages never quote a value.
 */
function plannedOutputs(plan: Record<string, unknown>, what: string): PlannedOutputs {
  // Maps and sets, not `name in object`: an output may be called `constructor` or `__proto__`.
  const known = new Map<string, unknown>();
  const unknown = new Set<string>();
  const sensitive = new Set<string>();
  const changes = isObject(plan.output_changes) ? Object.entries(plan.output_changes) : [];
  for (const [name, change] of changes) {
    const where = `${what}: output_changes.${name}`;
    if (!isObject(change)) throw new TerraformFormatError(`${where} must be an object`);
    const actions = change.actions as readonly TerraformAction[]; // checked by actionsOf in parsePlan
    if (actions.length === 1 && actions[0] === 'delete') continue;
    if (markedAnywhere(change.after_sensitive, `${where}.after_sensitive`)) sensitive.add(name);
    // Terraform leaves `after` out when the whole value is unknown; without it there is nothing to know.
    if (markedAnywhere(change.after_unknown, `${where}.after_unknown`) || !('after' in change)) unknown.add(name);
    else known.set(name, change.after);
  }
  const listed = new Set(changes.map(([name]) => name));
  const declared = [...declaredOutputs(plan, 'planned_values'), ...declaredOutputs(plan, 'configuration')];
  for (const [name, output] of declared) {
    if (isObject(output) && output.sensitive === true) sensitive.add(name);
    if (!listed.has(name)) unknown.add(name);
  }
  return { known: Object.fromEntries(known), unknown: [...unknown], sensitive: [...sensitive] };
}

/** `planned_values.outputs` or `configuration.root_module.outputs`, by name (empty when absent or malformed). */
function declaredOutputs(plan: Record<string, unknown>, from: 'planned_values' | 'configuration'): [string, unknown][] {
  const section = plan[from];
  const holder = from === 'configuration' ? (isObject(section) ? section.root_module : undefined) : section;
  const outputs = isObject(holder) ? holder.outputs : undefined;
  return isObject(outputs) ? Object.entries(outputs) : [];
}

/**
 * Whether a marker (`after_unknown`, `after_sensitive`) is true anywhere: `true`, or an object or
 * array holding `true` at some depth. Absent is false. Anything but booleans, objects and arrays is
 * refused: we cannot tell what it marks.
 */
function markedAnywhere(marker: unknown, where: string): boolean {
  if (marker === undefined || typeof marker === 'boolean') return marker === true;
  if (Array.isArray(marker)) return marker.some((m, i) => markedAnywhere(m, `${where}[${i}]`));
  if (isObject(marker)) return Object.entries(marker).some(([k, m]) => markedAnywhere(m, `${where}.${k}`));
  throw new TerraformFormatError(`${where} must be true, false, or objects and arrays of them`);
}

function resourceChange(entry: unknown, where: string): ResourceChange {
  if (!isObject(entry)) throw new TerraformFormatError(`${where} must be an object`);
  const address = entry.address;
  if (typeof address !== 'string' || address === '') throw new TerraformFormatError(`${where} has no address`);
  const actions = actionsOf(entry, `${where} (${address})`);
  const reason = typeof entry.action_reason === 'string' ? entry.action_reason : undefined;
  return reason === undefined
    ? { address, actions, kind: kindOf(actions) }
    : { address, actions, kind: kindOf(actions), reason };
}

function actionsOf(entry: unknown, where: string): TerraformAction[] {
  const change = isObject(entry) ? entry.change : undefined;
  const actions = isObject(change) ? change.actions : undefined;
  if (!Array.isArray(actions) || actions.length === 0) {
    throw new TerraformFormatError(`${where}: change.actions must be a non-empty array`);
  }
  for (const action of actions) {
    if (typeof action !== 'string' || !(TERRAFORM_ACTIONS as readonly string[]).includes(action)) {
      throw new TerraformFormatError(
        `${where}: unknown action ${JSON.stringify(action)} (known: ${TERRAFORM_ACTIONS.join(', ')}); ` +
          'refused because it may destroy something',
      );
    }
  }
  return actions as TerraformAction[];
}

/** ["delete","create"] and ["create","delete"] are replacements; other sets have one action. */
function kindOf(actions: readonly TerraformAction[]): ChangeKind {
  if (actions.includes('delete') && actions.includes('create')) return 'replace';
  if (actions.includes('delete')) return 'delete';
  if (actions.includes('create')) return 'create';
  if (actions.includes('update')) return 'update';
  if (actions.includes('forget')) return 'forget';
  if (actions.includes('read')) return 'read';
  return 'no-op';
}

/** Anything containing "delete" destroys something. */
export function destroys(change: ResourceChange): boolean {
  return change.actions.includes('delete');
}

/** Changes that alter managed infrastructure (not reads, not no-ops). */
export function effectiveChanges(plan: TerraformPlan): ResourceChange[] {
  return plan.changes.filter((c) => c.kind !== 'no-op' && c.kind !== 'read');
}

const SUMMARY_ORDER: ChangeKind[] = ['create', 'update', 'replace', 'delete', 'forget'];

/** One line: `2 to create (a, b), 1 to replace (c: replace_because_cannot_update)`. */
export function summarizePlan(plan: TerraformPlan): string {
  const changes = effectiveChanges(plan);
  if (changes.length === 0) {
    return plan.outputChanges.length > 0 ? `outputs change: ${plan.outputChanges.join(', ')}` : 'no changes';
  }
  const parts: string[] = [];
  for (const kind of SUMMARY_ORDER) {
    const ofKind = changes.filter((c) => c.kind === kind);
    if (ofKind.length === 0) continue;
    const names = ofKind.map((c) => (c.reason === undefined ? c.address : `${c.address}: ${c.reason}`));
    parts.push(`${ofKind.length} to ${kind} (${names.join(', ')})`);
  }
  return parts.join(', ');
}

/** One line per change, for the plan's details. */
export function describePlan(plan: TerraformPlan): string {
  const lines = effectiveChanges(plan).map(
    (c) => `${c.kind.padEnd(7)} ${c.address}${c.reason === undefined ? '' : `  (${c.reason})`}`,
  );
  if (plan.outputChanges.length > 0) lines.push(`outputs changing: ${plan.outputChanges.join(', ')}`);
  return lines.length === 0 ? 'no changes' : lines.join('\n');
}

export interface TerraformOutput {
  value: unknown;
  sensitive: boolean;
  type?: unknown;
}

/** Parses `terraform output -json`: `{ name: { sensitive, type, value } }`. Messages never quote values. */
export function parseOutputs(text: string): Record<string, TerraformOutput> {
  const doc = parseJsonText(text, 'terraform output -json');
  if (!isObject(doc)) throw new TerraformFormatError('terraform output -json must print one JSON object');
  const out: Record<string, TerraformOutput> = {};
  for (const [name, entry] of Object.entries(doc)) {
    if (!isObject(entry) || !('value' in entry)) {
      throw new TerraformFormatError(`terraform output -json: output ${name} has no value`);
    }
    const sensitive = entry.sensitive === true;
    const problem = entry.type === undefined ? undefined : ctyMismatch(entry.type, entry.value);
    if (problem !== undefined) {
      throw new TerraformFormatError(
        `terraform output -json: output ${name} is not the ${ctyName(entry.type)} Terraform says it is (${problem})`,
      );
    }
    out[name] = { value: entry.value, sensitive, type: entry.type };
  }
  return out;
}

/**
 * Why `value` does not fit the cty type (as JSON: `"string"`, `["list","string"]`,
 * `["object",{"a":"string"}]`, `"dynamic"`), or undefined when it fits. Names types, never values.
 */
export function ctyMismatch(type: unknown, value: unknown): string | undefined {
  if (value === null) return undefined; // Any cty type can be null.
  if (typeof type === 'string') {
    switch (type) {
      case 'string':
        return typeof value === 'string' ? undefined : `expected a string, got ${jsonType(value)}`;
      case 'number':
        return typeof value === 'number' ? undefined : `expected a number, got ${jsonType(value)}`;
      case 'bool':
        return typeof value === 'boolean' ? undefined : `expected a bool, got ${jsonType(value)}`;
      case 'dynamic':
        return undefined;
      default:
        return `unknown type ${type}`;
    }
  }
  if (!Array.isArray(type) || typeof type[0] !== 'string') return 'unknown type';
  const [kind, inner] = type as [string, unknown];
  switch (kind) {
    case 'list':
    case 'set':
      if (!Array.isArray(value)) return `expected a ${kind}, got ${jsonType(value)}`;
      return firstProblem(value.map((v, i) => [String(i), ctyMismatch(inner, v)]));
    case 'tuple':
      if (!Array.isArray(value) || !Array.isArray(inner) || value.length !== inner.length) return 'expected a tuple';
      return firstProblem(value.map((v, i) => [String(i), ctyMismatch(inner[i], v)]));
    case 'map':
      if (!isObject(value)) return `expected a map, got ${jsonType(value)}`;
      return firstProblem(Object.entries(value).map(([k, v]) => [k, ctyMismatch(inner, v)]));
    case 'object':
      if (!isObject(value) || !isObject(inner)) return `expected an object, got ${jsonType(value)}`;
      return firstProblem(
        Object.entries(inner).map(([k, t]) => [k, k in value ? ctyMismatch(t, value[k]) : `missing ${k}`]),
      );
    default:
      return `unknown type ${kind}`;
  }
}

function firstProblem(entries: [string, string | undefined][]): string | undefined {
  const bad = entries.find(([, p]) => p !== undefined);
  return bad === undefined ? undefined : `${bad[0]}: ${bad[1] ?? ''}`;
}

function ctyName(type: unknown): string {
  return typeof type === 'string' ? type : JSON.stringify(type);
}

function jsonType(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
