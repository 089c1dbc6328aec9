import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { requireBuild } from '../helpers/cli.js';

// Runs the BUILT registry (dist/) in a fresh Node process, since this test process has loaded
// everything already. A module hook prints every module Node resolves.

/** The clients adapters talk through: each costs 10 to 100 ms to load, and only a step needs it. */
const CLIENTS = [
  '@aws-sdk/client-cloudformation',
  '@aws-sdk/client-lambda',
  'better-sqlite3',
  'mysql2',
  'pg',
  'ssh2',
  'tar',
];

const REGISTRY = pathToFileURL(fileURLToPath(new URL('../../dist/adapters/registry.js', import.meta.url))).href;
const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-registry-load-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The packages (node_modules/<name>) a fresh process resolves while running `script`. */
function packagesResolvedBy(script: string): string[] {
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { writeSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  writeSync(2, 'resolved ' + result.url + '\\n');
  return result;
}
`,
  );
  writeFileSync(
    path.join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`,
  );
  const run = spawnSync(
    process.execPath,
    ['--import', pathToFileURL(path.join(dir, 'register.mjs')).href, '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
    },
  );
  expect(run.status, run.stderr).toBe(0);
  const packages = run.stderr.matchAll(/^resolved .*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//gm);
  return [...new Set([...packages].map((m) => m[1] ?? ''))].sort();
}

describe('adapter registry start-up', () => {
  it('loads no adapter client when the registry is built: validate and schema need only the specs', () => {
    requireBuild();
    const loaded = packagesResolvedBy(
      `const { builtinAdapters } = await import(${JSON.stringify(REGISTRY)}); builtinAdapters();`,
    );
    expect(loaded).toContain('zod');
    expect(loaded.filter((name) => CLIENTS.includes(name))).toEqual([]);
  });
});
