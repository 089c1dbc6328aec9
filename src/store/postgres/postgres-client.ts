import type { QueryArrayConfig, QueryArrayResult, QueryResult, QueryResultRow } from 'pg';

/**
 * The subset of node-postgres the PostgreSQL store uses (Kysely's pattern, as for SQLite's
 * `SqliteDatabaseLike`): `pg.Pool` and `pg.PoolClient` satisfy it as they are.
 */
export interface PostgresClientLike {
  query<Row extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<Row>>;
  query<Row extends unknown[] = unknown[]>(config: QueryArrayConfig, values?: unknown[]): Promise<QueryArrayResult<Row>>;
}
