import type { ELK, ElkNode } from 'elkjs/lib/elk-api.js';
import { levelLayout, NODE_WIDTH, NODE_HEIGHT, BETWEEN_LEVELS, BETWEEN_NODES, type LayoutInput, type Placed } from './level-layout.js';

export { NODE_HEIGHT, NODE_WIDTH, type LayoutInput, type Placed } from './level-layout.js';

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
