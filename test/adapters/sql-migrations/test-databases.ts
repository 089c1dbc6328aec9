import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { lockKey } from '../../../src/adapters/sql-migrations/postgres.js';
import { mysqlLockName } from '../../../src/adapters/sql-migrations/mysql.js';
import { tableName } from '../../../src/adapters/sql-migrations/sql-dialect.js';
import { MYSQL_URL, POSTGRES_URL } from '../../helpers/database-urls.js';

/*
 * The real databases the sql-migrations tests run against: the PostgreSQL and MariaDB servers on this
 * machine (each test gets a fresh, uniquely named database, dropped afterwards) and SQLite files.
 * Everything here reads the database directly, as ground truth, never through the adapter.
 */

export { MYSQL_URL, POSTGRES_URL };

export type Row = Record<string, unknown>;

export interface TestServer {
  readonly name: 'PostgreSQL' | 'MariaDB' | 'SQLite';
  readonly transactionalDdl: boolean;
  /** Throws, saying how to start the server, when it cannot be reached. Tests then fail; they never skip. */
  connect(): Promise<void>;
  /** A fresh database for one test; SQLite files live in `projectDir`. */
  create(projectDir: string): Promise<TestDatabase>;
  /** `SELECT <sleep for seconds>`, where the database has one. */
  sleep?(seconds: number): string;
  close(): Promise<void>;
}

export interface TestDatabase {
  readonly url: string;
  /** The database name as the adapter prints it (no credentials). */
  readonly display: string;
  query(sql: string): Promise<Row[]>;
  /** Tables, their columns and indexes, as one comparable text. */
  schema(): Promise<string>;
  tables(): Promise<string[]>;
  /** Takes the migration lock of `table` from another session; resolves to its release. */
  holdLock(table?: string): Promise<() => Promise<void>>;
  /** A URL for a new user of this database who has a password. */
  urlWithPassword?(password: string): Promise<string>;
  drop(): Promise<void>;
}

function unique(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

// ------------------------------------------------------------------ PostgreSQL

export function postgresServer(): TestServer {
  let admin: pg.Client | undefined;
  const adminClient = (): pg.Client => {
    if (!admin) throw new Error('connect() first');
    return admin;
  };
  return {
    name: 'PostgreSQL',
    transactionalDdl: true,
    async connect() {
      const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
      } catch (error) {
        throw new Error(
          `PostgreSQL is not reachable at ${POSTGRES_URL.replace(/:[^:@/]*@/, '@')} (${(error as Error).message}). ` +
            'Start it (Debian: `pg_ctlcluster --skip-systemctl-redirect <version> main start`), ' +
            'or set LOCKSTEP_TEST_POSTGRES_URL to a server where this user may create databases.',
        );
      }
      admin = client;
    },
    async create() {
      const name = unique('lst');
      await adminClient().query(`CREATE DATABASE ${name}`);
      const url = new URL(POSTGRES_URL);
      url.pathname = `/${name}`;
      const client = new pg.Client({ connectionString: url.toString() });
      client.on('error', () => undefined);
      await client.connect();
      const roles: string[] = [];
      const query = async (sql: string): Promise<Row[]> => (await client.query(sql)).rows as Row[];
      return {
        url: url.toString(),
        display: `database ${name} at ${url.host} (postgres, user ${url.username})`,
        query,
        async schema() {
          const columns = await query(
            `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
             WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
          );
          const indexes = await query(
            `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`,
          );
          return JSON.stringify({ columns, indexes }, null, 1);
        },
        async tables() {
          const rows = await query(
            `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
          );
          return rows.map((r) => String(r.table_name));
        },
        async holdLock(table = 'lockstep_migrations') {
          const holder = new pg.Client({ connectionString: url.toString() });
          holder.on('error', () => undefined);
          await holder.connect();
          await holder.query('SELECT pg_advisory_lock($1)', [lockKey(tableName(table))]);
          return async () => {
            await holder.end();
          };
        },
        async urlWithPassword(password) {
          const role = unique('lst_role');
          roles.push(role);
          await adminClient().query(`CREATE ROLE ${role} LOGIN PASSWORD '${password.replaceAll("'", "''")}'`);
          await adminClient().query(`ALTER DATABASE ${name} OWNER TO ${role}`);
          return `postgres://${role}:${encodeURIComponent(password)}@${url.host}/${name}`;
        },
        async drop() {
          await client.end().catch(() => undefined);
          await adminClient().query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          for (const role of roles) await adminClient().query(`DROP ROLE IF EXISTS ${role}`);
        },
      };
    },
    sleep: (seconds) => `SELECT pg_sleep(${seconds});`,
    async close() {
      await admin?.end();
    },
  };
}

// ------------------------------------------------------------------ MariaDB / MySQL

function mysqlOptions(url: URL, database: string): mysql.ConnectionOptions {
  return {
    host: url.hostname,
    port: url.port === '' ? 3306 : Number(url.port),
    user: decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database,
    connectTimeout: 3000,
  };
}

