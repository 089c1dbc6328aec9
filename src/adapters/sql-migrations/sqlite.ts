import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { ScriptError } from './sql-dialect.js';
import type { Dialect, DialectConnection, TableName } from './sql-dialect.js';

/** The subset of better-sqlite3 the dialect uses (Kysely's `SqliteDatabase` pattern). */
export interface SqliteDatabaseLike {
  prepare(sql: string): SqliteStatementLike;
  exec(sql: string): unknown;
  close(): unknown;
}

export interface SqliteStatementLike {
  /** True for statements that return rows. */
  readonly reader: boolean;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): unknown;
}

/** How long an ordinary statement waits for another connection's lock. better-sqlite3 blocks the event loop meanwhile. */
const BUSY_TIMEOUT_MS = 2_000;
/** The longest single wait for the migration lock; the migrator loops, with the event loop free in between. */
const LOCK_SLICE_MS = 100;
const SAVEPOINT = 'lockstep_migration';

/**
 * SQLite: DDL is transactional. The migration lock is SQLite's own write lock: `BEGIN IMMEDIATE`
 * takes it and holds it for the whole run, and each migration is a savepoint inside that transaction,
 * so a failed migration is undone alone and the ones before it are committed when the lock is let go.
 * Readers are not blocked in WAL mode; other writers wait (busy_timeout) or fail.
 */
export function sqliteDialect(file: string, display: string): Dialect {
  return {
    name: 'SQLite',
    transactionalDdl: true,
    async connect(mode) {
      if (mode === 'read') {
        // A database that does not exist has no migrations; opening it would create the file.
        if (!existsSync(file)) return undefined;
        const Database = await loadDriver();
        return open(new Database(file, { readonly: true, fileMustExist: true }));
      }
      const dir = path.dirname(file);
      if (!isDirectory(dir)) {
        throw new Error(
          `the directory of ${display} does not exist (${path.basename(file)} is created on the first apply, its directory is not)`,
        );
      }
      const Database = await loadDriver();
      return open(new Database(file));
    },
  };
}

/** better-sqlite3, loaded by the first connection rather than with the adapter, like the other drivers. */
async function loadDriver(): Promise<typeof Database> {
  return (await import('better-sqlite3')).default;
}

function open(db: SqliteDatabaseLike): SqliteConnection {
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return new SqliteConnection(db);
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

class SqliteConnection implements DialectConnection {
  readonly types = {
    version: 'TEXT',
    text: 'TEXT',
    longText: 'TEXT',
    checksum: 'TEXT',
    timestamp: 'TEXT',
    integer: 'INTEGER',
  };

  private locked = false;

  constructor(private readonly db: SqliteDatabaseLike) {}

  query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    const statement = this.db.prepare(sql);
    if (statement.reader) return Promise.resolve(statement.all(...params) as Record<string, unknown>[]);
    statement.run(...params);
    return Promise.resolve([]);
  }

  quote(identifier: string): string {
    return `"${identifier.replaceAll('"', '""')}"`;
  }

  param(): string {
    return '?';
  }

  timestamp(date: Date): unknown {
    return date.toISOString();
  }

  async tableExists(table: TableName): Promise<boolean> {
    const master = `${this.quote(table.schema ?? 'main')}.sqlite_master`;
    const rows = await this.query(`SELECT 1 AS found FROM ${master} WHERE type = 'table' AND name = ?`, [table.name]);
    return rows.length > 0;
  }

  tryLock(_table: TableName, waitMs: number): Promise<boolean> {
    this.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.min(Math.round(waitMs), LOCK_SLICE_MS))}`);
    try {
      this.db.exec('BEGIN IMMEDIATE');
      this.locked = true;
      return Promise.resolve(true);
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY') === true) return Promise.resolve(false);
      throw error;
    } finally {
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /** Commits the run: every migration whose savepoint was released. */
  unlock(): Promise<void> {
    if (this.locked) {
      this.locked = false;
      this.db.exec('COMMIT');
    }
    return Promise.resolve();
  }

  begin(): Promise<void> {
    this.db.exec(`SAVEPOINT ${SAVEPOINT}`);
    return Promise.resolve();
  }

  commit(): Promise<void> {
    this.db.exec(`RELEASE ${SAVEPOINT}`);
    return Promise.resolve();
  }

  rollback(): Promise<void> {
    this.db.exec(`ROLLBACK TO ${SAVEPOINT}`);
    this.db.exec(`RELEASE ${SAVEPOINT}`);
    return Promise.resolve();
  }

  runScript(sql: string): Promise<void> {
    try {
      this.db.exec(sql);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const message = error instanceof Error ? error.message : String(error);
      return Promise.reject(new ScriptError(`${message}${code === undefined ? '' : ` (${code})`}`));
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    // An open transaction (a run that failed before it could commit) is rolled back by closing.
    this.db.close();
    return Promise.resolve();
  }
}
