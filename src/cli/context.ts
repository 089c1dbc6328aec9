import { dirname, resolve } from 'node:path';
import { InputError } from '../core/errors.js';
import type { EngineDeps, RunObserver } from '../engine/deps.js';
import {
  DEFAULT_CONFIG,
  openStore as openProjectStore,
  projectDeps,
  readConfig,
  type StateAccess,
} from '../project/project-files.js';
import type { Store } from '../store/store.js';
import { resolveActor } from './actor.js';

export { DEFAULT_CONFIG, readConfig, type StateAccess };

export interface GlobalOptions {
  config: string;
  state?: string;
  actor?: string;
  secretsFile?: string;
  output: 'text' | 'json';
  /** The command as typed (`release create`): how refusals name it. */
  command: string;
  /** The team server's URL (`--server`, LOCKSTEP_SERVER): the command talks to it instead of the files here. */
  server?: string;
}

/**
 * With a server, commands go through its API (command-kit.ts openBackend), and only the commands of
 * the files themselves (`init`, `validate`) open them here: a path that opened the state with a
 * server set would act on this machine's files while the user means the server's.
 */
function localOnly(options: GlobalOptions): void {
  if (options.server !== undefined)
    throw new InputError(`lockstep ${options.command} would open the state on this machine, not the server's (unset LOCKSTEP_SERVER, or leave out --server, to run it here)`, '--server');
}

/** Opens the state; a new one (only with `create`) is announced on stderr. */
export async function openStore(options: GlobalOptions, access: StateAccess): Promise<Store> {
  localOnly(options);
  return openProjectStore(options, access, (path) => process.stderr.write(`lockstep: created a new state at ${path}\n`));
}

/** Loads the config and opens the store: what every command that touches state needs. The actor is claimed. */
export async function openProject(options: GlobalOptions, access: StateAccess, observer?: RunObserver): Promise<EngineDeps> {
  localOnly(options);
  const loaded = readConfig(options.config);
  const store = await openStore(options, access);
  const actor = resolveActor(options.actor, process.env, dirname(resolve(options.config)));
  return projectDeps(options, loaded, store, { actor, observer });
}
