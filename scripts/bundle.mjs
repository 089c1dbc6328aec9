#!/usr/bin/env node
// Second half of `npm run build`: bundles the CLI that tsc compiled (dist/cli/main.js) into one ES
// module, dist/bundle/lockstep.js, which bin/lockstep.js runs. Loading one file instead of about
// 300 modules cuts every command's start-up by about a third (docs/performance.md, Known gaps 2).
//
// Left external, so they load from node_modules as before:
// - native packages, which cannot be bundled: better-sqlite3, ssh2 (and its optional cpu-features);
// - the clients the adapters import lazily, with `import()` when a step first talks to its system:
//   bundling them would either make them load at start again or only move them around.
//
// The bundle stays two folders below the package root, like dist/cli/main.js, because the CLI reads
// its version from `new URL('../../package.json', import.meta.url)`.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const EXTERNAL = ['better-sqlite3', 'ssh2', 'cpu-features', 'tar', 'pg', 'mysql2', '@aws-sdk/*'];

await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/main.js'],
  outfile: 'dist/bundle/lockstep.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: EXTERNAL,
  // Bundled CommonJS code (commander, yaml's Node build) calls `require` for Node's built-in
  // modules, which an ES module does not have.
  banner: {
    js: "import { createRequire as __lockstepCreateRequire } from 'node:module';\nconst require = __lockstepCreateRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
});
