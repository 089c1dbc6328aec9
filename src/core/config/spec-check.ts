import type { Adapter } from '../adapter.js';
import { printExpression, referencePath, type Expr } from '../expression/parser.js';
import { forEachString, isPlainObject, isTemplate, referencesIn, scanTemplate } from '../expression/template.js';
import type { EnvironmentConfig, ProjectConfig, ValueType } from '../model.js';
import { issueFindings, orList, unionTypeMismatch, type Finding } from './findings.js';
import type { Path } from './positions.js';
import type { Rule } from './rule.js';
import { fieldsAt } from './zod-fields.js';

/**
 * Checks each component's `with` against its adapter's spec, and the typed handoffs into it.
 *
 * Template values are only known at plan time, so each template string is replaced by a typed
 * placeholder first: a whole reference by a value of the reference's type (an output's declared
 * type, an env var's YAML type in each environment, string for the rest), a whole expression by a
 * value of the type it is known to give, any other template by a string. Then the spec runs:
 *
 * - issues away from templates are reported as they are;
 * - a type issue exactly at a template (or at the element of an array placeholder) is a type
 *   mismatch: the value will have the wrong type whatever it turns out to be;
 * - any other issue at a template is left for plan time (a placeholder breaks `min`, `regex`, …).
 *
 * With env var references the spec runs once per environment, since their types may differ.
 */
export const adapterSpecsAccept: Rule = ({ config, adapters, unusableWith }) => {
  const out: Finding[] = [];
  const memo: Memo = { templates: new Map(), resolved: new Map(), bySignature: new Map() };
  for (const component of Object.values(config.components)) {
    const adapter = adapters.get(component.type);
    if (!adapter || unusableWith.has(component.name)) continue;
    out.push(...checkComponent(adapter, component.name, component.with, config, memo));
  }
  return out;
};

/** A type as the checks see it: undefined means unknown (any value may come). */
interface Typed {
  type: ValueType;
  items?: ValueType;
}

/** What one template string holds, wherever it stands: a config repeats the same few templates. */
interface TemplateInfo {
  /** Offset of the first `${{` in the string. */
  offset: number;
  /** The whole expression, when the string is exactly one `${{ }}`; undefined for text with `${{ }}` in it. */
  expr?: Expr;
  /** The string does not parse (the reference rule reports it): anything goes. */
  broken: boolean;
  /** It reads `env.vars`, whose types may differ between environments. */
  readsEnvVars: boolean;
}

/** One template string in `with`. */
interface Slot {
  text: string;
  at: (string | number)[];
  info: TemplateInfo;
}

/**
 * What a slot holds in one run: its placeholder and how to describe its type in a message. Made
 * once per content (see resolveSlotOnce), so two runs resolve alike when their Resolved are the
 * same objects.
 */
interface Resolved {
  typed?: Typed;
  subject: string;
}

/**
 * Work shared by the components of one check: template texts, and what each text resolves to in
 * each environment (both depend only on the config, which the check does not change).
 */
interface Memo {
  templates: Map<string, TemplateInfo>;
  resolved: Map<EnvironmentConfig | undefined, Map<string, Resolved>>;
  /** One Resolved per type and subject. */
  bySignature: Map<string, Resolved>;
}

