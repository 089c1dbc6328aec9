import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqlMigrationsAdapter } from '../../../src/adapters/sql-migrations/migrations-adapter.js';
import { migrationsSpec } from '../../../src/adapters/sql-migrations/migrations-spec.js';
import type { MigrationsSpec } from '../../../src/adapters/sql-migrations/migrations-spec.js';
import type { AdapterPlan, StepContext } from '../../../src/core/adapter.js';
import { StepFailure } from '../../../src/core/errors.js';
import { knownAfter } from '../../../src/core/plan.js';
import { stepContext } from '../../helpers/step-context.js';
import { mariadbServer, postgresServer, sqliteServer } from './test-databases.js';
import type { TestDatabase, TestServer } from './test-databases.js';

/*
 * One suite, run against every database the adapter supports (as Kysely loops over its dialects):
 * the real PostgreSQL and MariaDB servers on this machine, and SQLite files. Each test gets a fresh
 * database and a fresh project directory. A server that cannot be reached fails the suite.
 */

const USERS_UP = `-- users; the first table
CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL);
`;
const ORDERS_UP = `CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users (id),
  note VARCHAR(100) DEFAULT 'a;b' -- a ';' inside a string and a comment
);
INSERT INTO users (id, email) VALUES (1, 'semi;colon@example.com');
`;
const INDEX_UP = 'CREATE INDEX users_email ON users (email);\n';
/** Statement 3 fails: its first two statements are DDL and DML that must not survive (where they can be undone). */
const BROKEN_UP = `CREATE TABLE audit (id INTEGER);
ALTER TABLE users ADD COLUMN nickname VARCHAR(50);
INSERT INTO no_such_table (id) VALUES (1);
CREATE TABLE never (id INTEGER);
`;

/** Migrations 1 and 2 have downs; 3 has none, so applying it is irreversible. */
const BASE: Record<string, string> = {
  '1_create_users.up.sql': USERS_UP,
  '1_create_users.down.sql': 'DROP TABLE users;\n',
  '2_create_orders.up.sql': ORDERS_UP,
  '2_create_orders.down.sql': 'DELETE FROM users WHERE id = 1;\nDROP TABLE orders;\n',
  '3_add_index.up.sql': INDEX_UP,
};

const servers: TestServer[] = [postgresServer(), mariadbServer(), sqliteServer()];

