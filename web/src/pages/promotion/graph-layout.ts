import type { ELK, ElkNode } from 'elkjs/lib/elk-api.js';

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
const BETWEEN_LEVELS = 70;
const BETWEEN_NODES = 24;

/**
 * Above this many steps the graph is laid out from the plan's own levels (`levelLayout`), not by
 * ELK: ELK's layered layout takes seconds from a few hundred nodes on (10 to 20 s at 1,000, on the
 * page's main thread), where the level layout takes milliseconds.
 */
export const ELK_MAX_NODES = 150;

// ELK is most of the UI's code (about 1.4 MB): loaded when a promotion's graph is first laid out, so
// the board and the sign-in page do not wait for it.
let elk: Promise<ELK> | undefined;
const loadElk = (): Promise<ELK> =>
  (elk ??= import('elkjs/lib/elk.bundled.js').then(({ default: Elk }) => new Elk()));

/**
 * Lays a promotion's DAG out left to right, dependencies before their dependents: with ELK's layered
 * algorithm (crossings minimised) up to ELK_MAX_NODES steps, from the plan's levels above.
 */
export async function layoutGraph(nodes: readonly LayoutInput[]): Promise<Placed[]> {
  if (nodes.length > ELK_MAX_NODES) return levelLayout(nodes);
  const ids = new Set(nodes.map((n) => n.id));
  const graph: ElkNode = {
    id: 'promotion',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.layered.spacing.nodeNodeBetweenLayers': String(BETWEEN_LEVELS),
      'elk.spacing.nodeNode': String(BETWEEN_NODES),
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
    },
    children: nodes.map((n) => ({ id: n.id, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges: nodes.flatMap((n) =>
      n.dependsOn.filter((d) => ids.has(d)).map((d) => ({ id: `${d}->${n.id}`, sources: [d], targets: [n.id] })),
    ),
  };
  const laid = await (await loadElk()).layout(graph);
  return (laid.children ?? []).map((c) => ({ id: c.id, x: c.x ?? 0, y: c.y ?? 0 }));
}

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
