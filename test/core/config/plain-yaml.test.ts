import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { initTemplate } from '../../../src/core/config/init-template.js';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { readPlainYaml } from '../../../src/core/config/plain-yaml.js';
import { ADAPTERS, ENVIRONMENTS, problemsOf, yaml } from './fixtures.js';

/*
 * readPlainYaml must give exactly what the `yaml` library gives (with the loader's options), or
 * decline. Both parsers run for real on every document below: the configs in the repository and
 * generated documents with the YAML forms where two parsers are likely to differ.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** What `yaml` makes of a document, as the loader parses it (with the parser's duplicate-key check on). */
function oracle(source: string): { errors: string[]; value?: unknown } {
  const doc = parseDocument(source, { prettyErrors: false, merge: true, stringKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) return { errors: doc.errors.map((e) => e.code) };
  try {
    return { errors: [], value: doc.toJS({ maxAliasCount: 1000 }) };
  } catch (error) {
    return { errors: [String(error)] };
  }
}

/**
 * A value as a tree that shows what toEqual does not: the order of keys, own `__proto__` keys,
 * -0, NaN and the infinities.
 */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return ['seq', value.map(shape)];
  if (value !== null && typeof value === 'object') {
    return ['map', Object.keys(value).map((k) => [k, shape((value as Record<string, unknown>)[k])])];
  }
  if (typeof value === 'number') return ['number', Object.is(value, -0) ? '-0' : String(value)];
  return [typeof value, value];
}

/** Asserts the fast reader agrees with `yaml`; returns whether it read the document (did not decline). */
function agrees(source: string): boolean {
  const fast = readPlainYaml(source);
  if (fast === undefined) return false;
  const expected = oracle(source);
  expect(expected.errors, JSON.stringify(source)).toEqual([]);
  expect(shape(fast.value), JSON.stringify(source)).toEqual(shape(expected.value));
  return true;
}

/** ```yaml blocks of a markdown file, also inside list items (their indentation removed). */
function yamlBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  let open: { indent: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    if (open === undefined) {
      const fence = /^(\s*)```yaml\s*$/.exec(line);
      if (fence) open = { indent: fence[1] ?? '', lines: [] };
    } else if (/^\s*```\s*$/.test(line)) {
      blocks.push(open.lines.join('\n') + '\n');
      open = undefined;
    } else {
      open.lines.push(line.startsWith(open.indent) ? line.slice(open.indent.length) : line.trimStart());
    }
  }
  return blocks;
}

function repositoryConfigs(): [string, string][] {
  const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
    f.endsWith('.md'),
  );
  const out: [string, string][] = [];
  for (const file of docs) {
    yamlBlocks(readFileSync(join(ROOT, file), 'utf8')).forEach((block, i) =>
      out.push([`${file} block ${i + 1}`, block]),
    );
  }
  const demo = join(ROOT, 'scripts', 'demo-project');
  for (const file of readdirSync(demo, { recursive: true, encoding: 'utf8' })) {
    if (/\.ya?ml$/.test(file)) out.push([`scripts/demo-project/${file}`, readFileSync(join(demo, file), 'utf8')]);
  }
  out.push(['the init template', initTemplate()]);
  return out;
}

/** The config bench/validate-plan.mjs generates, with `count` components. */
function benchConfig(count: number): string {
  const lines = ['project: bench', 'environments:'];
  lines.push('  dev:', '    vars: { replicas: 1 }');
  lines.push('  staging:', '    after: [dev]', '    vars: { replicas: 2 }');
  lines.push('  prod-eu:', '    after: [staging]', '    onFailure: rollback', '    vars: { replicas: 3 }');
  lines.push('components:');
  for (let i = 0; i < count; i++) {
    lines.push(`  c${i}:`, '    type: command');
    if (i >= 20) lines.push(`    dependsOn: [c${i - 20}]`);
    lines.push(
      '    with:',
      `      apply: ["./deploy.sh", "c${i}", "\${{ version }}"]`,
      '      env:',
      '        REPLICAS: "${{ env.vars.replicas }}"',
    );
  }
  return yaml(...lines);
}

