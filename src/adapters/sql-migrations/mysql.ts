import { createHash } from 'node:crypto';
import { limitText } from '../../core/duration.js';
import { DeadlineError, ScriptError } from './sql-dialect.js';
import type { Dialect, DialectConnection, NetworkLimits, TableName } from './sql-dialect.js';
import { splitStatements, statementPreview } from './sql-statements.js';

/** The subset of a `mysql2/promise` connection the dialect uses. */
export interface MysqlConnectionLike {
  /** `timeout`: mysql2's client-side limit for this query, in ms. */
  query(options: { sql: string; timeout?: number }, values?: unknown[]): Promise<[unknown, unknown]>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface MysqlOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  readonly database: string;
  readonly ssl: boolean;
}

/** What a mysql2 error carries besides its message. */
interface MysqlErrorFields {
  code?: string;
  sqlMessage?: string;
}

/** MySQL refuses user lock names longer than this. */
const MAX_LOCK_NAME = 64;

/**
 * MySQL and MariaDB: DDL commits implicitly and cannot be rolled back, so a migration runs statement
 * by statement (split as the `mysql` client splits, DELIMITER included) and a failure names the
 * statement. The lock is `GET_LOCK`, named after the database and the table: user locks are
 * server-wide, so the database is part of the name.
 */
export function mysqlDialect(
  options: MysqlOptions,
  limits: NetworkLimits,
  newConnection: () => Promise<MysqlConnectionLike> = () => defaultConnection(options, limits),
): Dialect {
  return {
    name: 'MySQL/MariaDB',
    transactionalDdl: false,
    async connect(mode) {
      const connection = await newConnection();
      // Without a listener a dropped connection would crash the process; the next query reports it.
      connection.on('error', () => undefined);
      const opened = new MysqlConnection(connection, options.database, limits.queryTimeoutMs);
      try {
        if (mode === 'read') await opened.query('SET SESSION TRANSACTION READ ONLY');
      } catch (error) {
        await connection.end().catch(() => undefined);
        throw error;
      }
      return opened;
    },
  };
}

/**
 * Loads mysql2 on the first connection, not with the adapter: it takes about 50 ms, which `validate`
 * must not pay. The callback API's connection is made first, so that cancelling the step can destroy
 * its socket while the handshake is still under way.
 */
async function defaultConnection(options: MysqlOptions, limits: NetworkLimits): Promise<MysqlConnectionLike> {
  const { default: mysql } = await import('mysql2');
  if (limits.signal.aborted) throw limits.signal.reason;
  const connection = mysql.createConnection({
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.database,
    ssl: options.ssl ? {} : undefined,
    connectTimeout: limits.connectTimeoutMs,
    multipleStatements: false,
    // Timestamps in the history table are UTC, written and read as Date.
    timezone: 'Z',
  });
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      connection.destroy();
      reject(limits.signal.reason as Error);
    };
    const settle = (): void => {
      limits.signal.removeEventListener('abort', onAbort);
      connection.removeListener('error', onError);
    };
    const onError = (error: Error & { code?: string }): void => {
      settle();
      // mysql2's own connectTimeout ends in ETIMEDOUT.
      reject(error.code === 'ETIMEDOUT' ? new DeadlineError(`no answer within ${limitText(limits.connectTimeoutMs)} (connect and log in)`, { cause: error }) : error);
    };
    limits.signal.addEventListener('abort', onAbort, { once: true });
    connection.once('connect', () => {
      settle();
      resolve();
    });
    connection.on('error', onError);
  });
  return connection.promise();
}

class MysqlConnection implements DialectConnection {
  readonly types = {
    version: 'VARCHAR(64)',
    text: 'VARCHAR(255)',
    longText: 'TEXT',
    checksum: 'CHAR(64)',
    timestamp: 'DATETIME(3)',
    integer: 'BIGINT',
  };

