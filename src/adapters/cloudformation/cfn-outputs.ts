import { isDeepStrictEqual } from 'node:util';
import type { PlannedOutputs } from '../../core/adapter.js';
import { holdsUnknown } from '../../core/plan.js';
import type { CfnParameter, CfnTemplate } from './cfn-template.js';

/** What a change set's outputs are worked out from. Pure data: no calls. */
export interface OutputsBasis {
  stackName: string;
  region: string | undefined;
  /** The change set's template. */
  template: CfnTemplate;
  /** The parameter values passed with the change set (the spec's). */
  parameters: Readonly<Record<string, string>>;
  /** The stack as it runs today; undefined for a stack the change set creates. */
  deployed?: DeployedStack;
}

export interface DeployedStack {
  template: CfnTemplate;
  /** Parameter values as DescribeStacks shows them (a NoEcho one masked). */
  parameters: Readonly<Record<string, string | undefined>>;
  /** Output values as DescribeStacks shows them. */
  outputs: Readonly<Record<string, string | undefined>>;
  /** Logical ids of the resources the change set adds, modifies, removes or may touch. */
  changed: ReadonlySet<string>;
}

/**
 * The outputs the stack will have once the change set runs, as far as they can be told without running
 * it. An output is known when
 * - its value is made of literals and parameters only (`Ref`, `Fn::Sub`, `Fn::Join` over String
 *   parameters and the stack's name): its value is worked out here, for a new stack too; or
 * - the stack exists and shows the output today, its definition is the same in both templates, and
 *   nothing it depends on changes: no resource it references is in the change set, no parameter it
 *   references gets another value, and the conditions and mappings it uses are the same. It keeps the
 *   value it has today.
 * Anything else, including every function not understood here, is unknown: a value shown before the
 * apply must be the value the apply gives.
 *
 * `sensitive` names the outputs whose value refers to a NoEcho parameter, and those `alreadySensitive`
 * names (the outputs of today's stack found to echo one).
 */
export function planOutputs(basis: OutputsBasis, alreadySensitive: readonly string[] = []): PlannedOutputs {
  const { template, deployed } = basis;
  const known: Record<string, unknown> = {};
  const unknown: string[] = [];
  const sensitive = new Set<string>();
  // A transform (SAM, a macro) rewrites the template in CloudFormation: what is read here is not what runs.
  const transformed = template.Transform !== undefined || deployed?.template.Transform !== undefined;
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    const deps = dependencies(output.Value, template);
    if (alreadySensitive.includes(name) || [...deps.parameters].some((p) => isNoEcho(template.Parameters?.[p]))) sensitive.add(name);
    const value = transformed || output.Condition !== undefined ? undefined : evaluate(output.Value, basis);
    if (value !== undefined) known[name] = value;
    else if (!transformed && deployed !== undefined && keepsItsValue(name, basis, deployed)) known[name] = deployed.outputs[name];
    else unknown.push(name);
  }
  return { known, unknown, ...(sensitive.size > 0 ? { sensitive: [...sensitive] } : {}) };
}

// ------------------------------------------------------------------ outputs of literals and parameters

/** The value of an expression made of literals, String parameters and the stack's name; undefined otherwise. */
function evaluate(expr: unknown, basis: OutputsBasis): string | undefined {
  if (typeof expr === 'string') return isDynamicReference(expr) ? undefined : expr;
  const fn = intrinsic(expr);
  if (fn === undefined) return undefined;
  const [name, arg] = fn;
  if (name === 'Ref') return typeof arg === 'string' ? valueOf(arg, basis) : undefined;
  if (name === 'Fn::Join') {
    if (!Array.isArray(arg) || arg.length !== 2 || typeof arg[0] !== 'string' || !Array.isArray(arg[1])) return undefined;
    const parts = (arg[1] as unknown[]).map((part) => evaluate(part, basis));
    return parts.every((p) => p !== undefined) ? parts.join(arg[0]) : undefined;
  }
  if (name === 'Fn::Sub') {
    const sub = subParts(arg);
    if (sub === undefined || isDynamicReference(sub.text)) return undefined;
    let complete = true;
    const text = sub.text.replace(SUB_VARIABLE, (whole, inner: string) => {
      if (inner.startsWith('!')) return `\${${inner.slice(1)}}`;
      const value = inner in sub.vars ? evaluate(sub.vars[inner], basis) : valueOf(inner, basis);
      if (value === undefined) complete = false;
      return value ?? whole;
    });
    return complete ? text : undefined;
  }
  return undefined;
}

