import { describe, expect, it } from 'vitest';
import { componentDependencies, dagLevels, findCycles, formatCycle } from '../../src/core/graph.js';
import type { ComponentConfig, ProjectConfig } from '../../src/core/model.js';

function graph(edges: Record<string, string[]>): [string[], Map<string, string[]>] {
  return [Object.keys(edges), new Map(Object.entries(edges))];
}

function component(name: string, dependsOn: string[], withBlock: Record<string, unknown> = {}): ComponentConfig {
  return { name, type: 'command', dependsOn, with: withBlock, outputs: {} };
}

describe('componentDependencies', () => {
  it('joins dependsOn and referenced components, sorted and deduped', () => {
    const config: ProjectConfig = {
      project: 'p',
      groups: {},
      environments: {},
      components: {
        api: component('api', ['schema', 'iam'], {
          env: {
            ROLE: '${{ components.iam.outputs.role_arn }}',
            Q: "${{ components['queue'].outputs.url }}",
            V: 'v${{ components.cache.version }}',
          },
          apply: ['x', '${{ env.name == "prod" ? components.zeta.outputs.a : "" }}'],
        }),
        self: component('self', [], { a: '${{ components.self.outputs.x }}' }),
        loop: component('loop', ['loop']),
        plain: component('plain', []),
      },
    };
    expect(componentDependencies(config)).toEqual(
      new Map([
        ['api', ['cache', 'iam', 'queue', 'schema', 'zeta']],
        ['self', []],
        ['loop', ['loop']],
        ['plain', []],
      ]),
    );
  });
});

describe('findCycles', () => {
  it('finds nothing in a DAG', () => {
    expect(findCycles(...graph({ a: ['b', 'c'], b: ['c'], c: [] }))).toEqual([]);
  });

  it('lists a cycle in order, from its smallest node', () => {
    expect(findCycles(...graph({ c: ['a'], a: ['b'], b: ['c'], d: ['a'] }))).toEqual([['a', 'b', 'c']]);
    expect(formatCycle(['a', 'b', 'c'])).toBe('a → b → c → a');
  });

  it('reports self-loops', () => {
    expect(findCycles(...graph({ a: ['a'], b: [] }))).toEqual([['a']]);
  });

  it('reports separate cycles separately, sorted', () => {
    expect(findCycles(...graph({ x: ['y'], y: ['x'], a: ['b'], b: ['a'], m: ['m'] }))).toEqual([
      ['a', 'b'],
      ['m'],
      ['x', 'y'],
    ]);
  });

  it('covers every node of a tangled component', () => {
    // a ⇄ b and b ⇄ c: one strongly connected component, no single simple cycle through all three.
    expect(findCycles(...graph({ a: ['b'], b: ['a', 'c'], c: ['b'] }))).toEqual([
      ['a', 'b'],
      ['c', 'b'],
    ]);
  });

  it('takes the shortest cycle through a node', () => {
    expect(findCycles(...graph({ a: ['b', 'd'], b: ['c'], c: ['a'], d: ['a'] }))).toEqual([
      ['a', 'd'],
      ['b', 'c', 'a'],
    ]);
  });

  it('ignores edges to unknown nodes and is deterministic whatever the input order', () => {
    const one = findCycles(
      ['b', 'a'],
      new Map([
        ['a', ['b', 'zzz']],
        ['b', ['a']],
      ]),
    );
    const two = findCycles(
      ['a', 'b'],
      new Map([
        ['b', ['a']],
        ['a', ['zzz', 'b']],
      ]),
    );
    expect(one).toEqual([['a', 'b']]);
    expect(two).toEqual(one);
  });

  it('handles long chains without recursion limits', () => {
    const n = 20_000;
    const edges = new Map<string, string[]>();
    const nodes: string[] = [];
    for (let i = 0; i < n; i++) {
      nodes.push(`n${i}`);
      edges.set(`n${i}`, [`n${(i + 1) % n}`]);
    }
    const cycles = findCycles(nodes, edges);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toHaveLength(n);
  });
});

describe('dagLevels', () => {
  it('groups nodes by longest dependency chain, each level sorted', () => {
    expect(
      dagLevels(...graph({ web: ['api'], api: ['schema', 'iam'], worker: ['iam'], schema: [], iam: [], docs: [] })),
    ).toEqual([['docs', 'iam', 'schema'], ['api', 'worker'], ['web']]);
  });

  it('ignores dependencies outside the node set', () => {
    expect(
      dagLevels(
        ['api', 'web'],
        new Map([
          ['api', ['schema']],
          ['web', ['api']],
        ]),
      ),
    ).toEqual([['api'], ['web']]);
  });

  it('returns no levels for no nodes', () => {
    expect(dagLevels([], new Map())).toEqual([]);
  });

  it('throws on a cycle, naming it', () => {
    expect(() => dagLevels(...graph({ a: ['b'], b: ['c'], c: ['a'] }))).toThrow('dependency cycle: a → b → c → a');
  });
});
