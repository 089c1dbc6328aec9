import { InputError } from './errors.js';

/**
 * Release labels: `risk=high`, `team=payments`, `example.com/ticket=OPS-1`. Policies read them
 * (`release.labels[?'risk']`), so the rules keep a key something a policy can name and a value
 * something every table and log can print on one line. Pure.
 *
 * - A key is a Kubernetes label key: an optional prefix (a DNS subdomain: lower-case letters, digits,
 *   `-` and `.`, at most 253 characters) and `/`, then a name of 1 to 63 characters of letters, digits,
 *   `-`, `_` and `.` that starts and ends with a letter or digit.
 * - A value is 1 to 256 characters, with no control characters, line or paragraph separators or
 *   bidirectional formatting characters (which reorder how the rest of a line prints), and no
 *   white space at either end (`risk= high` is not `high` to a policy).
 * - At most 64 labels per release.
 */
export const LABEL_LIMITS = { nameLength: 63, prefixLength: 253, valueLength: 256, count: 64 } as const;

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
// Cc: C0 and C1 controls and DEL; Zl, Zp: U+2028, U+2029; U+202A–U+202E, U+2066–U+2069: bidi embeddings,
// overrides and isolates.
const UNPRINTABLE = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/u;

/** Why `key` is not a label key, or undefined when it is one. */
export function labelKeyProblem(key: string): string | undefined {
  if (key === '') return 'the key is empty';
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix === '' || [...prefix].length > LABEL_LIMITS.prefixLength || !prefix.split('.').every((part) => DNS_LABEL.test(part))) {
      return `the key's prefix must be a DNS subdomain (lower-case letters, digits, "-" and ".", at most ${LABEL_LIMITS.prefixLength} characters)`;
    }
  }
  if ([...name].length > LABEL_LIMITS.nameLength || !NAME.test(name)) {
    return `the key's name must be 1 to ${LABEL_LIMITS.nameLength} letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a label value, or undefined when it is one. Lengths count characters, not UTF-16 units. */
export function labelValueProblem(value: string): string | undefined {
  const length = [...value].length;
  if (length === 0) return 'the value is empty (leave the label out instead)';
  if (length > LABEL_LIMITS.valueLength) return `the value is longer than ${LABEL_LIMITS.valueLength} characters`;
  if (UNPRINTABLE.test(value)) return 'the value contains a control character, a line break or a bidirectional formatting character';
  if (value.trim() !== value) return 'the value starts or ends with white space';
  return undefined;
}

/**
 * Checks a whole set of labels (from the CLI or any other caller of the engine); every problem at once.
 * Keys are never echoed raw: a bad one is quoted as JSON, so a key holding a line break cannot forge
 * extra lines in the message. Throws InputError (field `--label`).
 */
export function checkLabels(labels: Readonly<Record<string, string>>): void {
  const problems: string[] = [];
  const keys = Object.keys(labels);
  if (keys.length > LABEL_LIMITS.count) problems.push(`${keys.length} labels: at most ${LABEL_LIMITS.count} are allowed`);
  for (const key of keys) {
    const value = labels[key];
    const problem = labelKeyProblem(key) ?? (typeof value === 'string' ? labelValueProblem(value) : 'the value must be text');
    if (problem !== undefined) problems.push(`--label ${JSON.stringify(key)}: ${problem}`);
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'), '--label');
}

/** Parses `--label KEY=VALUE` arguments (split at the first `=`) and checks them; every problem at once. */
export function parseLabelAssignments(pairs: readonly string[]): Record<string, string> {
  // A null-prototype object: a key such as `constructor` or `toString` is data, never a lookup into
  // Object.prototype, so the duplicate check below is exact.
  const labels = Object.create(null) as Record<string, string>;
  const problems: string[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      problems.push(`--label ${JSON.stringify(pair)}: expected KEY=VALUE`);
      continue;
    }
    const key = pair.slice(0, eq);
    if (Object.hasOwn(labels, key)) {
      problems.push(`--label ${JSON.stringify(key)} is given twice`);
      continue;
    }
    labels[key] = pair.slice(eq + 1);
  }
  try {
    checkLabels(labels);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.push(error.message);
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'), '--label');
  // A plain object again, with keys in a stable order, for the record and its JSON.
  return Object.fromEntries(Object.keys(labels).sort().map((key) => [key, labels[key] as string]));
}

/** `a=1 b=2`, keys sorted; labels are checked to print on one line. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key] ?? ''}`)
    .join(' ');
}

/** Same keys, same values. */
export function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}