/** The value a name stands for in `Ref` or `${}`, where it is one of a String parameter or the stack's name or region. */
function valueOf(name: string, basis: OutputsBasis): string | undefined {
  if (name === 'AWS::StackName') return basis.stackName;
  if (name === 'AWS::Region') return basis.region;
  const parameter = basis.template.Parameters?.[name];
  // Another type may read otherwise (a list, an SSM parameter resolved by CloudFormation).
  if (parameter?.Type !== 'String') return undefined;
  const value = newValue(name, basis);
  return value === undefined || holdsUnknown(value) ? undefined : value;
}

/** A parameter's value in the change set: the one passed, else the template's default. */
function newValue(name: string, basis: OutputsBasis): string | undefined {
  const passed = basis.parameters[name];
  if (passed !== undefined) return passed;
  const fallback = basis.template.Parameters?.[name]?.Default;
  return typeof fallback === 'string' || typeof fallback === 'number' ? String(fallback) : undefined;
}

// ------------------------------------------------------------------ outputs the change set leaves alone

function keepsItsValue(name: string, basis: OutputsBasis, deployed: DeployedStack): boolean {
  const now = basis.template.Outputs?.[name];
  const before = deployed.template.Outputs?.[name];
  if (now === undefined || before === undefined || deployed.outputs[name] === undefined) return false;
  if (!isDeepStrictEqual(now.Value, before.Value) || !isDeepStrictEqual(now.Condition, before.Condition)) return false;
  const deps = dependencies(now.Value, basis.template);
  if (now.Condition !== undefined) addDependencies({ Condition: now.Condition }, basis.template, deps);
  if (deps.opaque) return false;
  const same = (section: 'Conditions' | 'Mappings', key: string): boolean => {
    const a = basis.template[section]?.[key];
    return a !== undefined && isDeepStrictEqual(a, deployed.template[section]?.[key]);
  };
  return (
    [...deps.resources].every((r) => basis.template.Resources?.[r] !== undefined && !deployed.changed.has(r)) &&
    [...deps.parameters].every((p) => keepsParameter(p, basis, deployed)) &&
    [...deps.conditions].every((c) => same('Conditions', c)) &&
    [...deps.mappings].every((m) => same('Mappings', m))
  );
}

function keepsParameter(name: string, basis: OutputsBasis, deployed: DeployedStack): boolean {
  const now = basis.template.Parameters?.[name];
  const before = deployed.template.Parameters?.[name];
  if (now === undefined || before === undefined || !isDeepStrictEqual(now.Type, before.Type)) return false;
  // CloudFormation resolves an SSM parameter again on every update: the same name may give another value.
  if (typeof now.Type === 'string' && now.Type.startsWith('AWS::SSM::')) return false;
  const old = deployed.parameters[name];
  const value = newValue(name, basis);
  // A NoEcho parameter shows masked, so whether it changes cannot be told.
  return old !== undefined && value !== undefined && !MASKED.test(old) && !holdsUnknown(value) && old === value;
}

// ------------------------------------------------------------------ what an expression depends on

interface Dependencies {
  resources: Set<string>;
  parameters: Set<string>;
  conditions: Set<string>;
  mappings: Set<string>;
  /** It uses something not understood here (a function, a dynamic reference, a nested stack's output). */
  opaque: boolean;
}

function dependencies(expr: unknown, template: CfnTemplate): Dependencies {
  const deps: Dependencies = { resources: new Set(), parameters: new Set(), conditions: new Set(), mappings: new Set(), opaque: false };
  addDependencies(expr, template, deps);
  return deps;
}

/** Functions whose value depends on nothing but their arguments. */
const PLAIN_FUNCTIONS = new Set([
  'Fn::Join',
  'Fn::Select',
  'Fn::Split',
  'Fn::Base64',
  'Fn::GetAZs',
  'Fn::Cidr',
  'Fn::Length',
  'Fn::ToJsonString',
  'Fn::Equals',
  'Fn::And',
  'Fn::Or',
  'Fn::Not',
  // An export cannot change while a stack imports it, so the import depends on its name only.
  'Fn::ImportValue',
]);

