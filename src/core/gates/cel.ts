/**
 * CEL (Common Expression Language) expressions for promotion gates, on `@marcbachmann/cel-js`.
 *
 * Each context declares its variables with types, so `lockstep validate` catches a misspelt field
 * (`plan.irreversibel`) or a wrong comparison (`approvals.count >= "3"`) before any promotion runs.
 *
 * Facts about the library that this file relies on:
 * - CEL `int` is a JavaScript `bigint`; a `number` in an `int` field is rejected at evaluation, so
 *   values are converted here. JSON numbers in `response.body` stay `number` (CEL `double`), as in
 *   protobuf's Struct; `response.body.n == 3` is still true for 3, since CEL compares numbers across
 *   types.
 * - The library recognises an object's type by `value.constructor`, so each object type here has
 *   its own class, and values are converted into it (ints to bigint, records to Maps) before
 *   evaluation. A declared `timestamp` is `google.protobuf.Timestamp` (a `Date`); the name
 *   `timestamp` in a field declaration is not that type.
 * - Indexing a map with a missing key (`release.labels['risk']`) is an evaluation error, not null.
 *   `'risk' in release.labels && …`, `has(release.labels.risk)`, `release.labels[?'risk']
 *   .orValue('')` and `release.labels.?risk.orValue('')` all test for the key instead. `||` and `&&`
 *   absorb an error when the other side decides the result, in either order, as the CEL spec says.
 * - Evaluation error summaries can quote values (`No such key: <key>`, `Invalid duration string:
 *   <text>`), so messages here are built from the error's code and the failing part of the
 *   expression only, and the library's error is not attached as `cause`.
 */
import {
  Environment,
  EvaluationError,
  ParseError,
  type ASTNode,
  type TypeError as CelTypeError,
} from '@marcbachmann/cel-js';
import { ExpressionError } from '../expression/expression-error.js';

export const CEL_CONTEXTS = ['policy', 'verify'] as const;
export type CelContext = (typeof CEL_CONTEXTS)[number];

export type CelCheckResult =
  { ok: true; references: ReadonlySet<string> } | { ok: false; message: string; offset?: number };

export interface CompiledCel {
  readonly expression: string;
  /** The top-level variables the expression uses (`approvals`, `now`, …). */
  readonly references: ReadonlySet<string>;
  /**
   * Evaluates against plain values (numbers, records, arrays, `Date`s as in `PolicyVariables` or
   * `VerifyVariables`); only the referenced variables need to be present. Pure. Throws
   * ExpressionError (with the offset in the expression) when evaluation fails, and Error when a
   * variable does not have its declared shape. Messages never include variable values.
   */
  evaluate(variables: Record<string, unknown>): boolean;
}

export interface ComponentPlanVariable {
  type: string;
  /** `apply` or `unchanged`. */
  action: string;
  /** The deployed version, `''` when the component is new. */
  from: string;
  to: string;
  reversible: boolean;
  /** `low`, `medium` or `high`. */
  risk: string;
}

export interface PolicyVariables {
  release: {
    id: string;
    versions: Record<string, string>;
    labels: Record<string, string>;
    message: string;
    createdBy: string;
    createdAt: Date;
  };
  plan: {
    components: Record<string, ComponentPlanVariable>;
    /** Names of the components the promotion applies. */
    changed: string[];
    irreversible: boolean;
    destructive: boolean;
    /** Keys: total, apply, unchanged, irreversible, destructive, unknowns. */
    counts: Record<string, number>;
    /** Values known only after their producers apply: where each goes and where it comes from. */
    unknowns: { consumer: string; field: string; producer: string; output: string }[];
  };
  env: { name: string; after: string[] };
  approvals: { count: number; by: string[] };
  now: Date;
}

export interface VerifyVariables {
  /** `body` is the parsed JSON, or the text when it is not JSON. */
  response: { status: number; headers: Record<string, string>; body: unknown };
}

// --- Types as data: one description both declares a variable to the library and converts its value.

