import { createHash } from 'node:crypto';
import { limitText } from '../../core/duration.js';
import { DeadlineError, ScriptError } from './sql-dialect.js';
import type { Dialect, DialectConnection, NetworkLimits, TableName } from './sql-dialect.js';

/** The subset of `pg.Client` the dialect uses. */
export interface PgClientLike {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** What a pg DatabaseError carries besides its message. */
interface PgErrorFields {
  code?: string;
  detail?: string;
  hint?: string;
  position?: string;
}

const LOCK_NOT_AVAILABLE = '55P03';
/**
 * The client-side limit of a query is the server's statement_timeout plus this: the server normally
 * cancels first (cleanly, with its own message); ours is for a server that stopped answering at all.
 */
const CLIENT_GRACE_MS = 15_000;

/**
 * PostgreSQL: DDL is transactional, so each migration runs in its own transaction and a failure
 * leaves no trace. A migration file is sent as one simple-protocol query (PostgreSQL runs the
 * statements in order and stops at the first error), so dollar-quoted bodies need no splitting.
 * The lock is a session-level advisory lock whose key is derived from the table name; advisory locks
 * belong to one database, so two databases on a server never wait for each other.
 */
export function postgresDialect(
  connectionString: string,
  limits: NetworkLimits,
  newClient: () => Promise<PgClientLike> = () => defaultClient(connectionString, limits),
): Dialect {
  return {
    name: 'PostgreSQL',
    transactionalDdl: true,
    async connect(mode) {
      const client = await newClient();
      // Without a listener a dropped connection would crash the process; the next query reports it.
      client.on('error', () => undefined);
      let stopConnecting = (): void => undefined;
      // Cancelling the step closes the connection being opened (a query under way is cancelled by
      // the migrator). pg's end() only half-closes a socket still in its startup, so its socket is
      // destroyed where pg exposes it, and the wait ends at once either way.
      const aborted = new Promise<never>((_, reject) => {
        stopConnecting = (): void => {
          (client as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
          void client.end().catch(() => undefined);
          reject(limits.signal.reason as Error);
        };
      });
      limits.signal.addEventListener('abort', stopConnecting, { once: true });
      try {
        if (limits.signal.aborted) throw limits.signal.reason;
        const connecting = client.connect().catch((error: unknown) => {
          if (limits.signal.aborted) throw limits.signal.reason;
          // pg's own words for its connectionTimeoutMillis: 'timeout expired'.
          if (error instanceof Error && /timeout expired|connection timeout/i.test(error.message)) {
            throw new DeadlineError(`no answer within ${limitText(limits.connectTimeoutMs)} (connect and log in)`, { cause: error });
          }
          throw error;
        });
        await Promise.race([connecting, aborted]);
        const [row] = (await client.query('SELECT pg_backend_pid() AS pid')).rows;
        // Planning and observing must not change anything, whatever a bug upstream asks for.
        if (mode === 'read') await client.query('SET default_transaction_read_only = on');
        return new PostgresConnection(client, Number(row?.pid), newClient, limits);
      } catch (error) {
        // After an abort, end() has been called already and may wait for a peer that never answers.
        if (!limits.signal.aborted) await client.end().catch(() => undefined);
        throw readTimeout(error, limits);
      } finally {
        limits.signal.removeEventListener('abort', stopConnecting);
      }
    },
  };
}

/** Loads pg on the first connection, not with the adapter: it takes about 50 ms, which `validate` must not pay. */
async function defaultClient(connectionString: string, limits: NetworkLimits): Promise<PgClientLike> {
  const { default: pg } = await import('pg');
  return new pg.Client({
    connectionString,
    connectionTimeoutMillis: limits.connectTimeoutMs,
    // The server ends a statement that runs too long (and rolls its transaction back)...
    statement_timeout: limits.queryTimeoutMs,
    // ...and the client gives up on a server that stopped answering.
    query_timeout: limits.queryTimeoutMs + CLIENT_GRACE_MS,
    application_name: 'lockstep',
  });
}

/** pg's client-side query limit as a DeadlineError that says what it waited for. */
function readTimeout(error: unknown, limits: NetworkLimits): unknown {
  if (error instanceof Error && error.message === 'Query read timeout') {
    return new DeadlineError(`no answer within ${limitText(limits.queryTimeoutMs + CLIENT_GRACE_MS)} (query)`, { cause: error });
  }
  return error;
}

class PostgresConnection implements DialectConnection {
  readonly types = {
    version: 'TEXT',
    text: 'TEXT',
    longText: 'TEXT',
    checksum: 'TEXT',
    timestamp: 'TIMESTAMPTZ',
    integer: 'BIGINT',
  };

  constructor(
    private readonly client: PgClientLike,
    private readonly pid: number,
    private readonly newClient: () => Promise<PgClientLike>,
    private readonly limits: NetworkLimits,
  ) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    try {
      return (await this.client.query(sql, [...params])).rows;
    } catch (error) {
      throw readTimeout(error, this.limits);
    }
  }

  quote(identifier: string): string {
    return `"${identifier.replaceAll('"', '""')}"`;
  }

  param(n: number): string {
    return `$${n}`;
  }

  timestamp(date: Date): unknown {
    return date;
  }

  async tableExists(table: TableName): Promise<boolean> {
    const name =
      table.schema === undefined ? this.quote(table.name) : `${this.quote(table.schema)}.${this.quote(table.name)}`;
    const [row] = await this.query('SELECT to_regclass($1) IS NOT NULL AS found', [name]);
    return row?.found === true;
  }

  async tryLock(table: TableName, waitMs: number): Promise<boolean> {
    if (waitMs <= 0) {
      const [row] = await this.query('SELECT pg_try_advisory_lock($1) AS got', [lockKey(table)]);
      return row?.got === true;
    }
    // lock_timeout bounds the wait of pg_advisory_lock itself: the server queues us fairly.
    await this.client.query(`SET lock_timeout = ${Math.max(1, Math.round(waitMs))}`);
    try {
      await this.client.query('SELECT pg_advisory_lock($1)', [lockKey(table)]);
      return true;
    } catch (error) {
      if ((error as PgErrorFields).code === LOCK_NOT_AVAILABLE) return false;
      throw error;
    } finally {
      await this.client.query('RESET lock_timeout');
    }
  }

  async unlock(table: TableName): Promise<void> {
    await this.client.query('SELECT pg_advisory_unlock($1)', [lockKey(table)]);
  }

  async begin(): Promise<void> {
    await this.client.query('BEGIN');
  }

  async commit(): Promise<void> {
    await this.client.query('COMMIT');
  }

  async rollback(): Promise<void> {
    await this.client.query('ROLLBACK');
  }

  async runScript(sql: string): Promise<void> {
    try {
      await this.client.query(sql);
    } catch (error) {
      const late = readTimeout(error, this.limits);
      throw new ScriptError(late instanceof DeadlineError ? late.message : describePgError(error, sql));
    }
  }

  /** pg_cancel_backend from a second connection: the running statement fails and its transaction rolls back. */
  async cancel(): Promise<void> {
    const other = await this.newClient();
    other.on('error', () => undefined);
    try {
      await other.connect();
      await other.query('SELECT pg_cancel_backend($1)', [this.pid]);
    } catch {
      // Best effort: the migration then runs to its end, and the migrator stops after it.
    } finally {
      await other.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

/**
 * The advisory lock key: the first 8 bytes of SHA-256 over the table name, as a signed 64-bit
 * integer. Runners using the same history table in one database take the same lock.
 */
export function lockKey(table: TableName): string {
  const digest = createHash('sha256').update(`lockstep-migrations:${table.text}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/** The server's message with its SQLSTATE, the line of the file it points at, and its detail and hint. */
function describePgError(error: unknown, sql: string): string {
  const fields = error as PgErrorFields;
  const message = error instanceof Error ? error.message : String(error);
  const parts = [message];
  const position = Number(fields.position);
  if (Number.isInteger(position) && position > 0) parts.push(`at line ${lineAt(sql, position - 1)}`);
  if (fields.code !== undefined) parts.push(`(SQLSTATE ${fields.code})`);
  let text = parts.join(' ');
  if (fields.detail) text += `; detail: ${fields.detail}`;
  if (fields.hint) text += `; hint: ${fields.hint}`;
  return text;
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text[i] === '\n') line += 1;
  return line;
}
