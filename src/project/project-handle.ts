import { builtinAdapters } from '../adapters/registry.js';
import { canonicalJson, sha256Hex } from '../core/canonical-json.js';
import { loadConfig, type LoadedConfig } from '../core/config/load-config.js';
import { ConfigError, errorMessage, formatProblem } from '../core/errors.js';
import { systemClock } from '../engine/clock.js';
import type { ActorProof, EngineDeps, RunObserver } from '../engine/deps.js';
import type { LeaseTiming } from '../engine/lease.js';
import { RunningPromotions } from '../engine/running-promotions.js';
import type { Store } from '../store/store.js';
import { openStore, projectDeps, readConfig, readConfigSource, type ProjectLocation } from './project-files.js';

/** A config file the handle would not take: the previous config stays in force. */
export interface ConfigRefusal {
  /** When it was refused (ISO 8601). */
  at: string;
  /** SHA-256 of the refused text; absent when the file could not be read. */
  digest?: string;
  /** One line each, as `lockstep validate` prints them: file, line, column, field, what is wrong. */
  problems: string[];
}

/** What `reload` did. */
export interface ConfigReload {
  /** A new config is in force. */
  changed: boolean;
  /** The file's config was refused (now or before), and why; the previous config stays in force. */
  problems?: string[];
  /** The file is the one refused last time: nothing new to report. */
  repeated?: boolean;
}

/**
 * A project held open for a long-lived process (the server): its config loaded at open and again on
 * `reload`, its store open until `close`. Each request gets EngineDeps of its own, naming its actor
 * and how it was proven.
 */
export interface ProjectHandle {
  /** The config's `project:` name: how API routes name it. It never changes while the handle is open. */
  readonly name: string;
  /** The config in force: the one loaded last without problems. */
  readonly loaded: LoadedConfig;
  /** When the config in force was loaded (ISO 8601). */
  readonly loadedAt: string;
  /** The last config file refused since, if the file has not been valid again. */
  readonly refused: ConfigRefusal | undefined;
  readonly store: Store;
  /** The promotions this process runs for the project: every `deps` carries it (see EngineDeps.running). */
  readonly running: RunningPromotions;
  /**
   * EngineDeps carrying the config in force now. A reload never changes deps already handed out: a
   * promotion running with them keeps the config it was planned with.
   */
  deps(who: { actor: string; actorProof?: ActorProof; actorGroups?: readonly string[]; observer?: RunObserver }): EngineDeps;
  /**
   * Reads the config file again, with the loader and checks `lockstep validate` uses. A file whose
   * text is the config in force changes nothing; a valid new one is in force from the next `deps`
   * call on; one with problems (or one renaming the project) is refused and remembered, and the
   * previous config stays in force. Never throws for what the file holds.
   */
  reload(now?: Date): ConfigReload;
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
  /** `lease`: how long this process's claims on promotions hold (lockstep serve --lease). */
  options: { lease?: LeaseTiming } = {},
): Promise<ProjectHandle> {
  let loaded = readConfig(location.config);
  let loadedAt = systemClock.now().toISOString();
  let refused: ConfigRefusal | undefined;
  const name = loaded.config.project;
  const store = await openStore(location, 'create', onCreated);
  const running = new RunningPromotions();
  let closed: Promise<void> | undefined;

  const refuse = (at: Date, problems: string[], digest?: string): ConfigReload => {
    if (refused !== undefined && digest !== undefined && refused.digest === digest)
      return { changed: false, problems: refused.problems, repeated: true };
    refused = { at: at.toISOString(), ...(digest === undefined ? {} : { digest }), problems };
    return { changed: false, problems };
  };

  return {
    name,
    get loaded() {
      return loaded;
    },
    get loadedAt() {
      return loadedAt;
    },
    get refused() {
      return refused;
    },
    store,
    running,
    // `loaded` is read at the call: the deps object keeps the config of that moment.
    deps: (who) => ({ ...projectDeps(location, loaded, store, who), running, ...(options.lease === undefined ? {} : { lease: options.lease }) }),
    reload(now = systemClock.now()) {
      let source: string;
      try {
        source = readConfigSource(location.config);
      } catch (error) {
        return refuse(now, [errorMessage(error)]);
      }
      const digest = sha256Hex(source);
      if (digest === loaded.digest) {
        // Back to the config in force (an edit undone): nothing is refused any more.
        refused = undefined;
        return { changed: false };
      }
      let next: LoadedConfig;
      try {
        next = loadConfig(source, location.config, builtinAdapters());
      } catch (error) {
        if (error instanceof ConfigError) return refuse(now, error.problems.map(formatProblem), digest);
        throw error;
      }
      if (next.config.project !== name) {
        const at = next.locate(['project']);
        return refuse(
          now,
          [
            formatProblem({
              file: location.config,
              ...at,
              path: 'project',
              message: `the server serves this project as ${name} (API routes name it so): renaming it needs a restart`,
            }),
          ],
          digest,
        );
      }
      if (canonicalJson(next.config.server?.oidc ?? null) !== canonicalJson(loaded.config.server?.oidc ?? null)) {
        // Sign-in is the whole server's, set up at start from every project's config (server/oidc/).
        const at = next.config.server?.oidc === undefined ? { line: 1, column: 1 } : next.locate(['server', 'oidc']);
        return refuse(
          now,
          [
            formatProblem({
              file: location.config,
              ...at,
              path: 'server.oidc',
              message: 'server.oidc changed: sign-in is set up when the server starts, so a change to it needs a restart',
            }),
          ],
          digest,
        );
      }
      loaded = next;
      loadedAt = now.toISOString();
      refused = undefined;
      return { changed: true };
    },
    async ready() {
      await store.auditHead();
    },
    close() {
      closed ??= store.close();
      return closed;
    },
  };
}
