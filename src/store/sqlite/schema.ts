import type { SqliteDatabaseLike } from './sqlite-database.js';

/**
 * The SQLite schema, as an ordered list of migrations. A migration is never edited once released:
 * a change is a new entry at the end. `schema_version` records which ones a database has.
 *
 * Records are kept whole as JSON (so reading returns exactly what was written); the other columns
 * exist only for lookups, filters, ordering and constraints. Timestamps are ISO-8601 UTC strings,
 * which order correctly as text.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial tables',
    sql: `
      CREATE TABLE releases (
        id         TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        json       TEXT NOT NULL
      ) STRICT;
      CREATE INDEX releases_newest ON releases (created_at DESC, id DESC);

      CREATE TABLE promotions (
        id           TEXT PRIMARY KEY,
        environment  TEXT NOT NULL,
        release_id   TEXT NOT NULL REFERENCES releases (id),
        state        TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        owner_token  TEXT,
        json         TEXT NOT NULL
      ) STRICT;
      CREATE INDEX promotions_newest ON promotions (requested_at DESC, id DESC);
      CREATE INDEX promotions_environment ON promotions (environment, requested_at DESC, id DESC);
      CREATE INDEX promotions_release ON promotions (release_id);

      -- One row per busy environment: the primary key is what keeps two promotions out of one
      -- environment, across processes. A promotion holds at most one lock.
      CREATE TABLE env_locks (
        environment  TEXT PRIMARY KEY,
        promotion_id TEXT NOT NULL UNIQUE REFERENCES promotions (id)
      ) STRICT;

      CREATE TABLE steps (
        promotion_id TEXT NOT NULL REFERENCES promotions (id),
        component    TEXT NOT NULL,
        ord          INTEGER NOT NULL,
        json         TEXT NOT NULL,
        PRIMARY KEY (promotion_id, component)
      ) STRICT;
      CREATE INDEX steps_component ON steps (component);

      CREATE TABLE component_states (
        environment TEXT NOT NULL,
        component   TEXT NOT NULL,
        json        TEXT NOT NULL,
        PRIMARY KEY (environment, component)
      ) STRICT;

      CREATE TABLE audit_log (
        seq          INTEGER PRIMARY KEY,
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
      ) STRICT;
      CREATE INDEX audit_log_promotion ON audit_log (promotion_id);

      -- Append-only against our own mistakes. Not a security boundary: whoever can write the file can
      -- drop these triggers, which is what the hash chain is for.
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    `,
  },
  {
    version: 2,
    name: 'step logs',
    sql: `
      CREATE TABLE step_logs (
        id           INTEGER PRIMARY KEY,
        promotion_id TEXT NOT NULL REFERENCES promotions (id),
        component    TEXT NOT NULL,
        time         TEXT NOT NULL,
        line         TEXT NOT NULL
      ) STRICT;
      CREATE INDEX step_logs_promotion ON step_logs (promotion_id, component, id);
    `,
  },
  {
    version: 3,
    name: 'approvals and release rejections',
    sql: `
      CREATE TABLE approvals (
        id           INTEGER PRIMARY KEY,
        promotion_id TEXT NOT NULL REFERENCES promotions (id),
        json         TEXT NOT NULL
      ) STRICT;
      CREATE INDEX approvals_promotion ON approvals (promotion_id, id);
      CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
        BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
      CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
        BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;

      CREATE TABLE release_rejections (
        release_id TEXT PRIMARY KEY REFERENCES releases (id),
        json       TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'api tokens',
    sql: `
      -- Hashes only: a token's text is never stored. One token per name among those not revoked;
      -- revoked tokens stay, so the audit log's names keep meaning something.
      CREATE TABLE api_tokens (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        hash       TEXT NOT NULL UNIQUE,
        revoked_at TEXT,
        json       TEXT NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
    `,
  },
  {
    version: 5,
    name: 'step log lines placed in the audit order',
    sql: `
      -- The event stream interleaves audit entries and log lines in the order they were committed:
      -- a line comes after audit entry after_seq and before after_seq + 1. New lines take the audit
      -- log's head as they are inserted (inside the commit, so before the commit's own entries).
      ALTER TABLE step_logs ADD COLUMN after_seq INTEGER NOT NULL DEFAULT 0;
      -- Lines written before this version are placed by time: after the last entry older than the
      -- newest line up to them. That running maximum keeps after_seq from going down as id goes up.
      CREATE INDEX audit_log_time_once ON audit_log (time, seq);
      UPDATE step_logs SET after_seq = COALESCE(
        (SELECT a.seq FROM audit_log a WHERE a.time < running.newest ORDER BY a.time DESC, a.seq DESC LIMIT 1), 0)
      FROM (SELECT id, MAX(time) OVER (ORDER BY id) AS newest FROM step_logs) AS running
      WHERE running.id = step_logs.id;
      DROP INDEX audit_log_time_once;
    `,
  },
  {
    version: 6,
    name: 'notification outbox',
    sql: `
      -- What each notify target has read of the audit log: deliveries are queued from the entries
      -- after it, and the cursor moves in the same transaction, so a crash loses or repeats nothing.
      CREATE TABLE notify_cursors (
        target    TEXT PRIMARY KEY,
        audit_seq INTEGER NOT NULL
      ) STRICT;
      -- One row per delivery; id orders a target's deliveries (sent head of line, in that order).
      CREATE TABLE notify_deliveries (
        id              INTEGER PRIMARY KEY,
        delivery_id     TEXT NOT NULL UNIQUE,
        target          TEXT NOT NULL,
        status          TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        claim_token     TEXT,
        claimed_until   TEXT,
        json            TEXT NOT NULL
      ) STRICT;
      CREATE INDEX notify_deliveries_target ON notify_deliveries (target, status, id);
    `,
  },
  {
    version: 7,
    name: 'cancel requests',
    sql: `
      -- A request that the process running a promotion cancel it, written by another process. Kept
      -- apart from promotions.json, which the owner rewrites whole from its own copy: a field there
      -- would be overwritten by the owner's next commit. The first request stays.
      CREATE TABLE cancel_requests (
        promotion_id TEXT PRIMARY KEY REFERENCES promotions (id),
        json         TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 8,
    name: 'promotion evidence',
    sql: `
      -- Each finished promotion's evidence (an in-toto statement in a DSSE envelope), written once.
      CREATE TABLE evidence (
        promotion_id TEXT PRIMARY KEY REFERENCES promotions (id),
        created_at   TEXT NOT NULL,
        json         TEXT NOT NULL
      ) STRICT;
      -- Finding the promotions a crash left without evidence reads promotions by state.
      CREATE INDEX promotions_state ON promotions (state, requested_at);
      CREATE INDEX audit_log_kind ON audit_log (kind, seq);
    `,
  },
  {
    version: 9,
    name: 'drift checks',
    sql: `
      -- The last drift check of each component: what status shows. Kept apart from component_states,
      -- which promotions rewrite whole: a check never races a promotion's write of what runs.
      CREATE TABLE drift_states (
        environment TEXT NOT NULL,
        component   TEXT NOT NULL,
        json        TEXT NOT NULL,
        PRIMARY KEY (environment, component)
      ) STRICT;
      -- When each environment was last checked on its schedule: claimed by a compare-and-set, so
      -- among several servers one check runs per due time.
      CREATE TABLE drift_checks (
        environment TEXT PRIMARY KEY,
        checked_at  TEXT NOT NULL
      ) STRICT;
    `,
  },
];

export interface MigrationResult {
  /** The schema version before and after. */
  from: number;
  to: number;
  /** Versions applied by this call, in order (empty when the database was up to date). */
  applied: number[];
}