  constructor(
    private readonly connection: MysqlConnectionLike,
    private readonly database: string,
    /** Each query's and each migration statement's limit (`queryTimeout`). */
    private readonly timeoutMs: number,
  ) {}

  async query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]> {
    let rows: unknown;
    try {
      [rows] = await this.connection.query({ sql, timeout: this.timeoutMs }, params === undefined ? undefined : [...params]);
    } catch (error) {
      throw this.late(error) ?? error;
    }
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  }

  /** mysql2's per-query timeout as a DeadlineError that says what it waited for. */
  private late(error: unknown): DeadlineError | undefined {
    if ((error as MysqlErrorFields).code !== 'PROTOCOL_SEQUENCE_TIMEOUT') return undefined;
    return new DeadlineError(`no answer within ${limitText(this.timeoutMs)} (query)`, { cause: error });
  }

  quote(identifier: string): string {
    return `\`${identifier.replaceAll('`', '``')}\``;
  }

  param(): string {
    return '?';
  }

  timestamp(date: Date): unknown {
    return date;
  }

  async tableExists(table: TableName): Promise<boolean> {
    const [row] = await this.query(
      'SELECT COUNT(*) AS found FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?',
      [table.schema ?? null, table.name],
    );
    return Number(row?.found) > 0;
  }

  async tryLock(table: TableName, waitMs: number): Promise<boolean> {
    // MariaDB waits fractions of a second; MySQL rounds to whole seconds (0 means: try once). The
    // migrator calls again until lockTimeout has passed, so both honour it.
    const seconds = Math.max(0, Math.round(waitMs)) / 1000;
    const [row] = await this.query('SELECT GET_LOCK(?, ?) AS got', [this.lockName(table), seconds]);
    return Number(row?.got) === 1;
  }

  async unlock(table: TableName): Promise<void> {
    await this.query('SELECT RELEASE_LOCK(?)', [this.lockName(table)]);
  }

  // DDL commits implicitly: a transaction around a migration would promise what it cannot keep.
  begin(): Promise<void> {
    return Promise.resolve();
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }

  rollback(): Promise<void> {
    return Promise.resolve();
  }

  async runScript(sql: string, hooks: { beforeStatement: (index: number, count: number) => void }): Promise<void> {
    const statements = splitStatements(sql);
    for (const [i, statement] of statements.entries()) {
      hooks.beforeStatement(i + 1, statements.length);
      try {
        // No values: the text is sent as it is, and a `?` in it is not a placeholder.
        await this.connection.query({ sql: statement.text, timeout: this.timeoutMs });
      } catch (error) {
        const late = this.late(error);
        const fields: MysqlErrorFields = late === undefined ? (error as MysqlErrorFields) : { sqlMessage: late.message };
        const reason = fields.sqlMessage ?? (error instanceof Error ? error.message : String(error));
        throw new ScriptError(
          `statement ${i + 1} of ${statements.length} (line ${statement.line}) failed: ${reason}${fields.code === undefined ? '' : ` (${fields.code})`}; ` +
            `the statement: ${statementPreview(statement.text)}`,
          { index: i + 1, count: statements.length, line: statement.line, text: statement.text },
        );
      }
    }
  }

  async close(): Promise<void> {
    await this.connection.end();
  }

  private lockName(table: TableName): string {
    return mysqlLockName(this.database, table);
  }
}

/**
 * The GET_LOCK name: `lockstep:DATABASE.TABLE`, or a digest of it when that is too long for MySQL.
 * Runners migrating the same history table of the same database take the same lock.
 */
export function mysqlLockName(database: string, table: TableName): string {
  const name = `lockstep:${table.schema ?? database}.${table.name}`;
  if (name.length <= MAX_LOCK_NAME) return name;
  return `lockstep:${createHash('sha256')
    .update(name)
    .digest('hex')
    .slice(0, MAX_LOCK_NAME - 'lockstep:'.length)}`;
}
