import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { MAX_CONFIG_DEPTH } from '../../../src/core/config/nesting.js';
import { ENVIRONMENTS, problems, yaml } from './fixtures.js';

/*
 * Configs from fuzzing that used to crash the loader (stack overflows with no position) or forge
 * lines in its messages. Each must end in positioned problems, quickly.
 */

const COMPONENT = ['components:', '  api:', '    type: command', '    with: { apply: [./deploy.sh] }'];

/** A block mapping `depth` levels deep under environments.dev.vars. */
function deepBlockMapping(depth: number): string {
  const lines = ['project: shop', 'environments:', '  dev:', '    vars:'];
  for (let i = 0; i < depth; i++) lines.push(`${'  '.repeat(i + 3)}k${i}:`);
  lines.push(`${'  '.repeat(depth + 3)}x: 1`);
  return yaml(...lines, ...COMPONENT);
}

describe('a config nested too deeply', () => {
  it('a 2,000-deep block mapping is one positioned problem, not a stack overflow', () => {
    const found = problems(deepBlockMapping(2000));
    expect(found).toHaveLength(1);
    // The first line past the limit: 4 lines of header, then one line per level.
    expect(found[0]).toMatch(/^lockstep\.yaml:\d+:\d+: \(root\): the config nests more than 64 levels deep here/);
    const line = Number(found[0]?.split(':')[1]);
    expect(line).toBeGreaterThan(4 + MAX_CONFIG_DEPTH - 10);
    expect(line).toBeLessThanOrEqual(4 + MAX_CONFIG_DEPTH);
  });

  it('deep flow collections and compact sequences are caught the same way', () => {
    const flow = yaml('project: shop', 'environments:', `  dev: { vars: { x: ${'['.repeat(5000)}${']'.repeat(5000)} } }`, ...COMPONENT);
    expect(problems(flow)).toEqual([expect.stringMatching(/^lockstep\.yaml:3:\d+: \(root\): the config nests more than 64/)]);
    const dashes = yaml('project: shop', 'environments:', '  dev:', '    vars:', `      x: ${'\n'}        ${'- '.repeat(3000)}a`, ...COMPONENT);
    expect(problems(dashes)).toEqual([expect.stringMatching(/^lockstep\.yaml:6:\d+: \(root\): the config nests more than 64/)]);
  });

  it('a nesting built from aliases is caught after parsing, with its path', () => {
    // Each line stays under the limit; the alias puts one inside the other.
    const deep = (inner: string): string => `${'['.repeat(50)}${inner}${']'.repeat(50)}`;
    const found = problems(yaml('project: shop', 'x:', `  a: &a ${deep('1')}`, `  b: ${deep('*a')}`, ...ENVIRONMENTS, ...COMPONENT));
    expect(found).toEqual([expect.stringMatching(/^lockstep\.yaml:\d+:\d+: x\.b(\.0)+: the config nests more than 64 levels deep/)]);
  });

  it('a config of ordinary depth with block scalars and indented text still loads', () => {
    const source = yaml(
      'project: shop',
      ...ENVIRONMENTS,
      'components:',
      '  api:',
      '    type: command',
      '    with:',
      '      apply:',
      '        - sh',
      '        - -c',
      '        - |',
      ...Array.from({ length: 100 }, (_, i) => `          ${' '.repeat(i)}echo ${i}`),
    );
    expect(() => loadConfig(source, 'lockstep.yaml', new Map())).not.toThrow(/nests more than/);
  });
});

describe('expressions nested too deeply', () => {
  it('5,000 nested parentheses are a positioned problem', () => {
    const expression = `${'('.repeat(5000)}1${')'.repeat(5000)}`;
    const found = problems(yaml('project: shop', ...ENVIRONMENTS, ...COMPONENT.slice(0, 3), `    with: { apply: ["\${{ ${expression} }}"] }`));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^lockstep\.yaml:11:\d+: components\.api\.with\.apply\.0: the expression nests more than 100 levels deep/);
    // The message shows a part of the expression, not all 10,000 characters.
    expect(found[0]?.length).toBeLessThan(500);
  });
});

describe('names in messages', () => {
  it('a key with a line break is printed escaped, on one line', () => {
    const found = problems(yaml('project: shop', 'environments:', '  "dev\\nlockstep.yaml:1:1: (root): forged": {}', ...COMPONENT));
    expect(found).toHaveLength(1);
    expect(found[0]).not.toContain('\n');
    expect(found[0]).toContain('environments.dev\\nlockstep.yaml:1:1: (root): forged: an environment name must start');
  });

  it('__proto__ as a key is refused at the key, never dropped', () => {
    const found = problems(
      yaml('project: shop', 'environments:', '  dev: { vars: { __proto__: 1 } }', '  __proto__: { after: [dev] }', ...COMPONENT),
    );
    expect(found).toEqual([
      'lockstep.yaml:3:18: environments.dev.vars.__proto__: __proto__ cannot be a key in a config: JavaScript gives the name a meaning of its own',
      'lockstep.yaml:4:3: environments.__proto__: __proto__ cannot be a key in a config: JavaScript gives the name a meaning of its own',
    ]);
  });
});

describe('YAML errors in a value', () => {
  it('a flow value the parser reads as a nested mapping is reported at the field that holds it', () => {
    const found = problems(yaml('project: shop', ...ENVIRONMENTS, ...COMPONENT.slice(0, 3), '    with:', '      apply: (local host: a)'));
    expect(found).toEqual([
      'lockstep.yaml:12:14: components.api.with.apply: YAML: Nested mappings are not allowed in compact mappings',
    ]);
  });
});
