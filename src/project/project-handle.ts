import type { LoadedConfig } from '../core/config/load-config.js';
import type { ActorProof, EngineDeps, RunObserver } from '../engine/deps.js';
import type { Store } from '../store/store.js';
import { openStore, projectDeps, readConfig, type ProjectLocation } from './project-files.js';

/**
 * A project held open for a long-lived process (the server): its config loaded once, its store open
 * until `close`. Each request gets EngineDeps of its own, naming its actor and how it was proven.
 */
export interface ProjectHandle {
  /** The config's `project:` name: how API routes name it. */
  readonly name: string;
  readonly loaded: LoadedConfig;
  readonly store: Store;
  deps(who: { actor: string; actorProof?: ActorProof; observer?: RunObserver }): EngineDeps;
  /** Throws when the store cannot be read. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Loads the project's config (ConfigError listing every problem) and opens its store for writing.
 * A project without a state yet gets one, announced through `onCreated`: a server started on a
 * fresh project is how a team begins.
 */
export async function openProjectHandle(
  location: ProjectLocation,
  onCreated?: (path: string) => void,
): Promise<ProjectHandle> {
  const loaded = readConfig(location.config);
  const store = await openStore(location, 'create', onCreated);
  let closed: Promise<void> | undefined;
  return {
    name: loaded.config.project,
    loaded,
    store,
    deps: (who) => projectDeps(location, loaded, store, who),
    async ready() {
      await store.auditHead();
    },
    close() {
      closed ??= store.close();
      return closed;
    },
  };
}
