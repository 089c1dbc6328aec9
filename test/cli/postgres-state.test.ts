import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockstep, requireBuild, type CliResult } from '../helpers/cli.js';
import { POSTGRES_URL } from '../helpers/database-urls.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The CLI on a PostgreSQL state: chosen by --state, LOCKSTEP_STATE or a secret, in a schema of its
// own (`?schema=`), with the URL's password never printed.

const CONFIG = `project: shared
environments:
  dev: {}
components:
  api:
${commandComponent()}
`;

const PASSWORD = 'pw-that-must-not-show-7f3a';

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** POSTGRES_URL with a password (trust authentication ignores it) and a schema of Lockstep's own. */
function urlWith(schema: string, password = PASSWORD): string {
  const url = new URL(POSTGRES_URL);
  url.password = password;
  url.searchParams.set('schema', schema);
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('lockstep on a PostgreSQL state', () => {
  let project: TestProject;
  const schema = `lockstep_cli_${randomBytes(5).toString('hex')}`;

  beforeAll(() => {
    requireBuild();
    project = testProject(CONFIG);
  });

  afterAll(async () => {
    project.cleanup();
    await admin((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  });

  it('refuses to read a database Lockstep never wrote, and changes nothing there', async () => {
    const r = lockstep(project.dir, ['status', '--state', urlWith(schema)]);
    expect(r.status, show(r)).not.toBe(0);
    expect(r.stderr).toMatch(/no state in PostgreSQL at 127\.0\.0\.1:5432\/test \(schema lockstep_cli_\w+\)/);
    expect(r.stderr + r.stdout).not.toContain(PASSWORD);
    const { rows } = await admin((client) => client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]));
    expect(rows).toHaveLength(0);
  });

  it('records a release and a promotion there (--state), and reads them back (LOCKSTEP_STATE, a secret)', async () => {
    const created = lockstep(project.dir, ['release', 'create', '--set', 'api=1.0.0', '--state', urlWith(schema), '-o', 'json']);
    expect(created.status, show(created)).toBe(0);
    expect(created.stderr).toMatch(/created a new state at PostgreSQL at 127\.0\.0\.1:5432\/test/);
    const release = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;

    const promoted = lockstep(project.dir, ['promote', release, '--to', 'dev'], { LOCKSTEP_STATE: urlWith(schema) });
    expect(promoted.status, show(promoted)).toBe(0);
    expect(project.running('dev', 'api')).toBe('1.0.0');

    const status = lockstep(project.dir, ['status', '--state', '${{ secrets.STATE_URL }}', '-o', 'json'], { STATE_URL: urlWith(schema) });
    expect(status.status, show(status)).toBe(0);
    expect(JSON.stringify(JSON.parse(status.stdout))).toContain('1.0.0');

    const verified = lockstep(project.dir, ['audit', 'verify'], { LOCKSTEP_STATE: urlWith(schema) });
    expect(verified.status, show(verified)).toBe(0);

    // Nothing went to the SQLite default beside the config; the machine's own files did.
    expect(existsSync(join(project.dir, '.lockstep', 'state.db'))).toBe(false);
    const { rows } = await admin((client) => client.query(`SELECT count(*)::int AS n FROM ${schema}.promotions`));
    expect(rows[0]).toEqual({ n: 1 });
    for (const r of [created, promoted, status, verified]) expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('names the host and database, never the password, when PostgreSQL does not answer', () => {
    const url = new URL(urlWith(schema));
    url.port = '1';
    const r = lockstep(project.dir, ['status', '--state', url.toString()]);
    expect(r.status, show(r)).not.toBe(0);
    expect(r.stderr).toContain('127.0.0.1:1/test');
    expect(r.stderr).not.toContain(PASSWORD);
  });

  it('says which secret is missing, without guessing at values', () => {
    const r = lockstep(project.dir, ['status', '--state', '${{ secrets.NOT_SET_ANYWHERE }}']);
    expect(r.status, show(r)).toBe(2);
    expect(r.stderr).toContain('--state names the secret NOT_SET_ANYWHERE, which is not set');
  });
});
