#!/usr/bin/env node
// Runs the built CLI: one bundled module (scripts/bundle.mjs), which starts about a third faster
// than the ~300 modules tsc emits. `npm ci` builds it (the `prepare` script); from a source checkout run
// `npm run build` first.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = fileURLToPath(new URL('../dist/bundle/lockstep.js', import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write('lockstep: the CLI is not built yet; run `npm run build` (npm ci does it for you)\n');
  process.exit(2);
}
await import(pathToFileURL(entry).href);