function addDependencies(expr: unknown, template: CfnTemplate, deps: Dependencies): void {
  if (typeof expr === 'string') {
    if (isDynamicReference(expr)) deps.opaque = true;
    return;
  }
  if (Array.isArray(expr)) {
    for (const item of expr) addDependencies(item, template, deps);
    return;
  }
  if (typeof expr !== 'object' || expr === null) return;
  const fn = intrinsic(expr);
  if (fn === undefined) {
    for (const value of Object.values(expr)) addDependencies(value, template, deps);
    return;
  }
  const [name, arg] = fn;
  switch (name) {
    case 'Ref':
      if (typeof arg === 'string') addName(arg, template, deps);
      else deps.opaque = true;
      return;
    case 'Fn::GetAtt':
      if (Array.isArray(arg) && typeof arg[0] === 'string') addAttribute(arg[0], template, deps);
      else deps.opaque = true;
      // The attribute's name may come from a parameter.
      addDependencies(Array.isArray(arg) ? arg.slice(1) : arg, template, deps);
      return;
    case 'Fn::Sub': {
      const sub = subParts(arg);
      if (sub === undefined) {
        deps.opaque = true;
        return;
      }
      if (isDynamicReference(sub.text)) deps.opaque = true;
      for (const [, inner] of sub.text.matchAll(SUB_VARIABLE)) {
        if (inner === undefined || inner.startsWith('!') || inner in sub.vars) continue;
        const dot = inner.indexOf('.');
        if (dot < 0) addName(inner, template, deps);
        else addAttribute(inner.slice(0, dot), template, deps);
      }
      addDependencies(Object.values(sub.vars), template, deps);
      return;
    }
    case 'Fn::FindInMap':
      if (Array.isArray(arg) && typeof arg[0] === 'string') deps.mappings.add(arg[0]);
      else deps.opaque = true;
      addDependencies(arg, template, deps);
      return;
    case 'Fn::If':
      if (Array.isArray(arg) && typeof arg[0] === 'string') addCondition(arg[0], template, deps);
      else deps.opaque = true;
      addDependencies(Array.isArray(arg) ? arg.slice(1) : arg, template, deps);
      return;
    case 'Condition':
      if (typeof arg === 'string') addCondition(arg, template, deps);
      else deps.opaque = true;
      return;
    default:
      if (PLAIN_FUNCTIONS.has(name)) addDependencies(arg, template, deps);
      else deps.opaque = true;
  }
}

/** A name in `Ref` or `${}`: a pseudo parameter, a parameter or a resource. */
function addName(name: string, template: CfnTemplate, deps: Dependencies): void {
  // The stack's own name, id, region, account and partition stay with the stack; its notification ARNs may not.
  if (name.startsWith('AWS::')) {
    if (name === 'AWS::NotificationARNs') deps.opaque = true;
    return;
  }
  if (template.Parameters?.[name] !== undefined) deps.parameters.add(name);
  else deps.resources.add(name);
}

function addAttribute(resource: string, template: CfnTemplate, deps: Dependencies): void {
  // A nested stack's outputs follow its own template, which the parent's change set does not show.
  if (template.Resources?.[resource]?.Type === 'AWS::CloudFormation::Stack') deps.opaque = true;
  deps.resources.add(resource);
}

function addCondition(name: string, template: CfnTemplate, deps: Dependencies): void {
  if (deps.conditions.has(name)) return;
  deps.conditions.add(name);
  const definition = template.Conditions?.[name];
  if (definition === undefined) deps.opaque = true;
  else addDependencies(definition, template, deps);
}

// ------------------------------------------------------------------ helpers

/** `${Name}`, `${Res.Attr}`, `${!Literal}` in an Fn::Sub string. */
const SUB_VARIABLE = /\$\{([^}]*)\}/g;

function subParts(arg: unknown): { text: string; vars: Record<string, unknown> } | undefined {
  if (typeof arg === 'string') return { text: arg, vars: {} };
  if (!Array.isArray(arg) || typeof arg[0] !== 'string') return undefined;
  const vars: unknown = arg[1] ?? {};
  if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) return undefined;
  return { text: arg[0], vars: vars as Record<string, unknown> };
}

/** `{"Ref": …}` or `{"Fn::X": …}` (one key) as [name, argument]. */
function intrinsic(expr: unknown): [string, unknown] | undefined {
  if (typeof expr !== 'object' || expr === null || Array.isArray(expr)) return undefined;
  const entries = Object.entries(expr);
  const [only] = entries;
  if (entries.length !== 1 || only === undefined) return undefined;
  return only[0] === 'Ref' || only[0] === 'Condition' || only[0].startsWith('Fn::') ? only : undefined;
}

/** `{{resolve:ssm:…}}` and the like: CloudFormation reads the value anew on every update. */
function isDynamicReference(text: string): boolean {
  return text.includes('{{resolve:');
}

function isNoEcho(parameter: CfnParameter | undefined): boolean {
  return parameter?.NoEcho === true || parameter?.NoEcho === 'true';
}

/** How CloudFormation shows a NoEcho parameter's value in DescribeStacks. */
export const MASKED = /^\*+$/;
