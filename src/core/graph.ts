import { findReferences } from './expression/template.js';
import type { ProjectConfig } from './model.js';

/**
 * Dependency graphs of components (and of environments' `after`). Edges point from a node to the
 * nodes it depends on. Pure and deterministic: the same graph always gives the same answer, in the
 * same order.
 */

/**
 * Each component's dependencies: its explicit `dependsOn` and every component its `with` references
 * through `components.<c>.…`, sorted and without duplicates. A reference to itself is not an edge
 * (the validator reports it); a `dependsOn` naming itself is kept, so it shows as a cycle.
 */
export function componentDependencies(config: ProjectConfig): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, component] of Object.entries(config.components)) {
    const deps = new Set(component.dependsOn);
    for (const ref of findReferences(component.with).refs) {
      const target = ref.path[1];
      if (ref.path[0] === 'components' && target !== undefined && target !== name) deps.add(target);
    }
    out.set(name, [...deps].sort());
  }
  return out;
}

/**
 * Every dependency cycle, each in cycle order (`['a', 'b', 'c']` is a → b → c → a); self-loops are
 * one-node cycles. Found per strongly connected component (Tarjan): the shortest cycle through its
 * smallest node, then the shortest through the smallest node not yet on a reported cycle (each
 * cycle starts at that node), until every node of the component is on one. Cycles are sorted.
 * Edges to nodes outside `nodes` are ignored.
 */
export function findCycles(nodes: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const known = new Set(nodes);
  const next = (node: string): string[] => [...new Set(edges.get(node) ?? [])].filter((n) => known.has(n)).sort();
  const cycles: string[][] = [];
  for (const component of stronglyConnected([...known].sort(), next)) {
    if (component.length === 1) {
      const only = component[0] as string;
      if (next(only).includes(only)) cycles.push([only]);
      continue;
    }
    const members = new Set(component);
    const covered = new Set<string>();
    for (const start of [...component].sort()) {
      if (covered.has(start)) continue;
      const cycle = shortestCycle(start, (n) => next(n).filter((m) => members.has(m)));
      cycle.forEach((n) => covered.add(n));
      cycles.push(cycle);
    }
  }
  return cycles.sort((a, b) => compare(a.join('\0'), b.join('\0')));
}

/**
 * The nodes by level: level 0 has no dependencies, level n depends on something at level n-1 and
 * nothing deeper. Each level is sorted. Edges to nodes outside `nodes` are ignored (planning a subset
 * of components). Throws an Error naming the cycle when there is one.
 */
export function dagLevels(nodes: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles = findCycles(nodes, edges);
  if (cycles.length > 0) {
    throw new Error(cycles.map((c) => `dependency cycle: ${formatCycle(c)}`).join('\n'));
  }
  const known = new Set(nodes);
  const level = new Map<string, number>();
  const levelOf = (node: string): number => {
    const cached = level.get(node);
    if (cached !== undefined) return cached;
    // No cycles, so the recursion ends; its depth is at most the longest dependency chain.
    const deps = (edges.get(node) ?? []).filter((n) => known.has(n));
    const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(levelOf));
    level.set(node, value);
    return value;
  };
  const levels: string[][] = [];
  for (const node of [...known].sort()) {
    const l = levelOf(node);
    while (levels.length <= l) levels.push([]);
    levels[l]?.push(node);
  }
  return levels;
}

/** `a → b → c → a`. */
export function formatCycle(cycle: readonly string[]): string {
  return [...cycle, cycle[0] ?? ''].join(' → ');
}

/** Tarjan's algorithm, iterative (no recursion limit on long chains). */
function stronglyConnected(nodes: readonly string[], next: (node: string) => string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; children: string[]; i: number }[] = [];
    const enter = (node: string): void => {
      index.set(node, counter);
      low.set(node, counter);
      counter++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, children: next(node), i: 0 });
    };
    enter(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as (typeof work)[number];
      const child = frame.children[frame.i];
      if (child !== undefined) {
        frame.i++;
        if (!index.has(child)) enter(child);
        else if (onStack.has(child)) low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(child) ?? 0));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop();
          if (member === undefined) break;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        out.push(component);
      }
    }
  }
  return out;
}

/** The shortest path from `start` back to itself (breadth first, neighbours in sorted order). */
function shortestCycle(start: string, next: (node: string) => string[]): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as string;
    for (const n of next(node)) {
      if (n === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(parent.get(path[0] as string) as string);
        return path;
      }
      if (!parent.has(n)) {
        parent.set(n, node);
        queue.push(n);
      }
    }
  }
  return [start];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
