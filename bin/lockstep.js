#!/usr/bin/env node
// Runs the built CLI: one bundled file (scripts/bundle.mjs), compiled with V8's code cache
// (bin/load-cli.js). `npm ci` builds both (the `prepare` script); from a source checkout run
// `npm run build` first.
import { existsSync } from 'node:fs';
import { BUNDLE, loadCli } from './load-cli.js';

if (!existsSync(BUNDLE)) {
  process.stderr.write('lockstep: the CLI is not built yet; run `npm run build` (npm ci does it for you)\n');
  process.exit(2);
}
process.exitCode = await loadCli().cli.runCli(process.argv.slice(2));
