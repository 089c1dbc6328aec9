import { dirname, resolve } from 'node:path';
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
}

/** Opens the state; a new one (only with `create`) is announced on stderr. */
export async function openStore(options: GlobalOptions, access: StateAccess): Promise<Store> {
  return openProjectStore(options, access, (path) => process.stderr.write(`lockstep: created a new state at ${path}\n`));
}

/** Loads the config and opens the store: what every command that touches state needs. The actor is claimed. */
export async function openProject(options: GlobalOptions, access: StateAccess, observer?: RunObserver): Promise<EngineDeps> {
  const loaded = readConfig(options.config);
  const store = await openStore(options, access);
  const actor = resolveActor(options.actor, process.env, dirname(resolve(options.config)));
  return projectDeps(options, loaded, store, { actor, observer });
}