type CelType =
  | { readonly kind: 'string' | 'bool' | 'int' | 'timestamp' | 'dyn' }
  | { readonly kind: 'list' | 'map'; readonly of: CelType }
  | { readonly kind: 'object'; readonly object: CelObjectType };

interface CelObjectType {
  readonly name: string;
  readonly fields: Readonly<Record<string, CelType>>;
  readonly ctor: new (fields: Record<string, unknown>) => object;
}

const STRING: CelType = { kind: 'string' };
const BOOL: CelType = { kind: 'bool' };
const INT: CelType = { kind: 'int' };
const TIMESTAMP: CelType = { kind: 'timestamp' };
const DYN: CelType = { kind: 'dyn' };
const listOf = (of: CelType): CelType => ({ kind: 'list', of });
/** Keys are always strings. */
const mapOf = (of: CelType): CelType => ({ kind: 'map', of });

function objectOf(name: string, fields: Record<string, CelType>): CelType {
  // A class per type: the library maps constructors to registered types.
  const ctor = class {
    constructor(values: Record<string, unknown>) {
      Object.assign(this, values);
    }
  };
  return { kind: 'object', object: { name, fields, ctor } };
}

function celTypeName(type: CelType): string {
  switch (type.kind) {
    case 'timestamp':
      return 'google.protobuf.Timestamp';
    case 'list':
      return `list<${celTypeName(type.of)}>`;
    case 'map':
      return `map<string, ${celTypeName(type.of)}>`;
    case 'object':
      return type.object.name;
    default:
      return type.kind;
  }
}

const COMPONENT_PLAN = objectOf('lockstep.ComponentPlan', {
  type: STRING,
  action: STRING,
  from: STRING,
  to: STRING,
  reversible: BOOL,
  risk: STRING,
});

const PLAN_UNKNOWN = objectOf('lockstep.PlanUnknown', {
  consumer: STRING,
  field: STRING,
  producer: STRING,
  output: STRING,
});

const VARIABLES: Readonly<Record<CelContext, Readonly<Record<string, CelType>>>> = {
  policy: {
    release: objectOf('lockstep.Release', {
      id: STRING,
      versions: mapOf(STRING),
      labels: mapOf(STRING),
      message: STRING,
      createdBy: STRING,
      createdAt: TIMESTAMP,
    }),
    plan: objectOf('lockstep.Plan', {
      components: mapOf(COMPONENT_PLAN),
      changed: listOf(STRING),
      irreversible: BOOL,
      destructive: BOOL,
      counts: mapOf(INT),
      unknowns: listOf(PLAN_UNKNOWN),
    }),
    env: objectOf('lockstep.Env', { name: STRING, after: listOf(STRING) }),
    approvals: objectOf('lockstep.Approvals', { count: INT, by: listOf(STRING) }),
    now: TIMESTAMP,
  },
  verify: {
    response: objectOf('lockstep.Response', { status: INT, headers: mapOf(STRING), body: DYN }),
  },
};

function objectTypesIn(type: CelType, into: Set<CelObjectType>): void {
  if (type.kind === 'list' || type.kind === 'map') objectTypesIn(type.of, into);
  if (type.kind !== 'object' || into.has(type.object)) return;
  for (const field of Object.values(type.object.fields)) objectTypesIn(field, into);
  into.add(type.object); // after its fields' types, so nested types are registered first
}

function createEnvironment(variables: Readonly<Record<string, CelType>>): Environment {
  const env = new Environment({ enableOptionalTypes: true });
  const objectTypes = new Set<CelObjectType>();
  for (const type of Object.values(variables)) objectTypesIn(type, objectTypes);
  for (const object of objectTypes) {
    const fields = Object.fromEntries(Object.entries(object.fields).map(([k, t]) => [k, celTypeName(t)]));
    env.registerType(object.name, { ctor: object.ctor, fields });
  }
  for (const [name, type] of Object.entries(variables)) env.registerVariable(name, celTypeName(type));
  return env;
}

