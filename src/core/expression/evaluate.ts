import type { Redactor } from '../redact.js';
import { ExpressionError } from './expression-error.js';
import { printExpression, type Expr } from './parser.js';

/**
 * What an expression can see. `values` holds the roots (`env`, `version`, `release`, `components`,
 * …). `secrets.NAME` is not in `values`: it calls `secret(NAME)`, and every value it returns is
 * added to `redactor`, so whatever prints the rendered result can hide it.
 */
export interface EvalScope {
  values: Record<string, unknown>;
  secret(name: string): string | undefined;
  redactor?: Redactor;
}

export interface EvaluateOptions {
  /**
   * When true, a result that is a missing reference throws "X is not available" instead of
   * returning undefined (rendering wants this: a field must not silently vanish).
   */
  requireValue?: boolean;
}

/**
 * Evaluates an expression. Pure apart from calling `scope.secret` and adding to `scope.redactor`.
 *
 * - A missing member gives `undefined`. That is allowed where a value is only tested (`!`, `&&`,
 *   `||`, `==`, `!=`, the condition of `?:`) and as the result; anywhere else (arithmetic, `+`,
 *   ordering, an index) it throws "X is not available", naming the reference.
 * - `==`/`!=` compare strictly (no coercion; arrays and objects by identity); `undefined` (missing)
 *   equals `null`, so `x.y == null` tests for absence.
 * - `&&`/`||` short-circuit and give booleans; truthiness is JavaScript's.
 * - `+` adds numbers, or concatenates when either side is a string.
 * - `secrets.NAME` throws "secret NAME is not set" when there is no such secret.
 *
 * Throws ExpressionError; its message names references and types, never values.
 */
export function evaluate(expr: Expr, scope: EvalScope, options: EvaluateOptions = {}): unknown {
  return new Evaluator(scope).value(expr, options.requireValue === true ? 'required' : 'optional');
}

/** 'optional': undefined (a missing reference) is a fine result; 'required': it is an error. */
type Need = 'required' | 'optional';

class Evaluator {
  constructor(private readonly scope: EvalScope) {}

  value(expr: Expr, need: Need): unknown {
    switch (expr.kind) {
      case 'literal':
        return expr.value;
      case 'identifier':
      case 'member':
      case 'index': {
        const result = this.reference(expr);
        if (result === undefined && need === 'required') {
          throw new ExpressionError(`${printExpression(expr)} is not available`, expr.start);
        }
        return result;
      }
      case 'unary':
        if (expr.operator === '!') return !truthy(this.value(expr.operand, 'optional'));
        return -this.number(expr.operand, '-');
      case 'conditional':
        return truthy(this.value(expr.test, 'optional'))
          ? this.value(expr.consequent, need)
          : this.value(expr.alternate, need);
      case 'binary':
        return this.binary(expr);
    }
  }

  private binary(expr: Extract<Expr, { kind: 'binary' }>): unknown {
    const { operator, left, right } = expr;
    switch (operator) {
      case '&&':
        return truthy(this.value(left, 'optional')) && truthy(this.value(right, 'optional'));
      case '||':
        return truthy(this.value(left, 'optional')) || truthy(this.value(right, 'optional'));
      case '==':
        return equal(this.value(left, 'optional'), this.value(right, 'optional'));
      case '!=':
        return !equal(this.value(left, 'optional'), this.value(right, 'optional'));
      case '+': {
        const a = this.value(left, 'required');
        const b = this.value(right, 'required');
        if (typeof a === 'string' || typeof b === 'string') return toText(a, left) + toText(b, right);
        if (typeof a === 'number' && typeof b === 'number') return a + b;
        throw new ExpressionError(`cannot add ${typeName(a)} and ${typeName(b)}`, expr.start);
      }
      case '-':
        return this.number(left, operator) - this.number(right, operator);
      case '*':
        return this.number(left, operator) * this.number(right, operator);
      case '/':
      case '%': {
        const a = this.number(left, operator);
        const b = this.number(right, operator);
        if (b === 0) throw new ExpressionError('division by zero', right.start);
        return operator === '/' ? a / b : a % b;
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const a = this.value(left, 'required');
        const b = this.value(right, 'required');
        const comparable =
          (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');
        if (!comparable) {
          throw new ExpressionError(`cannot compare ${typeName(a)} ${operator} ${typeName(b)}`, expr.start);
        }
        const x = a;
        const y = b;
        if (operator === '<') return x < y;
        if (operator === '<=') return x <= y;
        if (operator === '>') return x > y;
        return x >= y;
      }
    }
  }

  private number(expr: Expr, operator: string): number {
    const value = this.value(expr, 'required');
    if (typeof value !== 'number') {
      throw new ExpressionError(`${operator} needs numbers, got ${typeName(value)}`, expr.start);
    }
    return value;
  }

  /** The value a member chain points at, or undefined when any link is missing. */
  private reference(expr: Extract<Expr, { kind: 'identifier' | 'member' | 'index' }>): unknown {
    if (expr.kind === 'identifier') {
      if (expr.name === 'secrets') {
        throw new ExpressionError('secrets must be followed by a name, as in secrets.NAME', expr.start);
      }
      return Object.hasOwn(this.scope.values, expr.name) ? this.scope.values[expr.name] : undefined;
    }
    const key = expr.kind === 'member' ? expr.property : this.key(expr.index);
    if (expr.object.kind === 'identifier' && expr.object.name === 'secrets') return this.secret(key, expr);
    const base =
      expr.object.kind === 'identifier' || expr.object.kind === 'member' || expr.object.kind === 'index'
        ? this.reference(expr.object)
        : this.value(expr.object, 'optional');
    return member(base, key);
  }

  private key(expr: Expr): string | number {
    const key = this.value(expr, 'required');
    if (typeof key !== 'string' && typeof key !== 'number') {
      throw new ExpressionError(`an index must be a string or a number, got ${typeName(key)}`, expr.start);
    }
    return key;
  }

  private secret(name: string | number, expr: Expr): string {
    const value = this.scope.secret(String(name));
    if (value === undefined) throw new ExpressionError(`secret ${String(name)} is not set`, expr.start);
    this.scope.redactor?.add(value);
    return value;
  }
}

/** Own members only: `constructor`, `__proto__` and friends are never reachable. */
function member(base: unknown, key: string | number): unknown {
  if (Array.isArray(base)) {
    return typeof key === 'number' && Number.isInteger(key) && key >= 0 ? base[key] : undefined;
  }
  if (base !== null && typeof base === 'object') {
    const name = String(key);
    return Object.hasOwn(base, name) ? (base as Record<string, unknown>)[name] : undefined;
  }
  return undefined;
}

export function truthy(value: unknown): boolean {
  return Boolean(value);
}

function equal(a: unknown, b: unknown): boolean {
  if (a == null && b == null) return true;
  return a === b;
}

/**
 * A value as it appears inside text: strings as they are, numbers and booleans as JavaScript prints
 * them. null, objects and arrays throw: there is no text for them that is right in every field.
 */
export function toText(value: unknown, expr: Expr): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    case 'undefined':
      throw new ExpressionError(`${printExpression(expr)} is not available`, expr.start);
    default:
      throw new ExpressionError(
        `${printExpression(expr)} is ${typeName(value)}, which cannot be put into text; use it as the whole value or pick a field`,
        expr.start,
      );
  }
}

/** The type of a value, for messages (never the value itself: it may be a secret). */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
