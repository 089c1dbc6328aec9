import type { HistoryRow } from './migration-plan.js';

/**
 * What differs between database systems, behind one small interface (after Kysely's `Dialect`). The
 * migrator asks capability flags, never which database it is talking to.
 */
export interface Dialect {
  /** For messages: `PostgreSQL`, `MySQL/MariaDB`, `SQLite`. */
  readonly name: string;
  /**
   * DDL runs inside a transaction and is undone with it (PostgreSQL, SQLite): each migration is then
   * all or nothing. Without it a failed migration may leave the statements before the failing one
   * applied, and the migrator records which statement failed.
   */
  readonly transactionalDdl: boolean;
  /**
   * Opens a connection. `read` never creates or changes anything; it resolves to undefined when the
   * database does not exist yet (an SQLite file not created), which reads as "no migrations".
   */
  connect(mode: 'read' | 'write'): Promise<DialectConnection | undefined>;
}

/**
 * How long a networked database may keep us waiting, and the step's signal. A server that accepts the
 * connection and never speaks, or stops answering later, fails the step in time with a
 * DeadlineError; aborting the signal closes the connection being opened.
 */
export interface NetworkLimits {
  /** TCP, TLS and login together (`connectTimeout`). */
  readonly connectTimeoutMs: number;
  /** One query, or one migration script (one statement where the dialect splits), (`queryTimeout`). */
  readonly queryTimeoutMs: number;
  readonly signal: AbortSignal;
}

/** The database did not answer within a limit; the message says which wait it was. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/** A table name split into its optional schema and its name. */
export interface TableName {
  readonly schema: string | undefined;
  readonly name: string;
  /** As written in `table`, for messages. */
  readonly text: string;
}

export function tableName(text: string): TableName {
  const dot = text.indexOf('.');
  return dot === -1
    ? { schema: undefined, name: text, text }
    : { schema: text.slice(0, dot), name: text.slice(dot + 1), text };
}

/** A migration's script failed; `statement` is set where the dialect runs statements one by one. */
export class ScriptError extends Error {
  override readonly name = 'ScriptError';
  constructor(
    message: string,
    readonly statement?: {
      /** 1-based. */
      readonly index: number;
      readonly count: number;
      /** 1-based line in the file. */
      readonly line: number;
      readonly text: string;
    },
  ) {
    super(message);
  }
}

/** Hooks the migrator passes to a running script. */
export interface ScriptHooks {
  /** Called before each statement (dialects that split) so the step stays alive. */
  readonly beforeStatement: (index: number, count: number) => void;
}

/**
 * One connection to the database: the few operations the migrator composes. Every method rejects
 * with the driver's error (or ScriptError for `runScript`); the adapter words and scrubs it.
 */
export interface DialectConnection {
  /** Runs one statement with positional parameters; returns the rows, keys as the columns are named. */
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** `quote` an identifier the way this database does. */
  quote(identifier: string): string;
  /** The positional parameter `n` (1-based): `$1` or `?`. */
  param(n: number): string;
  /** Column types of the history table. */
  readonly types: HistoryColumnTypes;
  /** A history timestamp value as this driver wants it written. */
  timestamp(date: Date): unknown;
  tableExists(table: TableName): Promise<boolean>;
  /**
   * Tries to take the database-level migration lock for `table`, waiting at most `waitMs` (0: do not
   * wait). True when taken. The migrator calls it in short slices, so it can heartbeat and notice
   * cancellation.
   */
  tryLock(table: TableName, waitMs: number): Promise<boolean>;
  unlock(table: TableName): Promise<void>;
  /** Around each migration: a transaction (or savepoint) where DDL is transactional, nothing otherwise. */
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** Runs a migration file. Rejects with ScriptError. */
  runScript(sql: string, hooks: ScriptHooks): Promise<void>;
  /**
   * Asks the server to stop the statement running now, from another connection. Best effort. Only
   * where the database can undo it (transactional DDL); absent where it cannot.
   */
  cancel?(): Promise<void>;
  close(): Promise<void>;
}

export interface HistoryColumnTypes {
  /** The primary key (MySQL needs a bounded length there). */
  readonly version: string;
  readonly text: string;
  readonly longText: string;
  readonly checksum: string;
  readonly timestamp: string;
  readonly integer: string;
}

/** `schema.name` quoted by the connection. */
export function qualified(conn: DialectConnection, table: TableName): string {
  return table.schema === undefined ? conn.quote(table.name) : `${conn.quote(table.schema)}.${conn.quote(table.name)}`;
}

/**
 * The history table's statements, the same for every dialect but for quoting, parameters and column
 * types. One row per applied migration; a down deletes its row.
 */
export const history = {
  async ensure(conn: DialectConnection, table: TableName): Promise<void> {
    const t = conn.types;
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${qualified(conn, table)} (` +
        `version ${t.version} NOT NULL PRIMARY KEY, ` +
        `name ${t.text} NOT NULL, ` +
        `checksum ${t.checksum} NOT NULL, ` +
        `applied_at ${t.timestamp} NOT NULL, ` +
        `applied_by ${t.text} NOT NULL, ` +
        `duration_ms ${t.integer} NOT NULL, ` +
        `failure ${t.longText} NULL)`,
    );
  },

  /** The rows, or undefined when the table does not exist. */
  async read(conn: DialectConnection, table: TableName): Promise<HistoryRow[] | undefined> {
    if (!(await conn.tableExists(table))) return undefined;
    const rows = await conn.query(
      `SELECT version, name, checksum, applied_at, applied_by, duration_ms, failure FROM ${qualified(conn, table)}`,
    );
    return rows.map((r) => ({
      version: text(r.version),
      name: text(r.name),
      checksum: text(r.checksum),
      appliedAt: text(r.applied_at),
      appliedBy: text(r.applied_by),
      durationMs: Number(r.duration_ms),
      failure: r.failure === null || r.failure === undefined ? null : text(r.failure),
    }));
  },

  async insert(
    conn: DialectConnection,
    table: TableName,
    row: Omit<HistoryRow, 'appliedAt'> & { appliedAt: Date },
  ): Promise<void> {
    const p = (n: number): string => conn.param(n);
    await conn.query(
      `INSERT INTO ${qualified(conn, table)} (version, name, checksum, applied_at, applied_by, duration_ms, failure) ` +
        `VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)})`,
      [row.version, row.name, row.checksum, conn.timestamp(row.appliedAt), row.appliedBy, row.durationMs, row.failure],
    );
  },

  async markFailed(conn: DialectConnection, table: TableName, version: string, failure: string): Promise<void> {
    await conn.query(
      `UPDATE ${qualified(conn, table)} SET failure = ${conn.param(1)} WHERE version = ${conn.param(2)}`,
      [failure, version],
    );
  },

  /** Records `checksum` for an applied migration (a re-apply repairing a row changed by hand). */
  async setChecksum(conn: DialectConnection, table: TableName, version: string, checksum: string): Promise<void> {
    await conn.query(`UPDATE ${qualified(conn, table)} SET checksum = ${conn.param(1)} WHERE version = ${conn.param(2)}`, [checksum, version]);
  },

  async remove(conn: DialectConnection, table: TableName, version: string): Promise<void> {
    await conn.query(`DELETE FROM ${qualified(conn, table)} WHERE version = ${conn.param(1)}`, [version]);
  },
};

/** A column value as text: drivers return strings, numbers, bigints or Dates for these columns. */
function text(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}
