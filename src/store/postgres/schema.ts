import { StateError } from '../store.js';
import type { PostgresClientLike } from './postgres-client.js';

/**
 * The PostgreSQL schema, as an ordered list of migrations: its own list, not SQLite's (the engines
 * differ in types, triggers and identity columns), ending at the same tables. A migration is never
 * edited once released: a change is a new entry at the end. `schema_version` records which ones a
 * database has.
 *
 * As in SQLite, records are kept whole as JSON text (TEXT, not JSONB: JSONB reorders keys and
 * drops duplicates, and the stores return exactly what was written); the other columns exist for
 * lookups, ordering and constraints. Timestamps are ISO-8601 UTC strings, which order as text
 * (COLLATE "C" so that the database's locale does not change that order).
 */
export interface PostgresMigration {
  version: number;
  name: string;
  sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'the tables of SQLite schema version 7',
    sql: `
      -- One row, locked (SELECT … FOR UPDATE) by every commit: commits run one after another, as
      -- SQLite's BEGIN IMMEDIATE makes them, so the audit chain has one head and never forks.
      CREATE TABLE write_lock (
        id INTEGER PRIMARY KEY CHECK (id = 1)
      );
      INSERT INTO write_lock (id) VALUES (1);

      CREATE TABLE releases (
        id         TEXT COLLATE "C" PRIMARY KEY,
        created_at TEXT COLLATE "C" NOT NULL,
        json       TEXT NOT NULL
      );
      CREATE INDEX releases_newest ON releases (created_at DESC, id DESC);

      CREATE TABLE promotions (
        id           TEXT COLLATE "C" PRIMARY KEY,
        environment  TEXT NOT NULL,
        release_id   TEXT NOT NULL REFERENCES releases (id),
        state        TEXT NOT NULL,
        requested_at TEXT COLLATE "C" NOT NULL,
        owner_token  TEXT,
        json         TEXT NOT NULL
      );
      CREATE INDEX promotions_newest ON promotions (requested_at DESC, id DESC);
      CREATE INDEX promotions_environment ON promotions (environment, requested_at DESC, id DESC);
      CREATE INDEX promotions_release ON promotions (release_id);

      -- One row per busy environment: the primary key keeps two promotions out of one environment,
      -- across processes. A promotion holds at most one lock.
      CREATE TABLE env_locks (
        environment  TEXT PRIMARY KEY,
        promotion_id TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES promotions (id)
      );

      CREATE TABLE steps (
        promotion_id TEXT COLLATE "C" NOT NULL REFERENCES promotions (id),
        component    TEXT NOT NULL,
        ord          INTEGER NOT NULL,
        json         TEXT NOT NULL,
        PRIMARY KEY (promotion_id, component)
      );
      CREATE INDEX steps_component ON steps (component);

      CREATE TABLE component_states (
        environment TEXT NOT NULL,
        component   TEXT COLLATE "C" NOT NULL,
        json        TEXT NOT NULL,
        PRIMARY KEY (environment, component)
      );

      -- seq comes from the chain (head + 1), not from a sequence: a rolled-back commit must not
      -- leave a gap.
      CREATE TABLE audit_log (
        seq          BIGINT PRIMARY KEY,
        hash         TEXT NOT NULL,
        prev_hash    TEXT NOT NULL,
        kind         TEXT NOT NULL,
        time         TEXT NOT NULL,
        actor        TEXT NOT NULL,
        project      TEXT NOT NULL,
        environment  TEXT,
        release_id   TEXT,
        promotion_id TEXT,
        component    TEXT,
        data         TEXT NOT NULL
      );
      CREATE INDEX audit_log_promotion ON audit_log (promotion_id);

      -- Append-only against our own mistakes. Not a security boundary: whoever owns the tables can
      -- drop these triggers, which is what the hash chain is for.
      CREATE FUNCTION lockstep_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END;
      $$;
      CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION lockstep_append_only('the audit log is append-only');

      -- after_seq: the audit head when the line was inserted (see StoredLogLine.afterSeq).
      -- line is UTF-8 bytes: a command may print NUL, which PostgreSQL text cannot hold.
      CREATE TABLE step_logs (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        promotion_id TEXT COLLATE "C" NOT NULL REFERENCES promotions (id),
        component    TEXT NOT NULL,
        time         TEXT NOT NULL,
        line         BYTEA NOT NULL,
        after_seq    BIGINT NOT NULL
      );
      CREATE INDEX step_logs_promotion ON step_logs (promotion_id, component, id);

      CREATE TABLE approvals (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        promotion_id TEXT COLLATE "C" NOT NULL REFERENCES promotions (id),
        json         TEXT NOT NULL
      );
      CREATE INDEX approvals_promotion ON approvals (promotion_id, id);
      CREATE TRIGGER approvals_append_only BEFORE UPDATE OR DELETE ON approvals
        FOR EACH ROW EXECUTE FUNCTION lockstep_append_only('approvals are append-only');

      CREATE TABLE release_rejections (
        release_id TEXT COLLATE "C" PRIMARY KEY REFERENCES releases (id),
        json       TEXT NOT NULL
      );

      -- Hashes only: a token's text is never stored. One token per name among those not revoked.
      CREATE TABLE api_tokens (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name       TEXT NOT NULL,
        hash       TEXT NOT NULL UNIQUE,
        revoked_at TEXT,
        json       TEXT NOT NULL
      );
      CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

      CREATE TABLE notify_cursors (
        target    TEXT PRIMARY KEY,
        audit_seq BIGINT NOT NULL
      );
      CREATE TABLE notify_deliveries (
        id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id     TEXT NOT NULL UNIQUE,
        target          TEXT COLLATE "C" NOT NULL,
        status          TEXT COLLATE "C" NOT NULL,
        next_attempt_at TEXT NOT NULL,
        claim_token     TEXT,
        claimed_until   TEXT COLLATE "C",
        json            TEXT NOT NULL
      );
      CREATE INDEX notify_deliveries_target ON notify_deliveries (target, status, id);

      -- Kept apart from promotions.json, which the owner rewrites whole: the first request stays.
      CREATE TABLE cancel_requests (
        promotion_id TEXT COLLATE "C" PRIMARY KEY REFERENCES promotions (id),
        json         TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'promotion evidence',
    sql: `
      -- Each finished promotion's evidence (an in-toto statement in a DSSE envelope), written once.
      CREATE TABLE evidence (
        promotion_id TEXT COLLATE "C" PRIMARY KEY REFERENCES promotions (id),
        created_at   TEXT NOT NULL,
        json         TEXT NOT NULL
      );
      -- Finding the promotions a crash left without evidence reads promotions by state.
      CREATE INDEX promotions_state ON promotions (state, requested_at);
      CREATE INDEX audit_log_kind ON audit_log (kind, seq);
    `,
  },
  {
    version: 3,
    name: 'drift checks',
    sql: `
      -- The last drift check of each component (what status shows), apart from component_states,
      -- which promotions rewrite whole.
      CREATE TABLE drift_states (
        environment TEXT COLLATE "C" NOT NULL,
        component   TEXT COLLATE "C" NOT NULL,
        json        TEXT NOT NULL,
        PRIMARY KEY (environment, component)
      );
      -- When each environment was last checked on its schedule (claimed by a compare-and-set).
      CREATE TABLE drift_checks (
        environment TEXT COLLATE "C" PRIMARY KEY,
        checked_at  TEXT COLLATE "C" NOT NULL
      );
    `,
  },
];

export interface PostgresMigrationResult {
  /** The schema version before and after. */
  from: number;
  to: number;
  /** Versions applied by this call, in order (empty when the database was up to date). */
  applied: number[];
}

/**
 * Brings the schema (the connection's search_path, `schema` when given: made when missing) to the newest version. Idempotent, and safe when
 * several processes migrate at once: everything runs in one transaction under an advisory lock
 * keyed by the schema's name, so one process migrates and the others wait, then find nothing to do.
 * The schema is made when missing, under the same lock.
 * PostgreSQL DDL is transactional, so a failing migration leaves nothing. A StateError when the
 * database is newer than this code; `name` says which database, without its password.
 */
export async function migratePostgres(
  client: PostgresClientLike,
  name: string,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
  schema?: string,
): Promise<PostgresMigrationResult> {
  checkOrder(migrations);
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`not a plain schema name: ${schema}`);
  // Keyed by the schema's name as given: current_schema() is NULL while the schema does not exist,
  // and pg_advisory_lock(NULL) takes no lock at all. A session lock taken before the transaction,
  // so that the transaction starts after the previous migrator's commit and sees its schema and
  // tables (a transaction begun earlier keeps its stale view of the search path).
  const { rows: keys } = await client.query<{ key: number }>(`SELECT hashtext('lockstep schema migration ' || COALESCE($1, current_schema(), '')) AS key`, [schema ?? null]);
  const key = keys[0]?.key ?? 0;
  await client.query('SELECT pg_advisory_lock($1)', [key]);
  try {
    await client.query('BEGIN');
    try {
      const result = await migrateLocked(client, name, migrations, schema);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  } finally {
    // A connection that broke released the lock with its session.
    await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => undefined);
  }
}

async function migrateLocked(client: PostgresClientLike, name: string, migrations: readonly PostgresMigration[], schema: string | undefined): Promise<PostgresMigrationResult> {
  // Nothing is created that exists: PostgreSQL checks the CREATE privilege even for IF NOT EXISTS,
  // and a role that may only read and write the tables (docs/postgresql.md) must still open a
  // current schema.
  const schemaMissing = schema !== undefined && (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rows.length === 0;
  const { rows: present } = schemaMissing ? { rows: [] } : await client.query<{ present: string | null }>(`SELECT to_regclass('schema_version')::text AS present`);
  const from =
    present[0]?.present == null ? 0 : ((await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_version')).rows[0]?.version ?? 0);
  const newest = migrations.at(-1)?.version ?? 0;
  if (from > newest) {
    throw new StateError(`${name} has schema version ${from}, newer than this Lockstep knows (${newest}): upgrade Lockstep`);
  }
  const applied: number[] = [];
  try {
    if (schemaMissing) await client.query(`CREATE SCHEMA ${schema}`);
    if (from < newest) {
      await client.query(`
        CREATE TABLE IF NOT EXISTS schema_version (
          version    INTEGER PRIMARY KEY,
          name       TEXT NOT NULL,
          applied_at TEXT NOT NULL
        )`);
    }
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      await client.query(migration.sql);
      await client.query(
        `INSERT INTO schema_version (version, name, applied_at)
         VALUES ($1, $2, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`,
        [migration.version, migration.name],
      );
      applied.push(migration.version);
    }
  } catch (error) {
    if ((error as { code?: unknown }).code !== INSUFFICIENT_PRIVILEGE) throw error;
    throw new StateError(
      `${name} has schema version ${from} and this Lockstep reads ${newest}: upgrading it needs a role that may create tables there (${(error as Error).message}); run lockstep state migrate as the schema's owner`,
      { cause: error },
    );
  }
  return { from, to: Math.max(from, newest), applied };
}

/** PostgreSQL's insufficient_privilege. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** Versions must be 1, 2, 3, …: a gap or a reordering is a programming error, caught before any change. */
function checkOrder(migrations: readonly PostgresMigration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migration "${migration.name}" has version ${migration.version}, expected ${index + 1}`);
    }
  });
}