/** Plain scalars whose type the YAML 1.2 core schema decides, and near misses that stay strings. */
const SCALARS = [
  '1',
  '+1',
  '-1',
  '0',
  '-0',
  '012',
  '007',
  '1_000',
  '0b1',
  '0o17',
  '0o8',
  '0O17',
  '0x1F',
  '0xff',
  '0X1F',
  '0x',
  '1e3',
  '1E+3',
  '-1e-3',
  '1e',
  'e3',
  '.5',
  '-.5',
  '1.',
  '1.5',
  '-0.0',
  '+0.5',
  '1.2.3',
  '.',
  '12345678901234567890',
  '.inf',
  '-.Inf',
  '+.INF',
  '.nan',
  '.NaN',
  '.NAN',
  '-.nan',
  'inf',
  'nan',
  'Infinity',
  'true',
  'True',
  'TRUE',
  'tRue',
  'false',
  'False',
  'FALSE',
  'yes',
  'Yes',
  'no',
  'on',
  'off',
  'y',
  'n',
  '~',
  'null',
  'Null',
  'NULL',
  'nULL',
  '',
  '2001-12-14',
  '2001-12-14t21:59:43.10-05:00',
  '12:30:00',
  '1:2',
  '=',
  '<<',
  '-',
  '--',
  'a b',
  'a#b',
  'a: b',
  'é',
  '✓ 😀',
  '${{ version }}',
  'http://x:8080/a?b=c#d',
];

function scalarDocuments(): string[] {
  const docs: string[] = [];
  for (const s of SCALARS) {
    docs.push(
      `a: ${s}\n`,
      `a: [${s}]\n`,
      `a: {b: ${s}}\n`,
      `- ${s}\n`,
      `${s}: a\n`,
      `a: "${s}"\n`,
      `a: '${s}'\n`,
      `"${s}": a\n`,
    );
    docs.push(`a: ${s} # comment\n`, `a:\n  - ${s}\n  - x\n`, `a:\n  ${s}\n`);
  }
  return docs;
}

