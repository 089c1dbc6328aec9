import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PromotionRecord } from '../../src/core/model.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { lockstep, requireBuild, type CliResult } from '../helpers/cli.js';
import { POSTGRES_URL } from '../helpers/database-urls.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

// lockstep state migrate and state version on both stores through the built CLI; several servers
// starting at once on an empty PostgreSQL schema; the least-privileged role docs/postgresql.md
// describes; a pg_dump of a state restored elsewhere.

const CONFIG = `project: ops
groups:
  sre: [bob@example.com]
environments:
  dev: {}
  prod:
    after: [dev]
    gates:
      approvals: { count: 1, from: [group:sre] }
components:
  api:
${commandComponent()}
`;

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** POSTGRES_URL as `user`, in `schema`, in `database`. */
function pgState(schema: string, options: { user?: string; database?: string } = {}): string {
  const url = new URL(POSTGRES_URL);
  if (options.user !== undefined) url.username = options.user;
  if (options.database !== undefined) url.pathname = `/${options.database}`;
  url.searchParams.set('schema', schema);
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const url = new URL(POSTGRES_URL);
  if (database !== undefined) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const suffix = randomBytes(4).toString('hex');
const names = { schemas: [] as string[], roles: [] as string[], databases: [] as string[] };

function schema(): string {
  const name = `lockstep_mig_${randomBytes(5).toString('hex')}`;
  names.schemas.push(name);
  return name;
}

describe('lockstep state migrate and state version', () => {
  let project: TestProject;

  function run(args: string[], status = 0, env: NodeJS.ProcessEnv = {}): CliResult {
    const r = lockstep(project.dir, args, env);
    expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(status);
    return r;
  }

  beforeAll(() => {
    requireBuild();
    project = testProject(CONFIG);
  });

  afterAll(async () => {
    project.cleanup();
    await admin(async (client) => {
      for (const name of names.schemas) await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      for (const name of names.databases) await client.query(`DROP DATABASE IF EXISTS ${name}`);
      for (const role of names.roles) {
        await client.query(`DROP OWNED BY ${role}`).catch(() => undefined);
        await client.query(`DROP ROLE IF EXISTS ${role}`);
      }
    });
  });

  it('creates and upgrades a PostgreSQL schema, saying what it applied; then finds it up to date', () => {
    const s = schema();
    const empty = JSON.parse(run(['state', 'version', '--state', pgState(s), '-o', 'json']).stdout) as unknown;
    expect(empty).toMatchObject({ version: 0, reads: POSTGRES_MIGRATIONS.length, status: 'empty' });
    const first = JSON.parse(run(['state', 'migrate', '--state', pgState(s), '-o', 'json']).stdout) as unknown;
    expect(first).toStrictEqual({
      state: `PostgreSQL at 127.0.0.1:5432/test (schema ${s})`,
      from: 0,
      to: POSTGRES_MIGRATIONS.length,
      applied: POSTGRES_MIGRATIONS.map(({ version, name }) => ({ version, name })),
    });
    expect(run(['state', 'migrate'], 0, { LOCKSTEP_STATE: pgState(s) }).stdout).toBe(
      `PostgreSQL at 127.0.0.1:5432/test (schema ${s}): schema version ${POSTGRES_MIGRATIONS.length}, up to date\n`,
    );
    expect(run(['state', 'version', '--state', pgState(s)]).stdout).toContain(`this Lockstep reads ${POSTGRES_MIGRATIONS.length}: up to date`);
  });

  it('creates and upgrades a SQLite state the same way', () => {
    const file = join(project.dir, 'fresh', 'state.db');
    expect(run(['state', 'version', '--state', file], 2).stderr).toContain(`no state at ${file}`);
    expect(existsSync(file)).toBe(false);
    const text = run(['state', 'migrate', '--state', file]).stdout;
    expect(text).toContain(`${file}: schema version 0 → ${MIGRATIONS.length}\n  applied 1: initial tables\n`);
    expect(run(['state', 'migrate', '--state', file]).stdout).toBe(`${file}: schema version ${MIGRATIONS.length}, up to date\n`);
    // The database below any API: never through a server.
    expect(run(['state', 'version', '--state', file], 2, { LOCKSTEP_SERVER: 'http://127.0.0.1:9' }).stderr).toContain('lockstep state acts on the database on this machine, not through a server');
  });

  it('refuses a state written by a newer Lockstep, on either store, and changes nothing', async () => {
    const s = schema();
    run(['state', 'migrate', '--state', pgState(s)]);
    await admin((client) => client.query(`INSERT INTO ${s}.schema_version (version, name, applied_at) VALUES (99, 'from the future', 'x')`));
    const file = join(project.dir, 'newer', 'state.db');
    run(['state', 'migrate', '--state', file]);
    spawnSync('sqlite3', [file, `INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'from the future', 'x')`]);

    for (const [state, label, newest] of [
      [pgState(s), 'the state in PostgreSQL at 127.0.0.1:5432/test', POSTGRES_MIGRATIONS.length],
      [file, `the state at ${file}`, MIGRATIONS.length],
    ] as const) {
      const message = `${label} has schema version 99, newer than this Lockstep knows (${newest}): upgrade Lockstep`;
      expect(run(['state', 'migrate', '--state', state], 1).stderr).toContain(message);
      expect(run(['status', '--state', state], 1).stderr).toContain(message);
      expect(run(['release', 'create', '--set', 'api=1.0.0', '--state', state], 1).stderr).toContain(message);
      const version = run(['state', 'version', '--state', state, '-o', 'json'], 1);
      expect(JSON.parse(version.stdout)).toMatchObject({ version: 99, reads: newest, status: 'newer' });
    }
    const { rows } = await admin((client) => client.query(`SELECT COUNT(*)::int AS n FROM ${s}.releases`));
    expect(rows[0]).toStrictEqual({ n: 0 });
  });

  it('brings up three lockstep serve at once on an empty PostgreSQL schema: one migrates, all serve', async () => {
    const s = schema();
    let servers: ServeProcess[] = [];
    try {
      servers = await Promise.all([1, 2, 3].map(() => startServe(project.dir, ['--state', pgState(s)], { LOCKSTEP_SERVER_SECRET: 'three-servers-one-secret-0123456789abcdef' })));
      for (const server of servers) {
        const ready = await fetch(`${server.url}/readyz`);
        expect(ready.status, server.stderr()).toBe(200);
      }
      const { rows } = await admin((client) => client.query(`SELECT version FROM ${s}.schema_version ORDER BY version`));
      expect(rows).toStrictEqual(POSTGRES_MIGRATIONS.map(({ version }) => ({ version })));
    } finally {
      for (const server of servers) await stopServe(server);
    }
  });

  it('runs promotions as a role that owns nothing, after the owner migrated (docs/postgresql.md)', async () => {
    const s = schema();
    const owner = `lockstep_owner_${suffix}`;
    const app = `lockstep_app_${suffix}`;
    names.roles.push(app, owner);
    // The statements of docs/postgresql.md, as an administrator runs them once.
    await admin(async (client) => {
      await client.query(`CREATE ROLE ${owner} LOGIN`);
      await client.query(`CREATE ROLE ${app} LOGIN`);
      await client.query(`CREATE SCHEMA ${s} AUTHORIZATION ${owner}`);
      await client.query(`GRANT CONNECT ON DATABASE test TO ${app}`);
      await client.query(`GRANT USAGE ON SCHEMA ${s} TO ${app}`);
      await client.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app}`);
      await client.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${s} GRANT USAGE ON SEQUENCES TO ${app}`);
    });
    const asApp = pgState(s, { user: app });

    // Before the owner migrated, the application role cannot create the tables, and says who can.
    const early = run(['state', 'migrate', '--state', asApp], 1);
    expect(early.stderr).toMatch(/upgrading it needs a role that may create tables there \(permission denied for schema lockstep_mig_\w+\); run lockstep state migrate as the schema's owner/);

    run(['state', 'migrate', '--state', pgState(s, { user: owner })]);
    const { rows: owned } = await admin((client) =>
      client.query<{ owner: string }>(`SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = $1`, [s]),
    );
    expect(owned).toStrictEqual([{ owner }]);

    const id = (JSON.parse(run(['release', 'create', '--set', 'api=1.0.0', '--state', asApp, '-o', 'json']).stdout) as { release: { id: string } }).release.id;
    run(['promote', id, '--to', 'dev', '--state', asApp]);
    run(['promote', id, '--to', 'prod', '--state', asApp], 3);
    const pending = (JSON.parse(run(['history', '--env', 'prod', '--state', asApp, '-o', 'json']).stdout) as PromotionRecord[])[0];
    run(['approve', pending?.id ?? '', '--state', asApp], 0, { LOCKSTEP_ACTOR: 'bob@example.com' });
    expect(project.running('prod', 'api')).toBe('1.0.0');
    run(['token', 'create', '--name', 'ci', '--state', asApp]);
    expect(JSON.parse(run(['audit', 'verify', '--state', asApp, '-o', 'json']).stdout)).toMatchObject({ ok: true });

    // A copy into another schema of the owner's: as the application role it is refused (moving the
    // sequences on needs the owner) and writes nothing; as the owner it goes through.
    const other = schema();
    await admin(async (client) => {
      await client.query(`CREATE SCHEMA ${other} AUTHORIZATION ${owner}`);
      await client.query(`GRANT USAGE ON SCHEMA ${other} TO ${app}`);
      await client.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${other} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app}`);
      await client.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${other} GRANT USAGE ON SEQUENCES TO ${app}`);
    });
    run(['state', 'migrate', '--state', pgState(other, { user: owner })]);
    const refused = run(['state', 'copy', '--from', asApp, '--to', pgState(other, { user: app })], 1);
    expect(refused.stderr).toMatch(/cannot copy into the state in PostgreSQL at 127\.0\.0\.1:5432\/test as this role \(permission denied for sequence \w+\): copy as the schema's owner/);
    const { rows: none } = await admin((client) => client.query(`SELECT COUNT(*)::int AS n FROM ${other}.audit_log`));
    expect(none).toStrictEqual([{ n: 0 }]);
    const copied = JSON.parse(run(['state', 'copy', '--from', asApp, '--to', pgState(other, { user: owner }), '-o', 'json']).stdout) as { audit: { head: string } };
    expect(copied.audit.head).toBe((JSON.parse(run(['audit', 'verify', '--state', pgState(other, { user: app }), '-o', 'json']).stdout) as { head: string }).head);

    // The application role cannot rewrite history, nor change the schema.
    await admin(async (client) => {
      await client.query(`SET ROLE ${app}`);
      await expect(client.query(`UPDATE ${s}.audit_log SET actor = 'mallory'`)).rejects.toThrow(/the audit log is append-only/);
      await expect(client.query(`DROP TRIGGER audit_log_append_only ON ${s}.audit_log`)).rejects.toThrow(/must be owner/);
      await expect(client.query(`CREATE TABLE ${s}.extra (id int)`)).rejects.toThrow(/permission denied/);
    });
  });

  it('survives pg_dump -n SCHEMA and a restore into a new database and schema: the same audit head', async () => {
    const s = schema();
    const state = pgState(s);
    const id = (JSON.parse(run(['release', 'create', '--set', 'api=2.0.0', '--state', state, '-o', 'json']).stdout) as { release: { id: string } }).release.id;
    run(['promote', id, '--to', 'dev', '--state', state]);
    const head = (JSON.parse(run(['audit', 'verify', '--state', state, '-o', 'json']).stdout) as { head: string }).head;

    const dir = join(project.dir, 'backup');
    mkdirSync(dir);
    const dump = join(dir, 'lockstep.dump');
    const dumped = spawnSync('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', '-n', s, '-f', dump, POSTGRES_URL], { encoding: 'utf8' });
    expect(dumped.status, dumped.stderr).toBe(0);

    const database = `lockstep_restore_${suffix}`;
    names.databases.push(database);
    await admin((client) => client.query(`CREATE DATABASE ${database}`));
    const target = new URL(POSTGRES_URL);
    target.pathname = `/${database}`;
    const restored = spawnSync('pg_restore', ['--no-owner', '--no-privileges', '-d', target.toString(), dump], { encoding: 'utf8' });
    expect(restored.status, restored.stderr).toBe(0);
    await admin((client) => client.query(`ALTER SCHEMA ${s} RENAME TO restored`), database);

    const copy = pgState('restored', { database });
    expect(JSON.parse(run(['audit', 'verify', '--state', copy, '-o', 'json']).stdout)).toMatchObject({ ok: true, head });
    // And it takes new records: the sequences came along.
    run(['promote', id, '--to', 'prod', '--state', copy], 3);
    expect(JSON.parse(run(['audit', 'verify', '--state', copy, '--head', head, '-o', 'json']).stdout)).toMatchObject({ ok: true });
  });
});
