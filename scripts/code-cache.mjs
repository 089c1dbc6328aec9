#!/usr/bin/env node
// Writes V8's code cache for the bundled CLI (dist/bundle/lockstep.cjs.cache), run by scripts/bundle.mjs.
//
// The cache holds the compiled code of every function that had run when it was made, so it is made
// after running what most commands run: the CLI's start, writing the example config (`init`) and
// checking it (`validate`), in a temporary directory. Functions that did not run are compiled when
// first called, as without a cache. Output of those commands is not shown.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODE_CACHE, loadCli } from '../bin/load-cli.js';

const { cli, script } = loadCli({ useCache: false });
const dir = mkdtempSync(join(tmpdir(), 'lockstep-code-cache-'));
const write = process.stdout.write.bind(process.stdout);
const writeErr = process.stderr.write.bind(process.stderr);
try {
  process.chdir(dir);
  // Quiet: the parent discards stdout, but a terminal run of this script should not print a config;
  // stderr (`init` says it created a state) is shown only when a command fails.
  process.stdout.write = () => true;
  let errors = '';
  process.stderr.write = (chunk) => ((errors += String(chunk)), true);
  for (const argv of [['--version'], ['init'], ['validate'], ['validate', '--output', 'json']]) {
    const code = await cli.runCli(argv);
    if (code !== 0) throw new Error(`lockstep ${argv.join(' ')} exited ${code} while warming the code cache:\n${errors}`);
  }
} finally {
  process.stdout.write = write;
  process.stderr.write = writeErr;
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(CODE_CACHE, script.createCachedData());
process.exitCode = 0;
