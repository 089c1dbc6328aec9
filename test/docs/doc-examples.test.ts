import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { lockstep } from '../helpers/cli.js';

/*
 * The docs promise that every complete lockstep.yaml they show is valid, that the one invalid
 * example prints exactly what they say, and that the README's quick start runs real npm scripts.
 * These tests keep those promises as the product changes: they run the built CLI, as a user would.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A ```yaml block whose first line is this is a complete config, and must validate. */
const COMPLETE = '# lockstep.yaml';
/** A ```yaml block whose first line is this must fail validation with the ```text block after it. */
const INVALID = '# an invalid lockstep.yaml';

/** The files that document the config: each must show at least one complete example. */
const FILES_WITH_CONFIG = ['README.md', 'docs/configuration.md', 'docs/command-adapter.md', 'docs/promotions.md'];

interface Block {
  /** The info string after the opening fence: `yaml`, `sh`, `text`, or ''. */
  lang: string;
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** Fenced code blocks, also inside list items (their indentation is removed). */
function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let open: { lang: string; indent: string; line: number; lines: string[] } | undefined;
  markdown.split('\n').forEach((raw, i) => {
    if (open === undefined) {
      const fence = /^(\s*)```(\S*)\s*$/.exec(raw);
      if (fence) open = { indent: fence[1] ?? '', lang: fence[2] ?? '', line: i + 1, lines: [] };
      return;
    }
    if (/^\s*```\s*$/.test(raw)) {
      blocks.push({ lang: open.lang, text: open.lines.join('\n') + '\n', line: open.line });
      open = undefined;
      return;
    }
    open.lines.push(raw.startsWith(open.indent) ? raw.slice(open.indent.length) : raw.trimStart());
  });
  return blocks;
}

const DOC_FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
const docs = new Map(DOC_FILES.map((file) => [file, readFileSync(join(ROOT, file), 'utf8')]));

function yamlBlocks(file: string): (Block & { index: number })[] {
  return fencedBlocks(docs.get(file) ?? '')
    .filter((b) => b.lang === 'yaml')
    .map((b, i) => ({ ...b, index: i + 1 }));
}

function firstLine(block: Block): string {
  return block.text.split('\n')[0]?.trim() ?? '';
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Writes `config` as lockstep.yaml in a fresh directory and runs `lockstep validate` there. */
function validate(config: string): ReturnType<typeof lockstep> {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-doc-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'lockstep.yaml'), config);
  return lockstep(dir, ['validate']);
}

describe('complete lockstep.yaml examples in the docs', () => {
  for (const file of DOC_FILES) {
    const complete = yamlBlocks(file).filter((b) => firstLine(b) === COMPLETE);
    for (const block of complete) {
      it(`${file}, yaml block ${block.index} (line ${block.line}) validates`, () => {
        const r = validate(block.text);
        expect(
          r.status,
          `${file}, yaml block ${block.index} (line ${block.line}) is not valid:\n${r.stderr}${r.stdout}`,
        ).toBe(0);
        expect(r.stdout).toMatch(/lockstep\.yaml: valid/);
      });
    }
  }

  it.each(FILES_WITH_CONFIG)('%s shows at least one complete example', (file) => {
    const complete = yamlBlocks(file).filter((b) => firstLine(b) === COMPLETE);
    expect(complete.length, `${file} has no \`\`\`yaml block starting with "${COMPLETE}"`).toBeGreaterThan(0);
  });

  it('every yaml block that looks like a whole config is marked, so it is checked', () => {
    const unmarked: string[] = [];
    for (const file of DOC_FILES) {
      for (const block of yamlBlocks(file)) {
        const whole = ['project', 'environments', 'components'].every((key) =>
          new RegExp(`^${key}:`, 'm').test(block.text),
        );
        if (whole && firstLine(block) !== COMPLETE && firstLine(block) !== INVALID)
          unmarked.push(`${file}, yaml block ${block.index} (line ${block.line})`);
      }
    }
    expect(unmarked, `whole configs must start with "${COMPLETE}" (or "${INVALID}")`).toEqual([]);
  });
});

describe('the invalid example in docs/configuration.md', () => {
  it('prints exactly the problems the docs show, and exits 2', () => {
    const blocks = fencedBlocks(docs.get('docs/configuration.md') ?? '');
    const at = blocks.findIndex((b) => b.lang === 'yaml' && firstLine(b) === INVALID);
    expect(at, `docs/configuration.md has no yaml block starting with "${INVALID}"`).toBeGreaterThanOrEqual(0);
    const expected = blocks[at + 1];
    expect(expected?.lang, 'the invalid example must be followed by a ```text block with the expected output').toBe(
      'text',
    );

    const r = validate(blocks[at]?.text ?? '');
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(expected?.text.trim());
  });
});

describe('README quick start', () => {
  const readme = docs.get('README.md') ?? '';
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    engines: { node: string };
  };
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  const commands = (fencedBlocks(section).find((b) => b.lang === 'sh')?.text ?? '')
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '');

  it('is exactly the demo and the tests', () => {
    expect(commands).toEqual(['npm ci && npm run demo', 'npm test']);
  });

  it('runs scripts that package.json has', () => {
    const scripts = commands.flatMap((c) =>
      [...c.matchAll(/npm (?:run (\S+)|(test))/g)].map((m) => m[1] ?? m[2] ?? ''),
    );
    expect(scripts).toEqual(['demo', 'test']);
    for (const name of scripts) expect(pkg.scripts[name], `package.json has no script "${name}"`).toBeTruthy();
  });

  it('names the Node.js versions package.json supports', () => {
    // engines.node lists one caret range per supported major: "^20.19.0 || ^22.0.0 || ^24.0.0".
    const majors = [...pkg.engines.node.matchAll(/\^(\d+)/g)].map((m) => m[1] ?? '');
    expect(majors.length, `engines.node is ${pkg.engines.node}`).toBeGreaterThan(1);
    expect(section).toContain(`Node.js ${majors.slice(0, -1).join(', ')} or ${majors.at(-1) ?? ''}`);
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const heading = inFence ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const slug = (heading[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

describe('links between the docs', () => {
  it('point at files and headings that exist', () => {
    const broken: string[] = [];
    for (const [file, text] of docs) {
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path = '', anchor] = target.split('#');
        const targetFile = path === '' ? file : join(dirname(file), path);
        if (!existsSync(join(ROOT, targetFile))) {
          broken.push(`${file}: ${target} (no file ${targetFile})`);
          continue;
        }
        if (anchor === undefined || !targetFile.endsWith('.md')) continue;
        const headings = anchors(docs.get(targetFile) ?? readFileSync(join(ROOT, targetFile), 'utf8'));
        if (!headings.has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${targetFile})`);
      }
    }
    expect(broken).toEqual([]);
  });
});
