import type { ELK, ElkNode } from 'elkjs/lib/elk-api.js';

export interface LayoutInput {
  id: string;
  dependsOn: readonly string[];
}

export interface Placed {
  id: string;
  x: number;
  y: number;
}

export const NODE_WIDTH = 210;
export const NODE_HEIGHT = 64;

// ELK is most of the UI's code (about 1.4 MB): loaded when a promotion's graph is first laid out, so
// the board and the sign-in page do not wait for it.
let elk: Promise<ELK> | undefined;
const loadElk = (): Promise<ELK> =>
  (elk ??= import('elkjs/lib/elk.bundled.js').then(({ default: Elk }) => new Elk()));

/**
 * Lays a promotion's DAG out left to right with ELK's layered algorithm (dependencies before their
 * dependents, crossings minimised). Runs in the page (elkjs' bundled build, no worker): a thousand
 * steps take well under a second.
 */
export async function layoutGraph(nodes: readonly LayoutInput[]): Promise<Placed[]> {
  const ids = new Set(nodes.map((n) => n.id));
  const graph: ElkNode = {
    id: 'promotion',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70',
      'elk.spacing.nodeNode': '24',
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