/** Strings, collections, comments and white space in their various forms. */
const TRICKY = [
  '',
  '\n',
  '# only a comment\n',
  '---\n',
  '---\na: 1\n...\n',
  '\ufeffa: 1\n',
  'a: 1',
  'a: 1\r\nb: "x\r\n y"\r\n',
  'a: "b\\x41\\u00e9\\U0001F600\\t\\n\\\\\\"\\/\\ \\_\\N\\L\\P\\0\\a\\e"\n',
  'a: "\\q"\n',
  'a: "\\u12"\n',
  "a: 'it''s'\n",
  'a: "multi\n  line"\n',
  "a: 'multi\n\n  line'\n",
  'a: plain\n  multi\n  line\n',
  'a: "b\n\n c"\n',
  'a: "\\\n  b"\n',
  'a: |\n  x\n  y\n',
  'a: >\n  x\n  y\n\n  z\n',
  'a: |-\n  x\n',
  'a: |+\n  x\n\n',
  'a: >2\n   x\n',
  'a: |\n\n  x\n',
  'a: >\n  x\n   y\n  z\n',
  'a: |\n x\n  y\n',
  'a: >-\n\n  x\n',
  'a: |\n  # not a comment\n',
  'a: [1, "2", {b: c}, [d]]\n',
  'a: {b: 1, c: [2, 3]}\n',
  'a: {b, c}\n',
  'a: [b: c]\n',
  'a: [? b : c]\n',
  'a: {? b}\n',
  'a: {"b":1}\n',
  'a: ["b":1]\n',
  'a: [a,]\n',
  'a: {a: 1,}\n',
  'a: [b\n]\n',
  'a: [b,\nc]\n',
  'a: [b,\n  c]\n',
  'a:\n  [\n  b\n  ]\n',
  'a: [,]\n',
  'a: {a: 1\n',
  'a: ]\n',
  'a: "unterminated\n',
  '{a: 1}\n',
  '[1, 2]\n',
  '- a\n- b\n',
  'a\n',
  '"str"\n',
  '1\n',
  '- - a\n  - b\n- c\n',
  '-   a:  1\n    b: 2\n',
  '- a: 1\n  b: 2\n-  c: 3\n',
  'a:\n  - b\n  -\n  - c\n',
  'a:\n- b\n- c\n',
  'a: - b\n',
  'a:\n  b:\n    c:\n      d: 1\n',
  'a: b #c\n',
  'a: b# c\n',
  'a: b\t#c\n',
  'a: "b"#c\n',
  "a: 'b'#c\n",
  'a: [b]#c\n',
  'a: {b: c}#d\n',
  'a:  #c\n  b\n',
  'a: b\n #c\nd: e\n',
  'a: b\n  c: d\n',
  'a: b: c\n',
  'a : b\n',
  'a:b\n',
  'a: b c\n',
  'a:\n',
  'a:\tb\n',
  'a:\t1\n',
  'a: 1\t\n',
  '\ta: 1\n',
  'a:\n\tb: 1\n',
  'a: [1,\t2]\n',
  'a:\n -\tb\n',
  'a:\n  - b\n\t- c\n',
  'a: @b\n',
  'a: `b\n',
  'a: %b\n',
  'a: b%\n',
  'a: ,b\n',
  'a: \u0007\n',
  'a: "\u0007"\n',
  'a: b\u2028c\n',
  'a: b\u0085c\n',
  'a\u00a0: b\n',
  'a: \u00a0b\n',
  'é: ✓\n',
  'a: "é ✓ 😀"\n',
  '__proto__: 1\n',
  'a: {__proto__: {b: 1}}\n',
  'toString: 1\nconstructor: {a: 1}\nhasOwnProperty: x\n',
  '"__proto__": [1]\n',
  'a: 1\na: 2\n',
  'a: 1\n"a": 2\n',
  'a: {b: 1, b: 2}\n',
  '1: a\n"1": b\n',
  '0x1: a\n1: b\n',
  '[a, b]: 1\n',
  '{a: b}: 1\n',
  '? a\n: b\n',
  '? [a]\n: b\n',
  '? a\n',
  'a: {[b]: c}\n',
  '{: a}\n',
  'a: &x 1\nb: *x\n',
  '&a a: 1\n',
  'a: *b\n',
  'a: !!str 1\n',
  'a: !!int "1"\n',
  'a: ! 1\n',
  'a: !<?> 1\n',
  'a: !custom 1\n',
  '!!map\na: 1\n',
  '<<: {a: 1}\n',
  'b: {<<: {a: 1}}\n',
  '"<<": 1\n',
  '%YAML 1.2\n---\na: 1\n',
  '%YAML 1.1\n---\na: yes\n',
  '%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n',
  '%FOO x\n---\na: 1\n',
  'a: 1\n---\nb: 2\n',
  'a: b\n...\nc: d\n',
  'a: b\n--- c\n',
  '- -\n  - x\n',
  '- - a\n- b\n',
  '- - - a\n    - b\n  - c\n',
  'a:\n  - - a\n    - b\n  - c\n',
  '- ? a\n  : b\n',
  '- a: 1\n  - b\n',
  'a:\n  b:\n  c: 1\n',
  '- a:\n  b: 1\n',
  '- - a: 1\n    b: 2\n  - c\n',
  `k${'x'.repeat(1030)}: 1\n`,
  `"${'x'.repeat(1030)}": 1\n`,
  `a: ${'x'.repeat(1030)}\n`,
  // Line breaks, document markers, block scalars and number edges.
  'a: 1\rb: 2\r',
  'a: 1\r\n\r\nb: 2\n',
  'a: b c: d\n',
  'a: "x y"\n',
  'a: xy\n',
  'a: 1\n﻿b: 2\n',
  '--- a: 1\n',
  '--- # c\na: 1\n',
  '---\n---\n',
  '--- |\n  x\n',
  'a  : b\n',
  'a: b   \n',
  'a: "b  \n  c"\n',
  "a: 'b  \n  c'\n",
  'a: |2-\n   x\n',
  'a: |-2\n   x\n',
  'a: |\n    \n  x\n',
  'a: |\n  x\n \n  y\n',
  'a: >\n  x\n\n    y\n  z\n',
  'a: >\n\n\n  x\n',
  'a: |\n  x\t\n',
  'a: |\n  \tx\n',
  'a: |\n  x\n# c\nb: 1\n',
  'a: >-\n  x\n\n\n',
  'a: |+\n\n',
  'a: |\n',
  'a: "a\\\n   b"\n',
  'a: "a \\\n   b"\n',
  "a: ''\n",
  'a: ""\n',
  'a: x\n  \n  y\n',
  'a:\n  x\n  y\n',
  '- x\n  y\n',
  'a: [x\n  y]\n',
  'a: {x: y\n  z}\n',
  'a: {b: }\n',
  'a: {b:c}\n',
  'a: {b: c:d}\n',
  'a: -1:2\n',
  'a: :b\n',
  'a: ::\n',
  'a: b :c\n',
  'a: [:b]\n',
  'a: 9007199254740993\n',
  'a: 1e400\n',
  'a: 0.1e-400\n',
  'a: 0xffffffffffffffffffff\n',
  'a: 0o777777777777777777777777777777\n',
  'a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n',
  'a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n',
];

