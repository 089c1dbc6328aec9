import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { builtinAdapters } from '../adapters/registry.js';
import { loadConfig, type LoadedConfig } from '../core/config/load-config.js';
import { InputError, NotFoundError } from '../core/errors.js';
import { systemClock } from '../engine/clock.js';
import type { ActorProof, EngineDeps, RunObserver } from '../engine/deps.js';
import { sealingStore } from '../engine/evidence.js';
import { secretSource, type SecretSource } from '../engine/secrets.js';
import { loadSigner } from '../engine/signing-key.js';
import { deriveKey, serverSecret } from '../engine/server-secret.js';
import { TraceExporter, traceSettings, tracedStore } from '../engine/promotion-traces.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { stateTarget, type StateTarget } from './state-target.js';
import type { Store } from '../store/store.js';

/**
 * Where a project lives on disk: what both faces of the engine (the CLI per command, the server for
 * its lifetime) need to build EngineDeps. Neither cli/ nor server/ holds this, so neither imports the other.
 */
export interface ProjectLocation {
  /** The lockstep.yaml. */
  config: string;
  /** The state: a directory or a .db file; default .lockstep/ beside the config. */
  state?: string;
  /** NAME=value lines for `${{ secrets.NAME }}`. */
  secretsFile?: string;
}

export const DEFAULT_CONFIG = 'lockstep.yaml';

export function readConfig(file: string): LoadedConfig {
  return loadConfig(readConfigSource(file), file, builtinAdapters());
}

/** The config file's text, as readConfig reads it (InputError naming `--config` when it cannot be read). */
export function readConfigSource(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT'
        ? `${file}: no such file (run \`lockstep init\` to write an example, or pass --config FILE)`
        : `${file}: cannot read (${code ?? 'error'})`,
      '--config',
      { cause: error },
    );
  }
}

/** Where the project's state lives (see state-target.ts): `--state`, LOCKSTEP_STATE, or the default. */
export function projectState(location: ProjectLocation): StateTarget {
  return stateTarget(location, process.env, projectSecrets(location));
}

export function projectSecrets(location: ProjectLocation): SecretSource {
  return secretSource(process.env, location.secretsFile ?? process.env.LOCKSTEP_SECRETS_FILE);
}

/**
 * How a caller uses the state:
 * - `read`: opened read-only, so a read-only file, directory or file system still reads, and reading
 *   never changes the file;
 * - `write`: the caller records something, so the state must exist and be writable;
 * - `create`: the caller starts a project (`init`, `release create`) and may create the state.
 * Only `create` makes a new state, and `onCreated` is told: a mistyped `--state` must not silently
 * start an empty history.
 */
export type StateAccess = 'read' | 'write' | 'create';

export async function openStore(
  location: ProjectLocation,
  access: StateAccess,
  onCreated?: (where: string) => void,
): Promise<Store> {
  const target = projectState(location);
  const { store, created, where } = target.kind === 'sqlite' ? openSqlite(target.path, location, access) : await openPostgres(target, access);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  if (created) onCreated?.(where);
  // A command that only reads never ends a promotion: it has no trace to send.
  const tracing = access === 'read' ? undefined : traceSettings(process.env, packageVersion, warn);
  return tracing === undefined ? store : tracedStore(store, new TraceExporter(tracing, warn));
}

/** A state as `lockstep state …` opens it: not migrated yet, and named for messages. */
export interface OpenedState {
  store: Store;
  /** `/path/state.db` or `PostgreSQL at host:port/database (schema …)`: never a password. */
  label: string;
  target: StateTarget;
}

/**
 * Opens the state `state` names (a path, a postgres:// URL, a secret reference; else LOCKSTEP_STATE
 * or the default beside the config) without migrating it: `lockstep state` reads and reports its
 * schema version first. A SQLite file is made only with `create`; `readonly` opens it so (see SqliteOpenOptions).
 */
export async function openStateAt(location: ProjectLocation, options: { create: boolean; readonly?: boolean }): Promise<OpenedState> {
  const target = projectState(location);
  if (target.kind === 'postgres') {
    const store = await PostgresStore.connect(target.url, target.schema === undefined ? {} : { schema: target.schema });
    return { store, label: target.label, target };
  }
  if (!existsSync(target.path)) {
    if (!options.create) throw new NotFoundError(`no state at ${target.path}: nothing was recorded there`);
    mkdirSync(dirname(target.path), { recursive: true });
  }
  return { store: SqliteStore.open(target.path, { readonly: options.readonly === true && existsSync(target.path) }), label: target.path, target };
}

interface Opened {
  store: Store;
  created: boolean;
  /** For the "created a new state at …" line. */
  where: string;
}

function openSqlite(path: string, location: ProjectLocation, access: StateAccess): Opened {
  const created = !existsSync(path);
  if (created && access !== 'create') {
    const where = location.state === undefined && process.env.LOCKSTEP_STATE === undefined ? ' (the default, beside the config; --state names another)' : '';
    throw new NotFoundError(
      `no state at ${path}${where}: nothing was recorded there yet; run lockstep init or lockstep release create to start one`,
    );
  }
  if (created) mkdirSync(dirname(path), { recursive: true });
  return { store: SqliteStore.open(path, { readonly: access === 'read' }), created, where: path };
}

async function openPostgres(target: Extract<StateTarget, { kind: 'postgres' }>, access: StateAccess): Promise<Opened> {
  const store = await PostgresStore.connect(target.url, target.schema === undefined ? {} : { schema: target.schema });
  try {
    const created = (await store.schemaVersion()).current === 0;
    if (created && access !== 'create') {
      throw new NotFoundError(
        `no state in ${target.label}: nothing was recorded there yet; run lockstep init, lockstep release create or lockstep state migrate to start one`,
      );
    }
    return { store, created, where: target.label };
  } catch (error) {
    await store.close();
    throw error;
  }
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** What telemetry has to say (it never fails a command): one line on stderr. */
function warn(message: string): void {
  process.stderr.write(`lockstep: warning: ${message}\n`);
}

/** The EngineDeps of a project whose config is loaded and whose store is open, for one actor. */
export function projectDeps(
  location: ProjectLocation,
  loaded: LoadedConfig,
  store: Store,
  who: { actor: string; actorProof?: ActorProof; actorGroups?: readonly string[]; observer?: RunObserver },
): EngineDeps {
  const target = projectState(location);
  const stateDir = target.localDir;
  const secrets = projectSecrets(location);
  const signer = loadSigner(process.env, secrets);
  // On a shared state every process must fingerprint alike: with the key derived from the server
  // secret when it is given (lockstep serve on PostgreSQL requires it), else the key file here.
  const secret = target.kind === 'postgres' ? serverSecret(secrets) : undefined;
  return {
    ...(secret === undefined ? {} : { fingerprintKey: deriveKey(secret, 'fingerprint') }),
    // Every promotion that ends gets its evidence (docs/evidence.md), whoever ends it.
    store: sealingStore(store, signer, systemClock, warn),
    adapters: builtinAdapters(),
    clock: systemClock,
    loaded,
    projectDir: dirname(resolve(location.config)),
    cacheDir: join(stateDir, 'cache'),
    stateDir,
    secrets,
    ...(signer === undefined ? {} : { signer }),
    actor: who.actor,
    actorProof: who.actorProof,
    ...(who.actorGroups === undefined ? {} : { actorGroups: who.actorGroups }),
    observer: who.observer,
  };
}