for (const server of servers) {
  describe(`sql-migrations on ${server.name}`, () => {
    let projectDir: string;
    let db: TestDatabase;
    /** The database this test made, dropped after it (unset when making it failed). */
    let created: TestDatabase | undefined;

    // Connected once, but awaited by every test: an unreachable server fails each test with how to
    // start it, instead of leaving them skipped.
    let reachable: Promise<void> | undefined;
    afterAll(async () => {
      await reachable?.then(() => server.close()).catch(() => undefined);
    });
    beforeEach(async () => {
      await (reachable ??= server.connect());
      projectDir = await mkdtemp(path.join(tmpdir(), 'lockstep-sql-'));
      db = await server.create(projectDir);
      created = db;
      writeMigrations(BASE);
    });
    afterEach(async () => {
      await created?.drop();
      created = undefined;
      if (projectDir !== undefined) await rm(projectDir, { recursive: true, force: true });
    });

    function writeMigrations(files: Record<string, string>): void {
      const dir = path.join(projectDir, 'db', 'migrations');
      mkdirSync(dir, { recursive: true });
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    }

    function removeMigration(name: string): void {
      unlinkSync(path.join(projectDir, 'db', 'migrations', name));
    }

    function spec(overrides: Partial<Record<keyof MigrationsSpec, string>> = {}): MigrationsSpec {
      return migrationsSpec.parse({ url: db.url, dir: 'db/migrations', ...overrides });
    }

    function context(
      version: string,
      previousVersion: string | undefined,
      overrides: Partial<StepContext> = {},
    ): ReturnType<typeof stepContext> {
      return stepContext({
        projectDir,
        version,
        previousVersion,
        component: 'schema',
        promotionId: 'promo-7',
        ...overrides,
      });
    }

    /** Plans and applies as the engine does; returns the plan and what was logged. */
    async function promote(
      version: string,
      previous: string | undefined,
      s = spec(),
    ): Promise<{ plan: AdapterPlan; lines: string[]; heartbeats: number }> {
      const { ctx, lines, heartbeats } = context(version, previous);
      const plan = await sqlMigrationsAdapter.plan(s, ctx);
      await sqlMigrationsAdapter.apply(s, plan, ctx);
      return { plan, lines, heartbeats: heartbeats() };
    }

    async function history(): Promise<{ version: string; name: string; applied_by: string; failure: unknown }[]> {
      const rows = await db.query(
        'SELECT version, name, applied_by, failure FROM lockstep_migrations ORDER BY version',
      );
      return rows.map((r) => ({
        version: String(r.version),
        name: String(r.name),
        applied_by: String(r.applied_by),
        failure: r.failure,
      }));
    }

    async function failure(promise: Promise<unknown>): Promise<StepFailure> {
      const error: unknown = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StepFailure);
      return error as StepFailure;
    }

    it('plans the pending migrations with their SQL, and says which cannot be undone, without touching the database', async () => {
      const before = await db.schema();
      const { ctx } = context('3', undefined);
      const plan = await sqlMigrationsAdapter.plan(spec(), ctx);
      expect(plan.summary).toContain('apply 3 migrations');
      expect(plan.summary).toContain('version 0 → 3');
      expect(plan.irreversible).toBe(true);
      expect(plan.details).toContain(
        '-- up 1_create_users (db/migrations/1_create_users.up.sql; down: db/migrations/1_create_users.down.sql)',
      );
      expect(plan.details).toContain(
        '-- up 3_add_index (db/migrations/3_add_index.up.sql; no down file: cannot be rolled back)',
      );
      expect(plan.details).toContain("note VARCHAR(100) DEFAULT 'a;b'");
      expect(plan.details).toContain(INDEX_UP.trim());
      expect(JSON.parse(JSON.stringify(plan.data))).toEqual(plan.data);
      expect(await db.schema()).toBe(before);
      expect(await db.tables()).toEqual([]);
      // Not even an empty SQLite file is created by planning.
      if (server.name === 'SQLite') expect(existsSync(path.join(projectDir, 'data', 'app.db'))).toBe(false);

      const reversible = await sqlMigrationsAdapter.plan(spec(), context('2', undefined).ctx);
      expect(reversible.irreversible).toBe(false);
      expect(reversible.summary).toContain('apply 2 migrations');
    });

    it('moves up to the version, then down to it, recording each migration; applying again changes nothing', async () => {
      const { lines, heartbeats } = await promote('2', undefined);
      expect(heartbeats).toBeGreaterThanOrEqual(2);
      expect((await db.tables()).sort()).toEqual(['lockstep_migrations', 'orders', 'users']);
      expect(await history()).toEqual([
        { version: '1', name: '1_create_users', applied_by: 'promo-7', failure: null },
        { version: '2', name: '2_create_orders', applied_by: 'promo-7', failure: null },
      ]);
      expect(lines.some((l) => l.startsWith('up 2_create_orders: done in'))).toBe(true);
      const [row] = await db.query(
        "SELECT checksum, duration_ms, applied_at FROM lockstep_migrations WHERE version = '1'",
      );
      expect(String(row?.checksum)).toMatch(/^[0-9a-f]{64}$/);
      expect(Number(row?.duration_ms)).toBeGreaterThanOrEqual(0);
      expect(row?.applied_at).toBeTruthy();

      const again = context('2', '2');
      const unchanged = await sqlMigrationsAdapter.plan(spec(), again.ctx);
      expect(unchanged.action).toBe('unchanged');
      await sqlMigrationsAdapter.apply(spec(), unchanged, again.ctx);
      expect(again.lines.join('\n')).toContain('nothing to do');
      expect((await history()).length).toBe(2);

      const down = await promote('0', '2');
      expect(down.plan.summary).toContain('revert 2 migrations');
      expect(down.plan.details).toContain('DROP TABLE orders;');
      expect(down.plan.details!.indexOf('-- down 2_create_orders')).toBeLessThan(
        down.plan.details!.indexOf('-- down 1_create_users'),
      );
      expect(await db.tables()).toEqual(['lockstep_migrations']);
      expect(await history()).toEqual([]);

      const observed = await sqlMigrationsAdapter.observe!(spec(), context('0', '2').ctx);
      expect(observed.version).toBe('0');
      expect(observed.drift).toEqual([]);
    });

    it('refuses a version that matches no migration file, at plan time', async () => {
      const error = await failure(sqlMigrationsAdapter.plan(spec(), context('7', undefined).ctx));
      expect(error.message).toContain('version 7 matches no migration in db/migrations');
      expect(error.message).toContain('the newest is 3_add_index');
      const text = await failure(sqlMigrationsAdapter.plan(spec(), context('git:4f2a1c', undefined).ctx));
      expect(text.message).toContain('not a migration version');
      expect(await db.tables()).toEqual([]);
    });

    if (server.transactionalDdl) {
      it('a failing migration leaves the schema exactly as it was', async () => {
        await promote('3', undefined);
        writeMigrations({ '4_broken.up.sql': BROKEN_UP, '4_broken.down.sql': 'DROP TABLE audit;\n' });
        const before = await db.schema();
        const { ctx } = context('4', '3');
        const plan = await sqlMigrationsAdapter.plan(spec(), ctx);
        const error = await failure(sqlMigrationsAdapter.apply(spec(), plan, ctx));
        expect(error.message).toContain('up 4_broken failed');
        expect(error.message).toMatch(/no_such_table/);
        expect(error.retryable).toBe(false);
        expect(error.untouched).toBe(true);
        expect(await db.schema()).toBe(before);
        expect((await history()).map((r) => r.version)).toEqual(['1', '2', '3']);
      });
    } else {
      it('a failing migration names the statement that failed, and later runs stop until a person fixes it', async () => {
        await promote('3', undefined);
        writeMigrations({ '4_broken.up.sql': BROKEN_UP, '4_broken.down.sql': 'DROP TABLE audit;\n' });
        const { ctx, lines } = context('4', '3');
        const plan = await sqlMigrationsAdapter.plan(spec(), ctx);
        const error = await failure(sqlMigrationsAdapter.apply(spec(), plan, ctx));
        expect(error.message).toContain('up 4_broken failed: statement 3 of 4 (line 3) failed');
        expect(error.message).toContain('the statement: INSERT INTO no_such_table (id) VALUES (1)');
        expect(error.message).toContain('statements 1 to 2 stayed applied');
        expect(error.untouched).toBe(false);
        expect(lines.join('\n')).toContain('cannot roll back DDL');
        expect(await db.tables()).toContain('audit');
        expect(await db.tables()).not.toContain('never');
        const rows = await history();
        expect(rows.map((r) => r.version)).toEqual(['1', '2', '3', '4']);
        expect(String(rows[3]?.failure)).toContain('statement 3 of 4 (line 3) failed');

        const refused = await failure(sqlMigrationsAdapter.plan(spec(), context('4', '3').ctx));
        expect(refused.message).toContain('migration 4_broken failed part-way');
        expect(refused.message).toContain("UPDATE lockstep_migrations SET failure = NULL WHERE version = '4'");
        const observed = await sqlMigrationsAdapter.observe!(spec(), context('4', '3').ctx);
        expect(observed.drift?.[0]).toContain('4_broken failed part-way');
      });

      it('a migration whose first statement fails changes nothing and is not recorded', async () => {
        writeMigrations({
          '4_broken.up.sql': 'INSERT INTO no_such_table (id) VALUES (1);\nCREATE TABLE never (id INTEGER);\n',
        });
        await promote('3', undefined);
        const { ctx } = context('4', '3');
        const error = await failure(
          sqlMigrationsAdapter.apply(spec(), await sqlMigrationsAdapter.plan(spec(), ctx), ctx),
        );
        expect(error.message).toContain('Nothing of this migration was applied');
        expect(error.untouched).toBe(true);
        expect((await history()).map((r) => r.version)).toEqual(['1', '2', '3']);
      });
    }

    it('refuses to run when an applied migration file was changed, naming the file and the fix', async () => {
      await promote('2', undefined);
      writeMigrations({ '1_create_users.up.sql': USERS_UP.replace('VARCHAR(200)', 'VARCHAR(300)') });
      const plan = await failure(sqlMigrationsAdapter.plan(spec(), context('3', '2').ctx));
      expect(plan.message).toContain(
        'db/migrations/1_create_users.up.sql was changed after it was applied to this database',
      );
      expect(plan.message).toContain('put the change in a new migration');
      expect(plan.retryable).toBe(false);
      const { ctx } = context('3', '2');
      const apply = await failure(sqlMigrationsAdapter.apply(spec(), { summary: '' }, ctx));
      expect(apply.message).toContain('1_create_users.up.sql was changed');
      expect(apply.untouched).toBe(true);
      expect((await history()).map((r) => r.version)).toEqual(['1', '2']);

      const observed = await sqlMigrationsAdapter.observe!(spec(), context('2', undefined).ctx);
      expect(observed.version).toBe('2');
      expect(observed.drift).toHaveLength(1);
      expect(observed.drift?.[0]).toContain('1_create_users.up.sql was changed');

      // Line endings alone are not a change (a checkout with CRLF).
      writeMigrations({ '1_create_users.up.sql': USERS_UP.replaceAll('\n', '\r\n') });
      expect((await sqlMigrationsAdapter.observe!(spec(), context('2', undefined).ctx)).drift).toEqual([]);
    });

    it('refuses to run when an applied migration file was removed', async () => {
      await promote('2', undefined);
      removeMigration('1_create_users.up.sql');
      removeMigration('1_create_users.down.sql');
      const error = await failure(sqlMigrationsAdapter.plan(spec(), context('3', '2').ctx));
      expect(error.message).toContain('migration 1_create_users was applied');
      expect(error.message).toContain('db/migrations/1_create_users.up.sql is gone: restore the file');
      const { ctx } = context('3', '2');
      await failure(sqlMigrationsAdapter.apply(spec(), { summary: '' }, ctx));
      expect(await db.tables()).not.toContain('never');
      expect((await history()).map((r) => r.version)).toEqual(['1', '2']);
    });

    it('refuses to run when the database has a version the directory does not know', async () => {
      await promote('3', undefined);
      removeMigration('3_add_index.up.sql');
      const error = await failure(sqlMigrationsAdapter.plan(spec(), context('2', '3').ctx));
      expect(error.message).toContain('the database has migration 3_add_index (version 3');
      expect(error.message).toContain('newer than every file there (newest: 2_create_orders)');
      const apply = await failure(sqlMigrationsAdapter.apply(spec(), { summary: '' }, context('2', '3').ctx));
      expect(apply.untouched).toBe(true);
      expect((await history()).map((r) => r.version)).toEqual(['1', '2', '3']);
    });

    it('refuses a migration older than the newest applied one that never ran', async () => {
      await promote('1', undefined);
      writeMigrations({ '0.5_early.up.sql': 'CREATE TABLE early (id INTEGER);\n' });
      const error = await failure(sqlMigrationsAdapter.plan(spec(), context('2', '1').ctx));
      expect(error.message).toContain('db/migrations/0.5_early.up.sql was never applied to this database');
      expect(error.message).toContain('Give it a version above 1');
    });

    it('refuses to apply migrations that changed after the plan was made', async () => {
      const { ctx } = context('2', undefined);
      const plan = await sqlMigrationsAdapter.plan(spec(), ctx);
      writeMigrations({ '2_create_orders.up.sql': `${ORDERS_UP}-- edited after the plan\n` });
      const error = await failure(sqlMigrationsAdapter.apply(spec(), plan, ctx));
      expect(error.message).toContain('db/migrations/2_create_orders.up.sql changed since the plan was made');
      expect(error.untouched).toBe(true);
      expect(await db.tables()).not.toContain('users');
    });

    it('two runners at once never both migrate: each migration is recorded once', async () => {
      const slow = server.sleep?.(0.3) ?? '';
      writeMigrations({ '1_create_users.up.sql': `${USERS_UP}${slow}\n` });
      const first = context('3', undefined, { promotionId: 'promo-a' });
      const second = context('3', undefined, { promotionId: 'promo-b' });
      const results = await Promise.allSettled([
        sqlMigrationsAdapter.apply(spec(), { summary: '' }, first.ctx),
        sqlMigrationsAdapter.apply(spec(), { summary: '' }, second.ctx),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      const rows = await history();
      expect(rows.map((r) => r.version)).toEqual(['1', '2', '3']);
      // One runner did all three; the other waited for the lock, then found nothing to do.
      expect(new Set(rows.map((r) => r.applied_by)).size).toBe(1);
      const ran = (lines: string[]): number => lines.filter((l) => / done in /.test(l)).length;
      expect(ran(first.lines) + ran(second.lines)).toBe(3);
      const idle = ran(first.lines) === 0 ? first.lines : second.lines;
      expect(idle.join('\n')).toContain('nothing to do');
      if (server.sleep) expect(idle.join('\n')).toContain('waiting for the migration lock');
    });

    it('waits for the lock for lockTimeout, then fails retryably saying another runner holds it', async () => {
      await promote('1', undefined);
      const release = await db.holdLock();
      try {
        const { ctx, lines } = context('2', '1');
        const started = Date.now();
        const error = await failure(sqlMigrationsAdapter.apply(spec({ lockTimeout: '400ms' }), { summary: '' }, ctx));
        expect(error.message).toContain('timed out after 400ms waiting for the migration lock on');
        expect(error.message).toContain('another runner is migrating this database');
        expect(error.retryable).toBe(true);
        expect(error.untouched).toBe(true);
        expect(Date.now() - started).toBeGreaterThanOrEqual(350);
        expect(lines.join('\n')).toContain('waiting for the migration lock');
      } finally {
        await release();
      }
      expect((await history()).map((r) => r.version)).toEqual(['1']);
      await promote('2', '1');
      expect((await history()).map((r) => r.version)).toEqual(['1', '2']);
    });

    it('rolls back with the down migrations, newest first, to the previous version', async () => {
      writeMigrations({
        '3_add_index.down.sql': 'DROP INDEX users_email' + (server.name === 'MariaDB' ? ' ON users' : '') + ';\n',
      });
      await promote('1', undefined);
      await promote('3', '1');
      const { ctx, lines } = context('3', '1');
      await sqlMigrationsAdapter.rollback!(spec(), ctx);
      const downs = lines.filter((l) => /^down \S+ \(/.test(l));
      expect(downs).toEqual([
        'down 3_add_index (db/migrations/3_add_index.down.sql)',
        'down 2_create_orders (db/migrations/2_create_orders.down.sql)',
      ]);
      expect((await db.tables()).sort()).toEqual(['lockstep_migrations', 'users']);
      expect((await history()).map((r) => r.version)).toEqual(['1']);
      expect((await sqlMigrationsAdapter.observe!(spec(), ctx)).version).toBe('1');
    });

    it('refuses a rollback that needs a missing down file, before running anything', async () => {
      await promote('1', undefined);
      await promote('3', '1');
      const error = await failure(sqlMigrationsAdapter.rollback!(spec(), context('3', '1').ctx));
      expect(error.message).toContain('no down migration db/migrations/3_add_index.down.sql');
      expect((await history()).map((r) => r.version)).toEqual(['1', '2', '3']);
    });

    it('stops between migrations when cancelled, keeping the ones that finished', async () => {
      const controller = new AbortController();
      const { ctx } = context('3', undefined, { signal: controller.signal });
      const log = ctx.log;
      const cancelling: StepContext = {
        ...ctx,
        log: (line) => {
          log(line);
          if (line.startsWith('up 1_create_users: done'))
            controller.abort(new StepFailure('cancelled by the test', false));
        },
      };
      const error = await failure(sqlMigrationsAdapter.apply(spec(), { summary: '' }, cancelling));
      expect(error.message).toContain('cancelled by the test');
      expect(error.message).toContain('is at version 1');
      expect((await history()).map((r) => r.version)).toEqual(['1']);
    });

    if (server.name === 'PostgreSQL') {
      it('cancelling stops the running statement, and its migration is undone', async () => {
        writeMigrations({ '1_create_users.up.sql': `${USERS_UP}SELECT pg_sleep(20);\n` });
        const controller = new AbortController();
        const { ctx } = context('1', undefined, { signal: controller.signal });
        setTimeout(() => controller.abort(new StepFailure('cancelled by the test', false)), 400);
        const started = Date.now();
        const error = await failure(sqlMigrationsAdapter.apply(spec(), { summary: '' }, ctx));
        expect(Date.now() - started).toBeLessThan(5000);
        expect(error.message).toContain('up 1_create_users was stopped and undone');
        expect(error.untouched).toBe(true);
        expect(await db.tables()).toEqual(['lockstep_migrations']);
      });
    }

    if (server.name !== 'SQLite') {
      it('never shows the password of the URL: not in logs, plans, errors or observations', async () => {
        const password = 'Pa:ss/w@rd;x-9f3k';
        const url = await db.urlWithPassword!(password);
        const withPassword = (overrides: Partial<Record<keyof MigrationsSpec, string>> = {}): MigrationsSpec =>
          migrationsSpec.parse({ url, dir: 'db/migrations', ...overrides });
        const shown: string[] = [];
        const run = async (
          version: string,
          previous: string | undefined,
          fn: (ctx: StepContext) => Promise<unknown>,
        ): Promise<void> => {
          const { ctx, lines } = context(version, previous);
          try {
            shown.push(JSON.stringify(await fn(ctx)) ?? '');
          } catch (error) {
            shown.push(String(error), (error as Error).stack ?? '', JSON.stringify(error));
          }
          shown.push(...lines);
        };

        const s = withPassword();
        await run('2', undefined, async (ctx) =>
          sqlMigrationsAdapter.apply(s, await sqlMigrationsAdapter.plan(s, ctx), ctx),
        );
        writeMigrations({ '4_broken.up.sql': BROKEN_UP });
        await run('4', '2', (ctx) => sqlMigrationsAdapter.plan(s, ctx));
        await run('4', '2', (ctx) => sqlMigrationsAdapter.apply(s, { summary: '' }, ctx));
        await run('4', '2', (ctx) => sqlMigrationsAdapter.observe!(s, ctx));
        const release = await db.holdLock();
        await run('3', '2', (ctx) =>
          sqlMigrationsAdapter.apply(withPassword({ lockTimeout: '200ms' }), { summary: '' }, ctx),
        );
        await release();
        // A database that does not exist, and a wrong password: the drivers' own errors.
        const missing = new URL(url);
        missing.pathname = '/no_such_database_here';
        await run('2', undefined, (ctx) => sqlMigrationsAdapter.plan(withPassword({ url: missing.toString() }), ctx));
        const wrong = new URL(url);
        wrong.password = encodeURIComponent(`${password}-wrong`);
        await run('2', undefined, (ctx) => sqlMigrationsAdapter.plan(withPassword({ url: wrong.toString() }), ctx));
        const refused = new URL(url);
        refused.port = '1';
        await run('2', undefined, (ctx) => sqlMigrationsAdapter.plan(withPassword({ url: refused.toString() }), ctx));
        // The spec's own messages.
        const invalid = migrationsSpec.safeParse({ url: url.replace(/^\w+:/, 'ftp:'), dir: 'db/migrations' });
        shown.push(JSON.stringify(invalid.error?.issues));

        const all = shown.join('\n');
        expect(all).toContain('up 1_create_users: done in');
        expect(all).toContain('could not connect to');
        expect(all).toContain('timed out after 200ms');
        for (const form of [password, encodeURIComponent(password), 'Pa:ss', 'rd;x-9f3k'])
          expect(all).not.toContain(form);
      });
    }
  });
}

describe('sql-migrations with a database URL known only after its producer applies', () => {
  let projectDir: string;
  let connections = 0;
  const listener = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });

  beforeEach(async () => {
    projectDir = await mkdtemp(path.join(tmpdir(), 'lockstep-sql-unknown-'));
    mkdirSync(path.join(projectDir, 'db', 'migrations'), { recursive: true });
    for (const [name, text] of Object.entries(BASE)) writeFileSync(path.join(projectDir, 'db', 'migrations', name), text);
    connections = 0;
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    await rm(projectDir, { recursive: true, force: true });
  });

  it('plans every migration up to the version with its SQL, connecting to nothing and showing no password', async () => {
    // A reachable server and port: only the database name is unknown, so a connection would be tried.
    const { port } = listener.address() as AddressInfo;
    const url = `postgres://app:pw-very-secret@127.0.0.1:${port}/${knownAfter('infra')}?sslpassword=also-secret`;
    const s = migrationsSpec.parse({ url, dir: 'db/migrations' });
    const { ctx, lines } = stepContext({ projectDir, version: '3', previousVersion: undefined, component: 'schema' });
    const plan = await sqlMigrationsAdapter.plan(s, ctx);
    const database = `database postgres://app:***@127.0.0.1:${port}/(known after infra applies)`;
    expect(plan.summary).toBe(
      `apply the 3 migrations up to version 3 that ${database} has not run (which of them it has run is read once it is known) ` +
        '(irreversible if 3_add_index runs: no down file)',
    );
    expect(plan.irreversible).toBe(true);
    expect(plan.data).toBeUndefined();
    expect(plan.details).toContain(
      '-- up 1_create_users (db/migrations/1_create_users.up.sql; down: db/migrations/1_create_users.down.sql)\n' + USERS_UP,
    );
    expect(plan.details).toContain('-- up 3_add_index (db/migrations/3_add_index.up.sql; no down file: cannot be rolled back)\n' + INDEX_UP);
    expect(connections).toBe(0);
    for (const secret of ['pw-very-secret', 'also-secret']) expect(JSON.stringify([plan, lines])).not.toContain(secret);
  });

  it('still refuses a version that matches no migration file', async () => {
    const s = migrationsSpec.parse({ url: knownAfter('infra'), dir: 'db/migrations' });
    const error: unknown = await sqlMigrationsAdapter.plan(s, stepContext({ projectDir, version: '7', previousVersion: undefined }).ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).message).toContain('version 7 matches no migration in db/migrations');
  });
});
