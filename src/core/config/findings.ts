import type { z } from 'zod';
import { isPlainObject } from '../expression/template.js';
import type { Path } from './positions.js';

/**
 * A problem found by a check, before it gets a file position. `target` says what to point at:
 * the value (default), the field's key, or — for a missing field — the key of the mapping it is
 * missing from. `offset` points inside a string value (at a `${{`).
 */
export interface Finding {
  path: Path;
  message: string;
  target?: 'value' | 'key' | 'parent';
  offset?: number;
  /** A character offset into a string value (a CEL expression): the position points at it. */
  character?: number;
}

/**
 * Turns zod issues into findings with messages a person can act on. `data` is the value that was
 * parsed (to tell a missing field from a wrong one); `prefix` is where it sits in the config;
 * `fieldsAt` lists the known fields of a mapping, for "did you mean".
 */
export function issueFindings(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  prefix: Path,
  fieldsAt: (path: Path) => readonly string[] | undefined = () => undefined,
): Finding[] {
  const out: Finding[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const full = [...prefix, ...path];
    if (issue.code === 'invalid_type' || issue.code === 'invalid_value' || issue.code === 'invalid_union') {
      const lookup = lookupPath(data, path);
      if (!lookup.found && lookup.parentIsObject) {
        out.push({ path: full, target: 'parent', message: `missing required field ${String(path.at(-1))}` });
        continue;
      }
    }
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          out.push({ path: [...full, key], target: 'key', message: unknownField(key, fieldsAt(path)) });
        }
        break;
      case 'invalid_type':
        out.push({
          path: full,
          message: `expected ${describeExpected(issue.expected)}, got ${describeValue(lookupPath(data, path).value)}`,
        });
        break;
      case 'invalid_value':
        out.push({
          path: full,
          message:
            issue.values.length === 1
              ? `expected ${JSON.stringify(issue.values[0])}`
              : `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
        });
        break;
      case 'invalid_key': {
        // Record keys: the name rule's own message says what is wrong.
        const inner = issue.issues[0]?.message ?? issue.message;
        out.push({ path: full, target: 'key', message: `${inner}: ${JSON.stringify(path.at(-1))}` });
        break;
      }
      case 'invalid_union': {
        const lookup = lookupPath(data, path);
        const expected = unionTypeMismatch(issue);
        // A union with its own message (`{ error: … }`) says it better than a list of types.
        const generic = issue.message === 'Invalid input';
        out.push({
          path: full,
          message:
            generic && expected !== undefined
              ? `expected ${orList(expected.map(describeExpected))}, got ${describeValue(lookup.value)}`
              : issue.message,
        });
        break;
      }
      default:
        out.push({ path: full, message: issue.message });
    }
  }
  return out;
}

/**
 * When every branch of a union failed only on its type at the union's own path, the types the
 * branches expected; otherwise undefined.
 */
export function unionTypeMismatch(issue: z.core.$ZodIssueInvalidUnion): string[] | undefined {
  if (issue.errors.length === 0) return undefined;
  const expected: string[] = [];
  for (const branch of issue.errors) {
    for (const sub of branch) {
      if (sub.path.length > 0) return undefined;
      if (sub.code === 'invalid_union') {
        const nested = unionTypeMismatch(sub);
        if (nested === undefined) return undefined;
        expected.push(...nested);
      } else if (sub.code === 'invalid_type') {
        expected.push(sub.expected);
      } else {
        return undefined;
      }
    }
  }
  return [...new Set(expected)];
}

export function unknownField(key: string, known: readonly string[] | undefined): string {
  if (!known || known.length === 0) return `unknown field ${key}`;
  const close = closest(key, known);
  if (close !== undefined) return `unknown field ${key} (did you mean ${close}?)`;
  return `unknown field ${key} (expected one of ${known.join(', ')})`;
}

/** A known name within two edits of `word` (case ignored), if there is one. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Follows `path` into plain data. */
export function lookupPath(data: unknown, path: Path): { found: boolean; value: unknown; parentIsObject: boolean } {
  let value = data;
  for (let i = 0; i < path.length; i++) {
    const key = path[i] as string | number;
    const last = i === path.length - 1;
    if (Array.isArray(value) && typeof key === 'number') {
      if (key >= value.length) return { found: false, value: undefined, parentIsObject: false };
      value = value[key];
    } else if (isPlainObject(value)) {
      if (!Object.hasOwn(value, String(key))) return { found: false, value: undefined, parentIsObject: last };
      value = value[String(key)];
    } else {
      return { found: false, value: undefined, parentIsObject: false };
    }
  }
  return { found: true, value, parentIsObject: false };
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  map: 'a mapping',
  null: 'null',
};

export function describeExpected(expected: string): string {
  return EXPECTED[expected] ?? expected;
}

/** The kind of a YAML value, for messages (never the value: it may come from a secret). */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (ArrayBuffer.isView(value)) return 'binary data';
  if (typeof value === 'object') return isPlainObject(value) ? 'a mapping' : 'an unsupported value';
  if (typeof value === 'number' && Number.isInteger(value)) return 'an integer';
  return `a ${typeof value}`;
}

/** `a`, `a or b`, `a, b or c`. */
export function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items.at(-1) ?? ''}`;
}

export function dotted(path: Path): string {
  return path.join('.');
}
