import { describe, expect, it } from 'vitest';
import { levelLayout, NODE_HEIGHT, NODE_WIDTH, type LayoutInput } from '../../web/src/pages/promotion/level-layout.js';

const at = (placed: { id: string; x: number; y: number }[]) => new Map(placed.map((p) => [p.id, p]));

/** The bench's DAG: component i of layer L depends on two of layer L-1 (`width` per layer). */
function layered(steps: number, width: number, withLevels: boolean): LayoutInput[] {
  return Array.from({ length: steps }, (_, i) => {
    const layer = Math.floor(i / width);
    const slot = i % width;
    const dependsOn = layer === 0 ? [] : [...new Set([`c${(layer - 1) * width + slot}`, `c${(layer - 1) * width + ((slot + 1) % width)}`])];
    return { id: `c${i}`, dependsOn, ...(withLevels ? { level: layer } : {}) };
  });
}

describe('the promotion graph: the level layout of large plans', () => {
  it('puts each level in its own column, left to right, and no two steps on one spot', () => {
    const placed = at(levelLayout(layered(60, 20, true)));
    expect(placed.size).toBe(60);
    for (let i = 0; i < 60; i++) expect(placed.get(`c${i}`)?.x).toBe(Math.floor(i / 20) * (NODE_WIDTH + 70));
    const spots = new Set([...placed.values()].map((p) => `${p.x},${p.y}`));
    expect(spots.size).toBe(60);
  });

  it('works out the levels from the dependencies when the plan does not give them, the same way', () => {
    expect(levelLayout(layered(60, 20, false))).toEqual(levelLayout(layered(60, 20, true)));
  });

  it('orders a column by where its steps’ dependencies are, and centres shorter columns', () => {
    // b depends on the lower root, a on the upper one: in the second column a comes first whatever the plan's order.
    const placed = at(
      levelLayout([
        { id: 'top', dependsOn: [], level: 0 },
        { id: 'bottom', dependsOn: [], level: 0 },
        { id: 'b', dependsOn: ['bottom'], level: 1 },
        { id: 'a', dependsOn: ['top'], level: 1 },
        { id: 'last', dependsOn: ['a', 'b'], level: 2 },
      ]),
    );
    expect(placed.get('a')?.y).toBeLessThan(placed.get('b')?.y ?? -1);
    expect(placed.get('top')?.y).toBe(placed.get('a')?.y);
    expect(placed.get('last')?.y).toBe((NODE_HEIGHT + 24) / 2);
  });
});