/** A small seeded generator (mulberry32): the same documents on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PLAIN = [
  ...SCALARS.filter((s) => s !== '' && !s.includes(': ')),
  '${{ a && b }}',
  'a]b',
  '*a',
  '!a',
  '-a',
  '?a',
  'a?',
];
const KEYS = [
  'a',
  'b',
  'c1',
  'x-y',
  '__proto__',
  'constructor',
  '"q k"',
  "'s k'",
  'é',
  'k.v',
  'a b',
  '1',
  'true',
  '~',
  '<<',
  '"1"',
  "'null'",
];

/**
 * Random documents of nested block and flow collections with scalars in every style, block
 * scalars and comments: mostly valid YAML, so the comparison covers more than the error paths.
 */
function generatedDocuments(seed: number, count: number): string[] {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const scalar = (): string => {
    const s = pick(PLAIN);
    const r = next();
    if (r < 0.5) return s;
    if (r < 0.7) return JSON.stringify(s + pick(['', '\t', 'é', '\u2028', '\\']));
    if (r < 0.85) return `'${s.replace(/'/g, "''")}'`;
    return `"${pick(['\\x41', '\\u00e9', '\\t', '\\ ', '\\_', '\\N', '\\/', '\\e', '\\0', '\\\n  ', ' \n  ', '\n\n  '])}${s.replace(/[\\"]/g, '')}"`;
  };
  const flow = (depth: number): string => {
    const r = next();
    if (depth > 2 || r < 0.5) return scalar().replace(/\n/g, ' ');
    const n = Math.floor(next() * 3);
    if (r < 0.75) return `[${Array.from({ length: n }, () => flow(depth + 1)).join(pick([', ', ',', ' , ']))}]`;
    return `{${Array.from({ length: n }, () => `${pick(KEYS)}: ${flow(depth + 1)}`).join(', ')}}`;
  };
  const block = (indent: number, depth: number, out: string[]): void => {
    const sequence = next() < 0.3;
    const step = pick([1, 2, 4]);
    const pad = ' '.repeat(indent);
    for (let i = 0, n = 1 + Math.floor(next() * 4); i < n; i++) {
      const head = sequence ? `${pad}-` : `${pad}${pick(KEYS)}:`;
      const r = next();
      if (depth < 3 && r < 0.3) {
        out.push(head + pick(['', ' # c']));
        block(indent + step + (sequence ? 1 : 0), depth + 1, out);
      } else if (r < 0.4) {
        out.push(`${head} ${pick(['|', '|-', '>', '>-', '|+'])}`, `${pad}${' '.repeat(step)}line one #x`);
        if (next() < 0.5) out.push('');
        out.push(`${pad}${' '.repeat(step)}${pick(['line two', ' more', '\ttab'])}`);
      } else if (r < 0.6) {
        out.push(`${head} ${flow(0)}`);
      } else {
        out.push(
          `${head} ${scalar().replace(/\n/g, `\n${pad}${' '.repeat(step)}`)}${pick(['', ' # c', '  #c', '#c'])}`,
        );
      }
      if (next() < 0.1) out.push(pick(['', '# c', `${pad}# c`]));
    }
  };
  return Array.from({ length: count }, () => {
    const out: string[] = [];
    block(0, 0, out);
    return yaml(...out);
  });
}

