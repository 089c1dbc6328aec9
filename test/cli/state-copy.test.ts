import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PromotionRecord } from '../../src/core/model.js';
import { lockstep, lockstepAwait, requireBuild, type CliResult } from '../helpers/cli.js';
import { POSTGRES_URL } from '../helpers/database-urls.js';
import { LEGACY_CONFIG, LEGACY_ENTRIES, LEGACY_HEAD, writeLegacyState } from '../helpers/legacy-state.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// lockstep state copy through the built CLI, between real SQLite files and a real PostgreSQL, in
// every direction: the history reads back the same and the audit log verifies to the same head.
// The source is the state the Lockstep before the PostgreSQL store wrote (test/fixtures).

const PASSWORD = 'copy-pw-never-shown-51c2';

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function pgState(schema: string): string {
  const url = new URL(POSTGRES_URL);
  url.password = PASSWORD;
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

interface CopyOutput {
  total: number;
  rows: Record<string, number>;
  audit: { entries: number; head: string };
}

describe('lockstep state copy', () => {
  let project: TestProject;
  let source: string;
  const schemas: string[] = [];

  function schema(): string {
    const name = `lockstep_copy_${randomBytes(5).toString('hex')}`;
    schemas.push(name);
    return name;
  }

  function run(args: string[], status = 0, env: NodeJS.ProcessEnv = {}, p = project): CliResult {
    const r = lockstep(p.dir, args, env);
    expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(status);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    return r;
  }

  function json<T>(args: string[]): T {
    return JSON.parse(run([...args, '-o', 'json']).stdout) as T;
  }

  /** Everything the CLI shows of a state. */
  function everything(state: string): unknown {
    const at = ['--state', state];
    const history = json<PromotionRecord[]>(['history', ...at]);
    return {
      audit: json(['audit', 'verify', ...at]),
      releases: json(['release', 'list', ...at]),
      // Each promotion with its steps.
      history,
      logs: history.map((p) => json(['logs', p.id, ...at])),
      tokens: json(['token', 'list', ...at]),
      deliveries: json(['notify', 'log', '--limit', '1000', ...at]),
      status: json(['status', ...at]),
    };
  }

  let expected: unknown;

  beforeAll(() => {
    requireBuild();
    project = testProject(LEGACY_CONFIG);
    source = join(project.dir, 'old', 'state.db');
    writeLegacyState(source);
    expected = everything(source);
  });

  afterAll(async () => {
    project.cleanup();
    await admin(async (client) => {
      for (const name of schemas) await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
    });
  });

  const a = schema();

  it('copies SQLite into PostgreSQL: every record reads back the same, the audit log to the same head', () => {
    const r = run(['state', 'copy', '--from', source, '--to', pgState(a), '-o', 'json']);
    const out = JSON.parse(r.stdout) as CopyOutput;
    expect(out.audit).toStrictEqual({ entries: LEGACY_ENTRIES, head: LEGACY_HEAD });
    expect(out.rows).toMatchObject({ releases: 3, promotions: 5, steps: 5, approvals: 2, audit_log: LEGACY_ENTRIES, api_tokens: 1, notify_deliveries: 31 });
    // Progress: a line per table on stderr.
    expect(r.stderr).toMatch(/copying .*state\.db → PostgreSQL at 127\.0\.0\.1:5432\/test \(schema lockstep_copy_\w+\)/);
    expect(r.stderr).toMatch(/^lockstep: +audit_log +47 rows$/m);
    expect(r.stderr).toMatch(/^lockstep: +releases +3 rows$/m);
    expect(everything(pgState(a))).toStrictEqual(expected);
  });

  it('copies PostgreSQL into SQLite and into another PostgreSQL schema (named by a secret), and SQLite into SQLite', () => {
    const b = schema();
    const back = join(project.dir, 'back', 'state.db');
    const text = run(['state', 'copy', '--from', pgState(a), '--to', back]).stdout;
    expect(text).toContain(`audit log intact on both: ${LEGACY_ENTRIES} entries, head ${LEGACY_HEAD}`);
    expect(everything(back)).toStrictEqual(expected);

    run(['state', 'copy', '--from', pgState(a), '--to', '${{ secrets.TARGET }}'], 0, { TARGET: pgState(b) });
    expect(everything(pgState(b))).toStrictEqual(expected);

    const again = join(project.dir, 'again');
    run(['state', 'copy', '--from', back, '--to', again]);
    expect(everything(join(again, 'state.db'))).toStrictEqual(expected);
  });

  it('refuses a target that holds records, saying how many, and changes nothing there', () => {
    const r = run(['state', 'copy', '--from', source, '--to', pgState(a)], 4);
    expect(r.stderr).toMatch(/is not empty \(it holds 108 rows: releases 3, promotions 5, /);
    expect(json(['audit', 'verify', '--state', pgState(a)])).toStrictEqual({ ok: true, entries: LEGACY_ENTRIES, head: LEGACY_HEAD });
    const same = run(['state', 'copy', '--from', source, '--to', source], 2);
    expect(same.stderr).toContain('--from and --to name the same state');
    const nothing = run(['state', 'copy', '--from', join(project.dir, 'nowhere.db'), '--to', pgState(schema())], 2);
    expect(nothing.stderr).toMatch(/no state at .*nowhere\.db/);
  });

  it('leaves a copy that takes new promotions on the same chain', () => {
    const state = pgState(a);
    const id = json<{ release: { id: string } }>(['release', 'create', '--set', 'api=3.0.0', '--state', state]).release.id;
    run(['promote', id, '--to', 'dev', '--state', state]);
    expect(project.running('dev', 'api')).toBe('3.0.0');
    const verified = json<{ ok: boolean; entries: number }>(['audit', 'verify', '--head', LEGACY_HEAD, '--state', state]);
    expect(verified.ok).toBe(true);
    expect(verified.entries).toBeGreaterThan(LEGACY_ENTRIES);
    // The source is as it was.
    expect(json(['audit', 'verify', '--state', source])).toStrictEqual({ ok: true, entries: LEGACY_ENTRIES, head: LEGACY_HEAD });
  });

  it('refuses while a promotion runs on the source, writing nothing; copies once it has ended', async () => {
    const busy = testProject(`project: busy
environments:
  dev: {}
components:
  api:
${commandComponent()}
`);
    try {
      const target = schema();
      const id = (JSON.parse(run(['release', 'create', '--set', 'api=1.0.0', '-o', 'json'], 0, {}, busy).stdout) as { release: { id: string } }).release.id;
      const promotion = lockstepAwait(busy.dir, ['promote', id, '--to', 'dev'], { STEP_SLEEP: '4' });
      // Until the promotion is recorded as running (its step sleeps meanwhile).
      for (let i = 0; i < 100; i++) {
        const r = lockstep(busy.dir, ['history', '-o', 'json']);
        if (r.status === 0 && (JSON.parse(r.stdout) as PromotionRecord[])[0]?.state === 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const refused = run(['state', 'copy', '--from', join(busy.dir, '.lockstep'), '--to', pgState(target)], 4, {}, busy);
      expect(refused.stderr).toMatch(/promotion [0-9a-f]+ is running in dev on the source: copy when no promotion runs/);
      const { rows } = await admin((client) => client.query<{ n: string }>(`SELECT (SELECT COUNT(*) FROM ${target}.audit_log) + (SELECT COUNT(*) FROM ${target}.releases) AS n`));
      expect(Number(rows[0]?.n)).toBe(0);

      expect((await promotion).status).toBe(0);
      const copied = JSON.parse(run(['state', 'copy', '--from', join(busy.dir, '.lockstep'), '--to', pgState(target), '-o', 'json'], 0, {}, busy).stdout) as CopyOutput;
      expect(copied.rows.promotions).toBe(1);
      expect(copied.audit.head).toBe((JSON.parse(run(['audit', 'verify', '-o', 'json'], 0, {}, busy).stdout) as { head: string }).head);
    } finally {
      busy.cleanup();
    }
  });
});