// Building an environment is the expensive part; both are built once and never changed.
const ENVIRONMENTS: Readonly<Record<CelContext, Environment>> = {
  policy: createEnvironment(VARIABLES.policy),
  verify: createEnvironment(VARIABLES.verify),
};

/** Thrown while converting a variable; the path never contains a map key or a value. */
class VariableShapeError extends Error {}

function toCel(value: unknown, type: CelType, path: string): unknown {
  switch (type.kind) {
    case 'string':
      if (typeof value !== 'string') throw new VariableShapeError(`${path} must be a string`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new VariableShapeError(`${path} must be a boolean`);
      return value;
    case 'int':
      if (typeof value === 'bigint') return value;
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new VariableShapeError(`${path} must be an integer`);
      }
      return BigInt(value);
    case 'timestamp':
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
        throw new VariableShapeError(`${path} must be a valid Date`);
      }
      return value;
    case 'dyn':
      return value;
    case 'list':
      if (!Array.isArray(value)) throw new VariableShapeError(`${path} must be an array`);
      return value.map((item) => toCel(item, type.of, `${path}[*]`));
    case 'map':
      return new Map(Object.entries(asRecord(value, path)).map(([k, v]) => [k, toCel(v, type.of, `${path}[*]`)]));
    case 'object': {
      const record = asRecord(value, path);
      const fields: Record<string, unknown> = {};
      for (const [name, fieldType] of Object.entries(type.object.fields)) {
        fields[name] = toCel(record[name], fieldType, `${path}.${name}`);
      }
      return new type.object.ctor(fields);
    }
  }
}

function asRecord(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VariableShapeError(`${path} must be an object`);
  }
  return value as Record<string, unknown>;
}

// --- References

/** Macros whose first argument names a variable bound in the arguments after it. */
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

function collectReferences(
  node: ASTNode,
  variables: ReadonlySet<string>,
  bound: ReadonlySet<string>,
  into: Set<string>,
): void {
  const visit = (child: ASTNode, scope: ReadonlySet<string> = bound): void =>
    collectReferences(child, variables, scope, into);
  switch (node.op) {
    case 'value':
      return;
    case 'id':
      if (variables.has(node.args) && !bound.has(node.args)) into.add(node.args);
      return;
    case '.':
    case '.?':
      return visit(node.args[0]);
    case 'call':
      return node.args[1].forEach((arg) => visit(arg));
    case 'rcall': {
      const [name, receiver, args] = node.args;
      visit(receiver);
      const first = args[0];
      const isBind = name === 'bind' && receiver.op === 'id' && receiver.args === 'cel';
      if (first?.op !== 'id' || !(isBind || COMPREHENSIONS.has(name))) {
        return args.forEach((arg) => visit(arg));
      }
      // cel.bind(x, value, body): value is outside x's scope; comprehensions bind x in the rest.
      const inner = new Set([...bound, first.args]);
      return args.slice(1).forEach((arg, i) => visit(arg, isBind && i === 0 ? bound : inner));
    }
    case 'list':
      return node.args.forEach((item) => visit(item));
    case 'map':
      return node.args.forEach(([key, value]) => {
        visit(key);
        visit(value);
      });
    case '!_':
    case '-_':
      return visit(node.args);
    default:
      return node.args.forEach((arg) => visit(arg));
  }
}

// --- Checking and evaluating

function offsetOf(error: ParseError | CelTypeError | EvaluationError): number | undefined {
  return error.range?.start;
}

/** How deep a policy or verify expression may nest (operators, calls, members, literals). */
export const MAX_CEL_DEPTH = 100;
const TOO_DEEP = `the expression nests more than ${MAX_CEL_DEPTH} levels deep (operators, parentheses, calls); split it up`;