describe('readPlainYaml gives what yaml gives, or declines', () => {
  it.each(repositoryConfigs())('%s', (_name, source) => {
    agrees(source);
  });

  it('the generated scalar forms', () => {
    for (const source of scalarDocuments()) agrees(source);
  });

  it('strings, collections, comments and white space', () => {
    for (const source of TRICKY) agrees(source);
  });

  it('generated documents', () => {
    const read = generatedDocuments(1, 3000).filter((source) => agrees(source));
    // Enough of them are plain for the comparison to mean something.
    expect(read.length).toBeGreaterThan(500);
  });

  it('the configs of the repository with a few characters changed', () => {
    const next = random(2);
    const configs = repositoryConfigs()
      .map(([, source]) => source)
      .filter((source) => readPlainYaml(source) !== undefined);
    const edits = [
      ' ',
      '\t',
      '\n',
      '\r\n',
      ':',
      ': ',
      '- ',
      '#',
      ' #',
      '"',
      "'",
      '[',
      ']',
      '{',
      '}',
      ',',
      '? ',
      '|',
      '>',
      '!',
      '&',
      '*',
      '%',
      '\\',
      '---',
      '\n...\n',
      'é',
      '\u2028',
      '\ufeff',
      '0',
      '~',
      '<<',
    ];
    let read = 0;
    for (let i = 0; i < 1500; i++) {
      let source = configs[Math.floor(next() * configs.length)] ?? '';
      for (let j = 0; j < 2; j++) {
        const at = Math.floor(next() * source.length);
        const edit = edits[Math.floor(next() * edits.length)] ?? '';
        source =
          next() < 0.6 ? source.slice(0, at) + edit + source.slice(at) : source.slice(0, at) + source.slice(at + 2);
      }
      if (agrees(source)) read++;
    }
    expect(read).toBeGreaterThan(300);
  });

  it('reads the configs of the repository that use no anchors, and the benchmark config', () => {
    const read = repositoryConfigs().filter(([, source]) => readPlainYaml(source) !== undefined);
    // Most examples are plain YAML: the fast path must not quietly decline everything.
    expect(read.length).toBeGreaterThan(20);
    expect(agrees(benchConfig(300))).toBe(true);
    expect(agrees(initTemplate())).toBe(true);
    // A flow collection as a block sequence entry is read through a node that only wraps it.
    expect(agrees('set:\n  - { a: 1, b: "${{ version }}" }\n  - [x, y]\n')).toBe(true);
  });

  it('types scalars as the YAML 1.2 core schema does', () => {
    const read = readPlainYaml(
      yaml(
        'a: [1, +1, 012, 0o17, 0x1F, 1e3, .5, 1., -0, .inf, -.Inf, .nan, true, False, ~, null, ""]',
        'b: [1_000, 0b1, Yes, on, 0X1F, 0o8, -.nan]',
      ),
    );
    expect(read).toBeDefined();
    expect(shape(read?.value)).toEqual(
      shape({
        a: [1, 1, 12, 15, 31, 1000, 0.5, 1, -0, Infinity, -Infinity, NaN, true, false, null, null, ''],
        b: ['1_000', '0b1', 'Yes', 'on', '0X1F', '0o8', '-.nan'],
      }),
    );
  });

  it.each([
    ['an anchor and an alias', 'a: &x 1\nb: *x\n'],
    ['an explicit tag', 'a: !!str 1\n'],
    ['the non-specific tag', 'a: ! 1\n'],
    ['a verbatim tag', 'a: !<?> 1\n'],
    ['a merge key', 'b: {<<: {a: 1}}\n'],
    ['a merge key in a flow pair', 'b: [<<: {a: 1}]\n'],
    ['a pair in a flow sequence', 'a: [b: c]\n'],
    ['a quoted << key, read as a merge key by neither parser but declined all the same', '"<<": 1\n'],
    ['a number key', '1: a\n'],
    ['a null key', '~: a\n'],
    ['a sequence key', '[a, b]: 1\n'],
    ['an explicit sequence key', '? [a]\n: b\n'],
    ['a directive', '%YAML 1.2\n---\na: 1\n'],
    ['two documents', 'a: 1\n---\nb: 2\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a comment without white space before it', 'a: "b"#c\n'],
    ['an implicit key over 1024 characters', `"${'x'.repeat(1030)}": 1\n`],
    ['an empty document', ''],
    ['a lone CR as a line break, which only js-yaml reads as one', 'a: 1\rb: 2\r'],
    ['content on the --- line, an error only in yaml', '--- a: 1\n'],
    ['a byte order mark after the start', 'a: 1\n\ufeffb: 2\n'],
    ['text right after ---, a key for yaml and a marker for js-yaml', '---a: 1\n'],
    ['a comment right after ---', '---# c\na: 1\n'],
    ['an escape past Unicode', 'a: "\\U00110000"\n'],
    ['a flow entry without a value', 'a: {b, c: 1}\n'],
    ['a flow mapping as a key without a value', 'a:\n  - --x=$: {{ b }}\n'],
    ['an empty value', 'a:\n'],
    ['an empty entry of a compact nested sequence, which js-yaml misreads', 'a:\n  - -\n  - x\n'],
    ['an empty sequence entry', 'a:\n  - b\n  -\n  - c\n'],
  ])('declines %s', (_name, source) => {
    expect(readPlainYaml(source)).toBeUndefined();
  });
});

