// Loads the bundled CLI (dist/bundle/lockstep.cjs, made by scripts/bundle.mjs) with V8's code cache
// (dist/bundle/lockstep.cjs.cache), so a command starts without compiling the functions it runs.
//
// Node 20 has no compile cache for modules of its own (module.enableCompileCache() is Node 22), so
// the bundle is a CommonJS file compiled here as one script with `cachedData`. `npm run build` writes
// the cache by running a few commands (scripts/code-cache.mjs). A cache that V8 refuses (another Node
// version, other V8 flags) or that is missing only costs the compilation it would have saved.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

export const BUNDLE = fileURLToPath(new URL('../dist/bundle/lockstep.cjs', import.meta.url));
export const CODE_CACHE = `${BUNDLE}.cache`;

/**
 * Compiles and runs the bundle; returns its exports ({ runCli }) and the compiled script, whose
 * `cachedDataRejected` says whether the cache was used and whose `createCachedData()` makes a new one.
 */
export function loadCli({ useCache = true } = {}) {
  const source = readFileSync(BUNDLE, 'utf8');
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(CODE_CACHE);
    } catch {
      // Not built: compile as usual.
    }
  }
  // The same wrapper Node gives a CommonJS module, on one line so line numbers in stack traces hold.
  const wrapper = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  const script = new vm.Script(wrapper, { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return { cli: module.exports, script };
}
