import type { OutputDeclaration, ValueType } from './model.js';
import { REDACTED } from './redact.js';

/**
 * Checks a step's outputs against the component's declarations before any dependent sees them.
 * Returns the declared outputs only (undeclared ones are dropped: nobody can reference them) and every
 * problem found. Problems never quote a sensitive value: one declared so, or named in `markedSensitive`
 * (by the system that produced it). Pure.
 */
export function checkOutputs(
  declarations: Readonly<Record<string, OutputDeclaration>>,
  produced: Readonly<Record<string, unknown>>,
  markedSensitive: readonly string[] = [],
): { outputs: Record<string, unknown>; problems: string[] } {
  const outputs: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, decl] of Object.entries(declarations)) {
    if (!(name in produced)) {
      problems.push(`output ${name} is declared but was not produced`);
      continue;
    }
    const value = produced[name];
    const secret = decl.sensitive === true || markedSensitive.includes(name);
    const shown = secret ? REDACTED : JSON.stringify(value);
    const typeProblem = typeMismatch(decl.type, value);
    if (typeProblem) {
      problems.push(`output ${name} must be ${decl.type}, got ${typeProblem}${secret ? '' : ` (${shown})`}`);
      continue;
    }
    if (decl.type === 'array' && decl.items && Array.isArray(value)) {
      const bad = value.findIndex((v) => typeMismatch(decl.items ?? 'any', v) !== undefined);
      if (bad >= 0) {
        problems.push(`output ${name}[${bad}] must be ${decl.items}`);
        continue;
      }
    }
    if (decl.pattern !== undefined && typeof value === 'string' && !new RegExp(decl.pattern, 'u').test(value)) {
      problems.push(`output ${name} ${shown} does not match pattern ${decl.pattern}`);
      continue;
    }
    if (decl.enum !== undefined && !decl.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
      problems.push(`output ${name} ${shown} is not one of ${JSON.stringify(decl.enum)}`);
      continue;
    }
    outputs[name] = value;
  }
  return { outputs, problems };
}

/** The JSON type of a value, as users read it. */
export function typeOfValue(value: unknown): ValueType | 'null' | 'undefined' {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'object') return typeof value as ValueType;
  return 'any';
}

/** undefined when `value` fits `type`; else the type it has. */
export function typeMismatch(type: ValueType, value: unknown): string | undefined {
  const actual = typeOfValue(value);
  if (type === 'any') return undefined;
  if (type === 'number' && (actual === 'integer' || actual === 'number')) return undefined;
  return actual === type ? undefined : actual;
}

/**
 * The names of a component's sensitive outputs: those lockstep.yaml declares `sensitive: true` and
 * those the producing system marked (`marked`), declared or not. Sorted, so records compare equal.
 */
export function sensitiveNames(
  declarations: Readonly<Record<string, OutputDeclaration>>,
  marked: readonly string[] = [],
): string[] {
  const names = new Set(marked);
  for (const [name, decl] of Object.entries(declarations)) if (decl.sensitive) names.add(name);
  return [...names].sort();
}

/** Copies outputs with the sensitive ones (by name) replaced by REDACTED: what the store keeps. */
export function redactSensitiveOutputs(
  outputs: Readonly<Record<string, unknown>>,
  sensitive: readonly string[],
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, sensitive.includes(k) ? REDACTED : v]));
}
