import { dirname, join, resolve } from 'node:path';
import { InputError } from '../core/errors.js';
import type { SecretSource } from '../engine/secrets.js';
import { describeUrl } from '../store/postgres/postgres-store.js';

/**
 * Where a project's state lives: a SQLite file (the default), or a PostgreSQL database that several
 * server replicas share. Either way, this machine keeps its own files (the step process records of
 * `runs/`, the code cache, keys) in a local directory: beside the SQLite file, or `.lockstep/`
 * beside the config for PostgreSQL.
 */
export type StateTarget =
  | { kind: 'sqlite'; path: string; localDir: string }
  | {
      kind: 'postgres';
      /** The connection URL as given, which may hold a password: only ever passed to the driver. */
      url: string;
      /** `schema=` of the URL (Lockstep's own parameter, not passed on): the tables' schema, made if missing. */
      schema?: string;
      /** `PostgreSQL at host:port/database`: what messages name, never the URL. */
      label: string;
      localDir: string;
    };

/** What names the state: `--state`, else LOCKSTEP_STATE, else the default beside the config. */
export interface StateChoice {
  /** The config file: the default state and local directory are beside it. */
  config: string;
  /** A directory, a .db file, a `postgres://` URL, or `${{ secrets.NAME }}` holding one of those. */
  state?: string;
}

const SECRET_REFERENCE = /^\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/u;
const POSTGRES_URL = /^postgres(?:ql)?:\/\//iu;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/u;

/** The state the choice names; `LOCKSTEP_STATE` counts when `--state` is not given. */
export function stateTarget(choice: StateChoice, env: NodeJS.ProcessEnv, secrets: SecretSource): StateTarget {
  const beside = join(dirname(resolve(choice.config)), '.lockstep');
  const given = choice.state ?? nonEmpty(env.LOCKSTEP_STATE);
  if (given === undefined) return { kind: 'sqlite', path: join(beside, 'state.db'), localDir: beside };
  const value = resolveReference(given, secrets);
  if (POSTGRES_URL.test(value)) return postgresTarget(value, beside);
  const path = value.endsWith('.db') ? resolve(value) : join(resolve(value), 'state.db');
  return { kind: 'sqlite', path, localDir: dirname(path) };
}

/** A `--state` that came from a secret is never echoed: the message names the reference only. */
function resolveReference(given: string, secrets: SecretSource): string {
  const reference = SECRET_REFERENCE.exec(given.trim());
  if (reference === null) return given;
  const name = reference[1] ?? '';
  const value = nonEmpty(secrets.get(name));
  if (value === undefined)
    throw new InputError(`--state names the secret ${name}, which is not set (in the environment or the secrets file)`, '--state');
  return value;
}

function postgresTarget(url: string, localDir: string): StateTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never quoted: it may hold a password.
    throw new InputError('--state: the PostgreSQL URL does not parse (expected postgres://user@host:5432/database)', '--state');
  }
  const schema = parsed.searchParams.get('schema') ?? undefined;
  if (schema !== undefined && !SCHEMA_NAME.test(schema))
    throw new InputError('--state: schema= must be a plain lower-case name (letters, digits, _)', '--state');
  parsed.searchParams.delete('schema');
  return {
    kind: 'postgres',
    url: parsed.toString(),
    ...(schema === undefined ? {} : { schema }),
    label: `PostgreSQL at ${describeUrl(url)}${schema === undefined ? '' : ` (schema ${schema})`}`,
    localDir,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
