import { Background, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import { memo, useEffect, useMemo, useRef, useState } from 'react';
import type { PlannedStep, Step } from '../../api/types.js';
import { duration } from '../../shell/format.js';
import { layoutGraph, NODE_HEIGHT, NODE_WIDTH, type Placed } from './graph-layout.js';

type StepNodeData = { component: string; type: string; state: string; took?: string; action: string };
type StepNode = Node<StepNodeData, 'step'>;

/**
 * The promotion's DAG: one node per component, coloured by its step's state, laid out by ELK (or,
 * for large plans, by the plan's levels: see layoutGraph) and drawn by React Flow. The layout depends
 * only on the plan (it never moves while states change); states come from the steps, which the page
 * keeps live. A node or edge whose drawing did not change keeps its object from the render before,
 * so React Flow (whose node components are memoized) redraws only the steps that changed; nodes
 * outside the viewport are not drawn.
 */
export function PromotionGraph({
  plan,
  steps,
  onSelect,
}: {
  plan: PlannedStep[];
  steps: Step[];
  onSelect: (component: string) => void;
}) {
  const [placed, setPlaced] = useState<Placed[] | undefined>();
  const shape = plan.map((s) => `${s.component}<${s.dependsOn.join(',')}`).join(';');
  useEffect(() => {
    let cancelled = false;
    void layoutGraph(plan.map((s) => ({ id: s.component, dependsOn: s.dependsOn, level: s.level }))).then((p) => {
      if (!cancelled) setPlaced(p);
    });
    return () => {
      cancelled = true;
    };
    // Laid out again only when the plan's shape changes (a replan), never for a state change.
  }, [shape]);

  const byComponent = useMemo(() => new Map(steps.map((s) => [s.component, s])), [steps]);
  // The previous render's node and edge objects, by id, with the layout they were made for.
  const made = useRef<{ placed?: Placed[]; nodes: Map<string, StepNode>; edges: Map<string, Edge> }>({
    nodes: new Map(),
    edges: new Map(),
  });
  if (made.current.placed !== placed) made.current = { placed, nodes: new Map(), edges: new Map() };
  const nodes: StepNode[] = useMemo(() => {
    const at = new Map((placed ?? []).map((p) => [p.id, p]));
    const before = made.current.nodes;
    const now = new Map<string, StepNode>();
    const list = plan.map((s) => {
      const step = byComponent.get(s.component);
      const state = step?.state ?? (s.action === 'unchanged' ? 'unchanged' : 'planned');
      const took = duration(step?.startedAt, step?.finishedAt);
      const x = at.get(s.component)?.x ?? 0;
      const y = at.get(s.component)?.y ?? 0;
      const old = before.get(s.component);
      const node: StepNode =
        old !== undefined &&
        old.data.state === state &&
        old.data.took === took &&
        old.data.type === s.type &&
        old.data.action === s.action &&
        old.position.x === x &&
        old.position.y === y
          ? old
          : {
              id: s.component,
              type: 'step',
              position: { x, y },
              data: {
                component: s.component,
                type: s.type,
                state,
                action: s.action,
                ...(took === undefined ? {} : { took }),
              },
              ariaLabel: `${s.component}: ${state}`,
              width: NODE_WIDTH,
              height: NODE_HEIGHT,
              draggable: false,
              connectable: false,
            };
      now.set(s.component, node);
      return node;
    });
    made.current.nodes = now;
    return list;
  }, [plan, byComponent, placed]);
  const edges: Edge[] = useMemo(() => {
    const before = made.current.edges;
    const now = new Map<string, Edge>();
    const list = plan.flatMap((s) =>
      s.dependsOn.map((d) => {
        const id = `${d}->${s.component}`;
        const animated = byComponent.get(s.component)?.state === 'running';
        const old = before.get(id);
        const edge = old !== undefined && old.animated === animated ? old : { id, source: d, target: s.component, animated };
        now.set(id, edge);
        return edge;
      }),
    );
    made.current.edges = now;
    return list;
  }, [plan, byComponent, placed]);

  if (placed === undefined) return <p className="loading">Laying out the graph…</p>;
  return (
    <div className="graph" role="group" aria-label="Promotion graph" data-steps={nodes.length}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        fitView
        onlyRenderVisibleElements
        fitViewOptions={{ padding: 0.15, maxZoom: 1 }}
        minZoom={0.05}
        nodesDraggable={false}
        nodesConnectable={false}
        nodesFocusable={false}
        edgesFocusable={false}
        elementsSelectable
        onNodeClick={(_, node) => onSelect(node.id)}
        proOptions={{ hideAttribution: false }}
      >
        <Background gap={24} />
      </ReactFlow>
    </div>
  );
}

const StepNodeView = memo(function StepNodeView({ data }: NodeProps<StepNode>) {
  return (
    <div className={`step-node step-${data.state}`} data-step-state={data.state} data-component={data.component}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      {/* A real link: the keyboard reaches each step's row (state, outputs, log) from the graph. */}
      <a className="step-node-name" href={`#step-${data.component}`}>
        {data.component}
      </a>
      <div className="step-node-meta">
        <span className="step-node-state">{data.state}</span>
        <span>{data.type}</span>
        {data.took !== undefined && <span>{data.took}</span>}
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const NODE_TYPES = { step: StepNodeView };
