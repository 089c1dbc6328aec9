#!/usr/bin/env node
// Second half of `npm run build`: bundles the CLI that tsc compiled (dist/cli/program.js) into one
// CommonJS file, dist/bundle/lockstep.cjs, then writes V8's code cache for it (scripts/code-cache.mjs).
// bin/lockstep.js compiles the bundle with that cache (bin/load-cli.js). Loading one file instead of
// about 300 modules cut every command's start-up by about a third, and the code cache cuts what is
// left by another quarter (docs/performance.md, Known gaps 2).
//
// CommonJS, because Node 20 can only hand a code cache to a script (vm.Script), not to an ES module.
//
// Left external, so they load from node_modules as before:
// - native packages, which cannot be bundled: better-sqlite3, ssh2 (and its optional cpu-features);
// - the clients the adapters import lazily, with `import()` when a step first talks to its system:
//   bundling them would either make them load at start again or only move them around. In the
//   bundle those `import()` calls become `require()` inside a promise (a script compiled by vm cannot
//   call `import()` in Node 20 without a flag); every one of these packages ships CommonJS.
//
// The bundle stays two folders below the package root, like dist/cli/program.js, because the CLI reads
// its version from `new URL('../../package.json', import.meta.url)`.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const EXTERNAL = ['better-sqlite3', 'ssh2', 'cpu-features', 'tar', 'pg', 'mysql2', '@aws-sdk/*'];

await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/program.js'],
  outfile: 'dist/bundle/lockstep.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  supported: { 'dynamic-import': false },
  external: EXTERNAL,
  define: { 'import.meta.url': '__lockstepBundleUrl' },
  banner: { js: "const __lockstepBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: true,
  logLevel: 'warning',
});

const cache = spawnSync(process.execPath, [fileURLToPath(new URL('code-cache.mjs', import.meta.url))], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (cache.status !== 0) {
  process.stderr.write('bundle: writing the code cache failed (the CLI works without it, only slower to start)\n');
  process.exit(1);
}
