/**
 * The subset of better-sqlite3 the SQLite store uses (Kysely's `SqliteDatabase` pattern): typing the
 * client by what we call keeps the store honest about its dependency and lets a test hand in any
 * compatible connection. `better-sqlite3`'s `Database` satisfies it as is.
 */
export interface SqliteDatabaseLike {
  prepare(sql: string): SqliteStatementLike;
  exec(sql: string): unknown;
  /** Wraps `fn` in a transaction; `immediate()` runs it under `BEGIN IMMEDIATE` (takes the write lock first). */
  transaction<T>(fn: () => T): SqliteTransactionLike<T>;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

export interface SqliteStatementLike {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqliteTransactionLike<T> {
  immediate(): T;
}