describe('loadConfig reports the same problems whichever path it starts on', () => {
  const base = ['project: shop', ...ENVIRONMENTS, 'components:'];
  const broken: [string, string[]][] = [
    ['an unknown type', ['  api:', '    type: lambda']],
    ['an unknown dependency', ['  api:', '    type: command', '    dependsOn: [db]', '    with: { apply: [./a.sh] }']],
    [
      'a cycle',
      [
        '  a:',
        '    type: command',
        '    dependsOn: [b]',
        '    with: { apply: [./a.sh] }',
        '  b:',
        '    type: command',
        '    dependsOn: [a]',
        '    with: { apply: [./b.sh] }',
      ],
    ],
    ['a bad component name', ['  Api:', '    type: command', '    with: { apply: [./a.sh] }']],
    ['a spec problem', ['  api:', '    type: scale', '    with: { replicas: 0, hosts: [1] }']],
    ['a type mismatch in a handoff', ['  api:', '    type: scale', '    with: { replicas: "${{ env.vars.region }}" }']],
    ['an unknown reference', ['  api:', '    type: command', '    with: { apply: ["${{ components.db.version }}"] }']],
    ['an unknown field', ['  api:', '    type: command', '    colour: red', '    with: { apply: [./a.sh] }']],
  ];

  it.each(broken)('%s', (_name, lines) => {
    const source = yaml(...base, ...lines);
    // Plain YAML, so loadConfig starts on the fast path and must leave it for the problems.
    expect(readPlainYaml(source)).toBeDefined();
    const problems = problemsOf(source);
    expect(problems.length).toBeGreaterThan(0);
    // The same document behind a directive is not plain: loadConfig takes the full path at once.
    // The directive adds two lines before the document and changes nothing else.
    const full = `%YAML 1.2\n---\n${source}`;
    expect(readPlainYaml(full)).toBeUndefined();
    expect(problems).toEqual(problemsOf(full).map((p) => ({ ...p, line: p.line - 2 })));
  });

  it('locates values of a config read on the fast path', () => {
    const source = yaml(...base, '  api:', '    type: command', '    with: { apply: [./a.sh, "${{ version }}"] }');
    expect(readPlainYaml(source)).toBeDefined();
    const loaded = loadConfig(source, 'lockstep.yaml', ADAPTERS);
    expect(loaded.locate(['components', 'api', 'with', 'apply', 1])).toEqual({ line: 11, column: 29 });
    expect(loaded.locate(['environments', 'prod', 'after'])).toEqual({ line: 6, column: 12 });
  });
});
