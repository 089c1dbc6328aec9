import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadConfig, type LoadedConfig } from '../core/config/load-config.js';
import { InputError, NotFoundError } from '../core/errors.js';
import { builtinAdapters } from '../adapters/registry.js';
import { systemClock } from '../engine/clock.js';
import type { EngineDeps, RunObserver } from '../engine/deps.js';
import { secretSource } from '../engine/secrets.js';
import type { Store } from '../store/store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { resolveActor } from './actor.js';

export interface GlobalOptions {
  config: string;
  state?: string;
  actor?: string;
  secretsFile?: string;
  output: 'text' | 'json';
}

export const DEFAULT_CONFIG = 'lockstep.yaml';

export function readConfig(file: string): LoadedConfig {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT' ? `${file}: no such file (run \`lockstep init\` to write an example, or pass --config FILE)` : `${file}: cannot read (${code ?? 'error'})`,
      '--config',
      { cause: error },
    );
  }
  return loadConfig(source, file, builtinAdapters());
}

/** The state database: --state PATH (a directory or a .db file), else .lockstep/ beside the config. */
export function statePath(options: GlobalOptions): string {
  if (options.state) return options.state.endsWith('.db') ? resolve(options.state) : join(resolve(options.state), 'state.db');
  return join(dirname(resolve(options.config)), '.lockstep', 'state.db');
}

/**
 * How a command uses the state:
 * - `read`: opened read-only, so a read-only file, directory or file system still reads, and reading
 *   never changes the file;
 * - `write`: the command records something, so the state must exist and be writable;
 * - `create`: the command starts a project (`init`, `release create`) and may create the state.
 * Only `create` makes a new state, and it says so on stderr: a mistyped `--state` must not
 * silently start an empty history.
 */
export type StateAccess = 'read' | 'write' | 'create';

export async function openStore(options: GlobalOptions, access: StateAccess): Promise<Store> {
  const path = statePath(options);
  const created = !existsSync(path);
  if (created && access !== 'create') {
    const where = options.state === undefined ? ' (the default, beside the config; --state names another)' : '';
    throw new NotFoundError(`no state at ${path}${where}: nothing was recorded there yet; run lockstep init or lockstep release create to start one`);
  }
  if (created) mkdirSync(dirname(path), { recursive: true });
  const store = SqliteStore.open(path, { readonly: access === 'read' });
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  if (created) process.stderr.write(`lockstep: created a new state at ${path}\n`);
  return store;
}

/** Loads the config and opens the store: what every command that touches state needs. */
export async function openProject(options: GlobalOptions, access: StateAccess, observer?: RunObserver): Promise<EngineDeps> {
  const loaded = readConfig(options.config);
  const projectDir = dirname(resolve(options.config));
  const store = await openStore(options, access);
  return {
    store,
    adapters: builtinAdapters(),
    clock: systemClock,
    loaded,
    projectDir,
    cacheDir: join(dirname(statePath(options)), 'cache'),
    stateDir: dirname(statePath(options)),
    secrets: secretSource(process.env, options.secretsFile ?? process.env.LOCKSTEP_SECRETS_FILE),
    actor: resolveActor(options.actor, process.env, projectDir),
    observer,
  };
}