export function mariadbServer(): TestServer {
  const base = new URL(MYSQL_URL);
  let admin: mysql.Connection | undefined;
  const adminConnection = (): mysql.Connection => {
    if (!admin) throw new Error('connect() first');
    return admin;
  };
  return {
    name: 'MariaDB',
    transactionalDdl: false,
    async connect() {
      try {
        admin = await mysql.createConnection(mysqlOptions(base, base.pathname.slice(1)));
      } catch (error) {
        throw new Error(
          `MariaDB is not reachable at ${MYSQL_URL.replace(/:[^:@/]*@/, '@')} (${(error as Error).message}). ` +
            'Start it (`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`), ' +
            'or set LOCKSTEP_TEST_MYSQL_URL to a server where this user may create databases.',
        );
      }
    },
    async create() {
      const name = unique('lst');
      await adminConnection().query(`CREATE DATABASE ${name}`);
      const connection = await mysql.createConnection(mysqlOptions(base, name));
      const users: string[] = [];
      const url = new URL(MYSQL_URL);
      url.pathname = `/${name}`;
      const query = async (sql: string): Promise<Row[]> => {
        const [rows] = await connection.query(sql);
        return Array.isArray(rows) ? (rows as Row[]) : [];
      };
      return {
        url: url.toString(),
        display: `database ${name} at ${url.host} (mysql, user ${url.username})`,
        query,
        async schema() {
          const columns = await query(
            `SELECT table_name, column_name, column_type, is_nullable, column_default FROM information_schema.columns
             WHERE table_schema = '${name}' ORDER BY table_name, ordinal_position`,
          );
          const indexes = await query(
            `SELECT table_name, index_name, column_name FROM information_schema.statistics WHERE table_schema = '${name}' ORDER BY table_name, index_name, seq_in_index`,
          );
          return JSON.stringify({ columns, indexes }, null, 1);
        },
        async tables() {
          const rows = await query(
            `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = '${name}' ORDER BY table_name`,
          );
          return rows.map((r) => String(r.t));
        },
        async holdLock(table = 'lockstep_migrations') {
          const holder = await mysql.createConnection(mysqlOptions(base, name));
          await holder.query('SELECT GET_LOCK(?, 5)', [mysqlLockName(name, tableName(table))]);
          return async () => {
            await holder.end();
          };
        },
        async urlWithPassword(password) {
          const user = unique('lst_u').slice(0, 32);
          users.push(user);
          for (const host of ['%', 'localhost', '127.0.0.1']) {
            await adminConnection().query(`CREATE USER '${user}'@'${host}' IDENTIFIED BY ?`, [password]);
            await adminConnection().query(`GRANT ALL ON ${name}.* TO '${user}'@'${host}'`);
          }
          return `mysql://${user}:${encodeURIComponent(password)}@${url.host}/${name}`;
        },
        async drop() {
          await connection.end().catch(() => undefined);
          await adminConnection().query(`DROP DATABASE IF EXISTS ${name}`);
          for (const user of users) {
            for (const host of ['%', 'localhost', '127.0.0.1'])
              await adminConnection().query(`DROP USER IF EXISTS '${user}'@'${host}'`);
          }
        },
      };
    },
    sleep: (seconds) => `SELECT SLEEP(${seconds});`,
    async close() {
      await admin?.end();
    },
  };
}

// ------------------------------------------------------------------ SQLite

export function sqliteServer(): TestServer {
  return {
    name: 'SQLite',
    transactionalDdl: true,
    connect: () => Promise.resolve(),
    create(projectDir) {
      mkdirSync(path.join(projectDir, 'data'), { recursive: true });
      const file = path.join(projectDir, 'data', 'app.db');
      const withDb = <T>(fn: (db: Database.Database) => T): T => {
        const db = new Database(file);
        try {
          return fn(db);
        } finally {
          db.close();
        }
      };
      const query = (sql: string): Promise<Row[]> => {
        if (!existsSync(file)) return Promise.resolve([]);
        return Promise.resolve(
          withDb((db) => {
            const statement = db.prepare(sql);
            return statement.reader ? (statement.all() as Row[]) : (statement.run(), []);
          }),
        );
      };
      return Promise.resolve({
        url: 'sqlite:data/app.db',
        display: 'sqlite:data/app.db',
        query,
        async schema() {
          return JSON.stringify(
            await query(`SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name`),
            null,
            1,
          );
        },
        async tables() {
          const rows = await query(
            `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
          );
          return rows.map((r) => String(r.name));
        },
        holdLock() {
          const holder = new Database(file);
          holder.exec('BEGIN IMMEDIATE');
          return Promise.resolve(() => {
            holder.exec('ROLLBACK');
            holder.close();
            return Promise.resolve();
          });
        },
        drop: () => Promise.resolve(),
      });
    },
    close: () => Promise.resolve(),
  };
}