/** The depth of a parsed expression, walked without recursion so that the walk itself cannot overflow. */
function astDepth(root: ASTNode): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[root, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth] = next;
    if (Array.isArray(value)) {
      for (const item of value) pending.push([item, depth]);
    } else if (typeof value === 'object' && value !== null && 'op' in value && 'args' in value) {
      deepest = Math.max(deepest, depth + 1);
      if (deepest > MAX_CEL_DEPTH) return deepest;
      pending.push([(value as { args: unknown }).args, depth + 1]);
    }
  }
  return deepest;
}

/** Parses and type-checks; the expression must be of type bool. Pure. */
export function checkCel(context: CelContext, expression: string): CelCheckResult {
  const env = ENVIRONMENTS[context];
  let parsed;
  try {
    parsed = env.parse(expression);
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, message: error.summary, offset: offsetOf(error) };
    if (error instanceof RangeError) return { ok: false, message: TOO_DEEP };
    throw error;
  }
  // The library's limit counts calls, selects and indexes only; its type checker and evaluator
  // recurse through `!` and `&&` chains too, and overflow the stack on a fuzzed `!!!!…`.
  if (astDepth(parsed.ast) > MAX_CEL_DEPTH) return { ok: false, message: TOO_DEEP };
  const result = parsed.check();
  if (!result.valid) {
    const error = result.error;
    if (error === undefined) return { ok: false, message: 'invalid expression' };
    // The checker reports its own stack overflow as a result; it has no summary and no position.
    if (error instanceof RangeError) return { ok: false, message: TOO_DEEP };
    return { ok: false, message: error.summary, offset: offsetOf(error) };
  }
  // `dyn` is refused too: a gate's result should be a bool by construction (`response.body.ok == true`).
  if (result.type !== 'bool') {
    return { ok: false, message: `the expression must be of type bool, got ${result.type ?? 'unknown'}`, offset: 0 };
  }
  const references = new Set<string>();
  collectReferences(parsed.ast, new Set(Object.keys(VARIABLES[context])), new Set(), references);
  return { ok: true, references };
}

/** Throws ExpressionError, naming the expression, if `checkCel` would fail. */
export function compileCel(context: CelContext, expression: string): CompiledCel {
  const checked = checkCel(context, expression);
  if (!checked.ok) {
    const where = checked.offset === undefined ? '' : ` at offset ${checked.offset}`;
    throw new ExpressionError(
      `Invalid CEL expression ${JSON.stringify(expression)}${where}: ${checked.message}`,
      checked.offset ?? 0,
    );
  }
  const run = ENVIRONMENTS[context].parse(expression);
  const declared = VARIABLES[context];
  const references = checked.references;

  return {
    expression,
    references,
    evaluate(variables: Record<string, unknown>): boolean {
      const fail = (reason: string): Error =>
        new Error(`Cannot evaluate CEL expression ${JSON.stringify(expression)}: ${reason}`);
      const values: Record<string, unknown> = {};
      for (const name of references) {
        const type = declared[name];
        if (type === undefined || variables[name] === undefined) continue; // the library reports it
        try {
          values[name] = toCel(variables[name], type, name);
        } catch (error) {
          if (error instanceof VariableShapeError) throw fail(`variable ${error.message}`);
          throw error;
        }
      }

      let result: unknown;
      try {
        result = run(values);
      } catch (error) {
        if (!(error instanceof EvaluationError)) {
          // Not a CEL error: its message is unknown territory, so only its kind is named.
          throw fail(`internal error in the CEL library (${error instanceof Error ? error.name : typeof error})`);
        }
        const start = error.range?.start ?? 0;
        const end = error.range?.end ?? start;
        // The failing part of the expression comes from the expression, never from a value.
        const part = end > start ? ` (${expression.slice(start, end)})` : '';
        throw new ExpressionError(
          `Cannot evaluate CEL expression ${JSON.stringify(expression)} at offset ${start}${part}: ${error.code.replaceAll('_', ' ')}`,
          start,
        );
      }
      if (typeof result !== 'boolean') throw fail(`the result is not a bool (got ${typeof result})`);
      return result;
    },
  };
}
