// The level layout of large promotion graphs: pure (no ELK, no React), so tests import it alone.

export interface LayoutInput {
  id: string;
  dependsOn: readonly string[];
  /** The plan's level of the step (0: depends on nothing in the plan); computed when absent. */
  level?: number;
}

export interface Placed {
  id: string;
  x: number;
  y: number;
}

export const NODE_WIDTH = 210;
export const NODE_HEIGHT = 64;
export const BETWEEN_LEVELS = 70;
export const BETWEEN_NODES = 24;

/**
 * The plan's DAG by its levels, in linear time: one column per level, left to right; in a column,
 * steps ordered by the mean row of their dependencies in the columns before (one barycentre pass,
 * ties kept in plan order), so edges mostly run straight; columns centred on one line. Deterministic:
 * the same plan always gives the same picture.
 */
export function levelLayout(nodes: readonly LayoutInput[]): Placed[] {
  const ids = new Set(nodes.map((n) => n.id));
  const level = new Map<string, number>();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  // The plan's levels when it has them; otherwise the longest path from a root (iteratively, no recursion).
  const levelOf = (id: string): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    const stack = [id];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] ?? '';
      const node = byId.get(top);
      const given = node?.level;
      if (given !== undefined) {
        level.set(top, given);
        stack.pop();
        continue;
      }
      const deps = (node?.dependsOn ?? []).filter((d) => ids.has(d));
      const open = deps.filter((d) => !level.has(d) && !stack.includes(d));
      if (open.length > 0) {
        stack.push(...open);
        continue;
      }
      level.set(top, deps.reduce((m, d) => Math.max(m, (level.get(d) ?? 0) + 1), 0));
      stack.pop();
    }
    return level.get(id) ?? 0;
  };
  const columns: LayoutInput[][] = [];
  for (const n of nodes) {
    const l = levelOf(n.id);
    while (columns.length <= l) columns.push([]);
    columns[l]?.push(n);
  }
  const tallest = Math.max(0, ...columns.map((c) => c.length));
  // A step's row, centred columns counted in: what the next column orders by.
  const row = new Map<string, number>();
  const placed: Placed[] = [];
  columns.forEach((column, l) => {
    const offset = (tallest - column.length) / 2;
    const keyed = column.map((n, i) => {
      const rows = n.dependsOn.map((d) => row.get(d)).filter((r): r is number => r !== undefined);
      return { n, i, key: rows.length === 0 ? offset + i : rows.reduce((a, b) => a + b, 0) / rows.length };
    });
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    keyed.forEach((k, r) => {
      row.set(k.n.id, offset + r);
      placed.push({ id: k.n.id, x: l * (NODE_WIDTH + BETWEEN_LEVELS), y: (offset + r) * (NODE_HEIGHT + BETWEEN_NODES) });
    });
  });
  return placed;
}
