/**
 * What differs between two environments (or two releases): values flattened to dotted paths and
 * compared leaf by leaf. Pure. A value that is secret is never held here: its side carries only a
 * comparison key (a fingerprint, or the value itself while it stays in memory of the caller), and the
 * result says changed, unchanged or unknown. docs/diff.md describes the output.
 */

/** One compared value: a field of a component's inputs, an output, a gate setting, a label. */
export interface ValueDiff {
  path: string;
  /** Absent: not set on that side, or secret. */
  left?: unknown;
  right?: unknown;
  /** A secret (or a sensitive output): only whether it changed is shown. */
  secret?: true;
  /** null: cannot be told (a secret not available here, a sensitive value with no fingerprint). */
  changed: boolean | null;
}

/** A side of a comparison, leaf by leaf. */
export type Leaves = Map<string, Leaf>;

/** A plain value; or a secret one, known only by a key to compare (undefined: unknown). */
export type Leaf = { secret: false; value: unknown } | { secret: true; key: string | undefined };

/**
 * Flattens a value into its leaves: `with.set.0.tag`. A list of plain values (`hosts: [a, b]`) is
 * one leaf, read as a whole; a list holding objects is entered by index; an empty object is no leaf
 * (its absence and its emptiness read the same).
 */
export function flatten(value: unknown, prefix: string, out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) {
    value.forEach((v, i) => flatten(v, join(prefix, String(i)), out));
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, join(prefix, k), out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** Plain leaves: every value shown. */
export function plainLeaves(value: unknown, prefix = ''): Leaves {
  return new Map([...flatten(value, prefix)].map(([k, v]) => [k, { secret: false, value: v }]));
}

/**
 * The leaves that differ, and every secret leaf (changed or not: a person asks whether the secret is
 * the same one), in path order.
 */
export function compareLeaves(left: Leaves, right: Leaves): ValueDiff[] {
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort(comparePaths);
  const out: ValueDiff[] = [];
  const parentsLeft = parents(left);
  const parentsRight = parents(right);
  for (const path of paths) {
    // An empty list on one side, entries under it on the other: the entries are what differs.
    const l = emptyList(left.get(path)) && parentsRight.has(path) ? undefined : left.get(path);
    const r = emptyList(right.get(path)) && parentsLeft.has(path) ? undefined : right.get(path);
    if (l === undefined && r === undefined) continue;
    if (l?.secret === true || r?.secret === true) {
      const changed = l === undefined || r === undefined ? true : !l.secret || !r.secret ? true : l.key === undefined || r.key === undefined ? null : l.key !== r.key;
      // A side that is plain while the other is secret: the plain value may be shown, the secret never.
      out.push({ path, ...(l !== undefined && !l.secret ? { left: l.value } : {}), ...(r !== undefined && !r.secret ? { right: r.value } : {}), secret: true, changed });
      continue;
    }
    if (l !== undefined && r !== undefined && sameValue(l.value, r.value)) continue;
    out.push({ path, ...(l !== undefined ? { left: l.value } : {}), ...(r !== undefined ? { right: r.value } : {}), changed: true });
  }
  return out;
}

function emptyList(leaf: Leaf | undefined): boolean {
  return leaf !== undefined && !leaf.secret && Array.isArray(leaf.value) && leaf.value.length === 0;
}

/** Every path that has leaves under it: `a.0` and `a` for `a.0.b`. */
function parents(leaves: Leaves): Set<string> {
  const out = new Set<string>();
  for (const path of leaves.keys()) {
    const parts = path.split('.');
    for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('.'));
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Paths in order, numbers as numbers: `a.2` before `a.10`. */
function comparePaths(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
