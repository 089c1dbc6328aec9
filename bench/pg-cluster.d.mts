// Types of pg-cluster.mjs, for test/helpers/pg-cluster.ts.
export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, with `?schema=` when given. */
  url(schema?: string): string;
  port: number;
  /** The temporary directory: data/, server.log and the unix socket. */
  dir: string;
  /** Stops the server (fast shutdown: sessions are disconnected). */
  stop(): void;
  start(): void;
  /** pg_ctl restart: every connection is cut; the data stays. */
  restart(): void;
  /** The server's own log so far. */
  log(): string;
  /** Stops it (immediate) and removes the directory. */
  destroy(): void;
}

/** The newest PostgreSQL binaries under /usr/lib/postgresql/VERSION/bin, or PG_BIN when set. */
export declare function postgresBin(): string | undefined;
export declare function freePort(): Promise<number>;
/** initdb into a temporary directory and start it on a free port (as the `postgres` OS user when root). */
export declare function startPgCluster(): Promise<PgCluster>;