/**
 * Brings the database to the newest schema version. Idempotent, and safe when several processes
 * migrate at once: everything runs in one `BEGIN IMMEDIATE` transaction, so a second migrator waits
 * and then finds nothing to do. SQLite DDL is transactional, so a failing migration leaves nothing.
 * Throws when the database is newer than this code (it was written by a newer Lockstep).
 */
export function migrate(db: SqliteDatabaseLike, migrations: readonly Migration[] = MIGRATIONS): MigrationResult {
  checkOrder(migrations);
  return db
    .transaction((): MigrationResult => {
      db.exec(`
        CREATE TABLE IF NOT EXISTS schema_version (
          version    INTEGER PRIMARY KEY,
          name       TEXT NOT NULL,
          applied_at TEXT NOT NULL
        ) STRICT`);
      const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
      const from = row.version ?? 0;
      const newest = migrations.at(-1)?.version ?? 0;
      if (from > newest) {
        throw new Error(
          `the database has schema version ${from}, newer than this Lockstep knows (${newest}): upgrade Lockstep`,
        );
      }
      const applied: number[] = [];
      for (const migration of migrations) {
        if (migration.version <= from) continue;
        db.exec(migration.sql);
        db.prepare(
          `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
        ).run(migration.version, migration.name);
        applied.push(migration.version);
      }
      return { from, to: Math.max(from, newest), applied };
    })
    .immediate();
}

/**
 * The schema version a database has, read without writing (0 for a file no Lockstep has migrated).
 * For read-only connections, which cannot run `migrate`.
 */
export function schemaVersion(db: SqliteDatabaseLike): number {
  const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

/** Versions must be 1, 2, 3, …: a gap or a reordering is a programming error, caught before any change. */
function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migration "${migration.name}" has version ${migration.version}, expected ${index + 1}`);
    }
  });
}