function checkComponent(
  adapter: Adapter<unknown>,
  component: string,
  withBlock: Record<string, unknown>,
  config: ProjectConfig,
  memo: Memo,
): Finding[] {
  const slots = templateSlots(withBlock, memo);
  const usesEnvVars = slots.some((s) => s.info.readsEnvVars);
  const environments = Object.values(config.environments);
  const runs: (EnvironmentConfig | undefined)[] = usesEnvVars && environments.length > 0 ? environments : [undefined];

  const prefix = ['components', component, 'with'];
  const seen = new Set<string>();
  const out: Finding[] = [];
  // Runs whose placeholders and subjects are all the same as an earlier run's give the same
  // findings, which the filter below would drop: most environments type their vars alike.
  const runsDone: Resolved[][] = [];
  for (const env of runs) {
    const resolved = slots.map((slot) => resolveSlotOnce(slot, config, env, memo));
    if (runsDone.some((done) => done.every((r, i) => r === resolved[i]))) continue;
    runsDone.push(resolved);
    const input = substitute(withBlock, slots, resolved);
    const result = adapter.spec.safeParse(input);
    if (result.success) continue;

    const ordinary: typeof result.error.issues = [];
    for (const issue of result.error.issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const index = slotFor(slots, path);
      const slot = slots[index];
      if (!slot) {
        ordinary.push(issue);
        continue;
      }
      const r = resolved[index];
      if (!r?.typed) continue;
      const rest = path.slice(slot.at.length);
      let expected: string[] | undefined;
      if (issue.code === 'invalid_type') expected = [issue.expected];
      else if (issue.code === 'invalid_union') expected = unionTypeMismatch(issue);
      if (expected === undefined) continue;
      if (expected.includes('number'))
        expected = expected.map((e) => (e === 'number' ? numberKind(adapter, input, path) : e));
      let wants = orList(expected.map(typeWord));
      if (rest.length === 1 && typeof rest[0] === 'number' && r.typed.type === 'array') wants = `array of ${wants}`;
      else if (rest.length > 0) continue;
      out.push({
        path: [...prefix, ...slot.at],
        offset: slot.info.offset,
        message: `type mismatch: ${r.subject}, but this field expects ${wants}`,
      });
    }
    out.push(...issueFindings(ordinary, input, prefix, (p) => fieldsAt(adapter.spec, p)));
  }
  return out.filter((f) => {
    const k = `${key(f.path)}\0${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function templateSlots(value: unknown, memo: Memo): Slot[] {
  const slots: Slot[] = [];
  forEachString(value, [], (text, at) => {
    if (!isTemplate(text)) return;
    let info = memo.templates.get(text);
    if (info === undefined) {
      info = templateInfo(text);
      memo.templates.set(text, info);
    }
    slots.push({ text, at, info });
  });
  return slots;
}

function templateInfo(text: string): TemplateInfo {
  const { template, errors } = scanTemplate(text);
  const first = template.parts.find((p) => p.kind === 'expression');
  const only = template.whole ? first : undefined;
  const expr = only?.kind === 'expression' ? only.expr : undefined;
  return {
    offset: errors[0]?.offset ?? (first?.kind === 'expression' ? first.offset : 0),
    expr,
    broken: errors.length > 0,
    readsEnvVars: expr !== undefined && referencesIn(expr).some((p) => p[0] === 'env' && p[1] === 'vars'),
  };
}

/** resolveSlot, once per template text and environment. */
function resolveSlotOnce(slot: Slot, config: ProjectConfig, env: EnvironmentConfig | undefined, memo: Memo): Resolved {
  let byText = memo.resolved.get(env);
  if (byText === undefined) {
    byText = new Map();
    memo.resolved.set(env, byText);
  }
  let r = byText.get(slot.text);
  if (r === undefined) {
    const { typed, subject } = resolveSlot(slot.info, config, env);
    const signature = `${typed === undefined ? '' : `${typed.type}/${typed.items ?? ''}`}\n${subject}`;
    r = memo.bySignature.get(signature);
    if (r === undefined) {
      r = typed === undefined ? { subject } : { typed, subject };
      memo.bySignature.set(signature, r);
    }
    byText.set(slot.text, r);
  }
  return r;
}

function resolveSlot(
  slot: TemplateInfo,
  config: ProjectConfig,
  env: EnvironmentConfig | undefined,
): { typed?: Typed; subject: string } {
  if (slot.broken) return { subject: '' };
  if (slot.expr === undefined) {
    return { typed: { type: 'string' }, subject: 'text with ${{ }} in it is always a string' };
  }
  const path = referencePath(slot.expr);
  if (path !== undefined) {
    const ref = referenceType(path, config, env);
    return ref ? { typed: ref.typed, subject: ref.subject } : { subject: '' };
  }
  const typed = expressionType(slot.expr, (p) => referenceType(p, config, env)?.typed);
  return typed
    ? { typed, subject: `\${{ ${printExpression(slot.expr)} }} gives ${describeType(typed)}` }
    : { subject: '' };
}

/** The type a reference will have, as far as the config tells; undefined when it may be anything. */
export function referenceType(
  path: readonly string[],
  config: ProjectConfig,
  env: EnvironmentConfig | undefined,
): { typed: Typed; subject: string } | undefined {
  const name = path.join('.');
  const [root, a, b, c] = path;
  const string = { typed: { type: 'string' as const }, subject: `${name} is a string` };
  if (root === 'env' && a === 'name' && path.length === 2) return string;
  if ((root === 'version' || root === 'previousVersion') && path.length === 1) return string;
  if (root === 'release' && a === 'id' && path.length === 2) return string;
  if (root === 'secrets' && path.length === 2) return string;
  if (root === 'components' && b === 'version' && path.length === 3) return string;
  if (root === 'components' && b === 'outputs' && c !== undefined && path.length === 4 && a !== undefined) {
    const output = config.components[a]?.outputs[c];
    if (!output || output.type === 'any') return undefined;
    const typed: Typed =
      output.items !== undefined ? { type: output.type, items: output.items } : { type: output.type };
    return { typed, subject: `${name} is declared ${describeType(typed)}` };
  }
  if (root === 'env' && a === 'vars' && b !== undefined && path.length === 3 && env) {
    if (!Object.hasOwn(env.vars, b)) return undefined;
    const typed = typeOfValue(env.vars[b]);
    if (!typed) return undefined;
    // Name every environment where the variable has this type, so the runs give one message.
    const same = Object.values(config.environments)
      .filter((e) => Object.hasOwn(e.vars, b) && sameType(typeOfValue(e.vars[b]), typed))
      .map((e) => e.name);
    return {
      typed,
      subject: `${name} is ${describeType(typed)} in ${same.length === 1 ? 'environment' : 'environments'} ${same.join(', ')}`,
    };
  }
  return undefined;
}

/**
 * The type of an env var's YAML value. A whole `${{ }}` there can only read env.name and secrets
 * (both strings), so its type is the expression's.
 */
export function typeOfValue(value: unknown): Typed | undefined {
  if (typeof value === 'string') {
    const { template } = scanTemplate(value);
    const only = template.parts[0];
    if (!template.whole || only?.kind !== 'expression') return { type: 'string' };
    return expressionType(only.expr, (path) =>
      (path[0] === 'env' && path[1] === 'name' && path.length === 2) || (path[0] === 'secrets' && path.length === 2)
        ? { type: 'string' }
        : undefined,
    );
  }
  if (typeof value === 'boolean') return { type: 'boolean' };
  if (typeof value === 'number') return { type: Number.isInteger(value) ? 'integer' : 'number' };
  if (Array.isArray(value)) {
    const items = value.map(typeOfValue);
    const first = items[0];
    if (first && items.every((t) => t?.type === first.type)) return { type: 'array', items: first.type };
    if (items.length > 0 && items.every((t) => t?.type === 'integer' || t?.type === 'number')) {
      return { type: 'array', items: 'number' };
    }
    return { type: 'array' };
  }
  if (isPlainObject(value)) return { type: 'object' };
  return undefined;
}

/** The type an expression is sure to give, or undefined. `refType` types references. */
export function expressionType(expr: Expr, refType: (path: string[]) => Typed | undefined): Typed | undefined {
  switch (expr.kind) {
    case 'literal':
      if (expr.value === null) return undefined;
      if (typeof expr.value === 'number') return { type: Number.isInteger(expr.value) ? 'integer' : 'number' };
      return { type: typeof expr.value as 'string' | 'boolean' };
    case 'identifier':
    case 'member':
    case 'index': {
      const path = referencePath(expr);
      return path ? refType(path) : undefined;
    }
    case 'unary':
      return expr.operator === '!' ? { type: 'boolean' } : { type: 'number' };
    case 'conditional': {
      const a = expressionType(expr.consequent, refType);
      const b = expressionType(expr.alternate, refType);
      if (a && b && sameType(a, b)) return a;
      if (a && b && isNumeric(a) && isNumeric(b)) return { type: 'number' };
      return undefined;
    }
    case 'binary':
      switch (expr.operator) {
        case '&&':
        case '||':
        case '==':
        case '!=':
        case '<':
        case '<=':
        case '>':
        case '>=':
          return { type: 'boolean' };
        case '+': {
          const a = expressionType(expr.left, refType);
          const b = expressionType(expr.right, refType);
          if (a?.type === 'string' || b?.type === 'string') return { type: 'string' };
          if (a && b && isNumeric(a) && isNumeric(b)) return { type: 'number' };
          return undefined;
        }
        default:
          return { type: 'number' };
      }
  }
}

function isNumeric(t: Typed): boolean {
  return t.type === 'number' || t.type === 'integer';
}

function sameType(a: Typed | undefined, b: Typed | undefined): boolean {
  return a !== undefined && b !== undefined && a.type === b.type && a.items === b.items;
}

function describeType(t: Typed): string {
  return t.type === 'array' && t.items !== undefined ? `array of ${t.items}` : t.type;
}

/** Zod's names for types, in the words of `outputs.<o>.type`. */
function typeWord(expected: string): string {
  if (expected === 'int') return 'integer';
  if (expected === 'record' || expected === 'map') return 'object';
  return expected;
}

/** A value of the type: what the spec sees in place of a template. */
function placeholder(t: Typed | undefined): unknown {
  switch (t?.type) {
    case 'string':
      return '<string>';
    case 'integer':
      return 0;
    // Not an integer, so a number cannot pass for an integer field.
    case 'number':
      return 0.5;
    case 'boolean':
      return false;
    case 'object':
      return {};
    case 'array':
      return t.items !== undefined && t.items !== 'any' ? [placeholder({ type: t.items })] : [];
    default:
      // Unknown: a string the adapter is unlikely to reject for its shape; its issues are ignored.
      return '<any>';
  }
}

/** A copy of `with` with each template string replaced by the placeholder of its slot. */
function substitute(
  withBlock: Record<string, unknown>,
  slots: readonly Slot[],
  resolved: readonly Resolved[],
): unknown {
  const input = copy(withBlock) as Record<string | number, unknown>;
  slots.forEach((slot, i) => {
    let parent: unknown = input;
    for (const step of slot.at.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[step];
    (parent as Record<string | number, unknown>)[slot.at.at(-1) as string | number] = placeholder(resolved[i]?.typed);
  });
  return input;
}

function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // An own `__proto__` key, as in the parsed YAML, not a prototype.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: copy(v), enumerable: true, writable: true, configurable: true });
    else out[k] = copy(v);
  }
  return out;
}

/**
 * Zod says "expected number" for an integer field given a string; whether the field takes any
 * number or only integers shows when a fraction is put there instead.
 */
function numberKind(adapter: Adapter<unknown>, input: unknown, path: Path): string {
  const result = adapter.spec.safeParse(replaceAt(input, path, 0.5));
  const integerOnly = result.error?.issues.some(
    (i) =>
      i.code === 'invalid_type' &&
      i.expected === 'int' &&
      key(i.path.filter((p) => typeof p !== 'symbol')) === key(path),
  );
  return integerOnly === true ? 'int' : 'number';
}

function replaceAt(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    return (value as unknown[]).map((v, i) => (i === head ? replaceAt(v, rest, replacement) : v));
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k === String(head) ? replaceAt(v, rest, replacement) : v]),
    );
  }
  return value;
}

/** The index of the slot at or above `path`, or -1. */
function slotFor(slots: readonly Slot[], path: Path): number {
  return slots.findIndex((s) => s.at.length <= path.length && s.at.every((p, i) => p === path[i]));
}

function key(path: Path): string {
  return JSON.stringify(path);
}
