import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { lockstep, requireBuild, type CliResult } from '../helpers/cli.js';
import { LEGACY_CONFIG, LEGACY_ENTRIES, LEGACY_HEAD, LEGACY_SCHEMA_VERSION, rawRecords, rawRows, writeLegacyState } from '../helpers/legacy-state.js';
import { testProject, type TestProject } from '../helpers/project.js';

// A state written by the Lockstep before the PostgreSQL store (test/fixtures/state-before-postgres.sql,
// made by that commit's own CLI): this one opens it, upgrades it, and loses nothing.

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

describe('a state made by the Lockstep before the PostgreSQL store', () => {
  let project: TestProject;
  let file: string;
  /** Every table's rows as the older Lockstep left them, read before this one touched the file. */
  let before: {
    releases: unknown[];
    promotions: unknown[];
    steps: Record<string, unknown>[];
    logs: Record<string, unknown>[];
    approvals: Record<string, unknown>[];
    tokens: unknown[];
    deliveries: Record<string, unknown>[];
    states: unknown[];
    audit: Record<string, unknown>[];
  };

  function run(args: string[], status = 0, env: NodeJS.ProcessEnv = {}): CliResult {
    const r = lockstep(project.dir, args, env);
    expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(status);
    return r;
  }

  function json<T>(args: string[]): T {
    return JSON.parse(run([...args, '-o', 'json']).stdout) as T;
  }

  beforeAll(() => {
    requireBuild();
    project = testProject(LEGACY_CONFIG);
    file = join(project.dir, '.lockstep', 'state.db');
    writeLegacyState(file);
    before = {
      releases: rawRecords(file, 'releases', 'created_at DESC, id DESC'),
      promotions: rawRecords(file, 'promotions', 'requested_at DESC, id DESC'),
      steps: rawRows(file, 'steps', 'promotion_id, ord'),
      logs: rawRows(file, 'step_logs', 'id'),
      approvals: rawRows(file, 'approvals', 'id'),
      tokens: rawRecords(file, 'api_tokens', 'id'),
      deliveries: rawRows(file, 'notify_deliveries', 'id DESC'),
      states: rawRecords(file, 'component_states', 'environment, component'),
      audit: rawRows(file, 'audit_log', 'seq'),
    };
  });

  afterAll(() => project.cleanup());

  it('says which schema version it has and which this Lockstep reads', () => {
    const version = json<{ version: number; reads: number; status: string }>(['state', 'version']);
    expect(version).toMatchObject({ version: LEGACY_SCHEMA_VERSION, reads: MIGRATIONS.length });
    expect(version.status).toBe(MIGRATIONS.length === LEGACY_SCHEMA_VERSION ? 'current' : 'older');
    expect(run(['state', 'version']).stdout).toContain(`${file}: schema version ${LEGACY_SCHEMA_VERSION}; this Lockstep reads ${MIGRATIONS.length}`);
  });

  it('is upgraded by lockstep state migrate, and its audit log verifies to the same head', () => {
    const migrated = json<{ from: number; to: number; applied: { version: number }[] }>(['state', 'migrate']);
    expect(migrated).toMatchObject({ from: LEGACY_SCHEMA_VERSION, to: MIGRATIONS.length });
    expect(migrated.applied.map((m) => m.version)).toStrictEqual(MIGRATIONS.slice(LEGACY_SCHEMA_VERSION).map((m) => m.version));
    expect(json<{ version: number }>(['state', 'version']).version).toBe(MIGRATIONS.length);
    expect(before.audit.at(-1)?.hash).toBe(LEGACY_HEAD);
    expect(json(['audit', 'verify'])).toStrictEqual({ ok: true, entries: LEGACY_ENTRIES, head: LEGACY_HEAD });
  });

  it('reads back every record the older Lockstep wrote', async () => {
    const releases = json<ReleaseRecord[]>(['release', 'list']);
    expect(releases).toStrictEqual(before.releases);
    // history lists each promotion with its steps.
    const listed = json<(PromotionRecord & { steps: unknown[] })[]>(['history']);
    const promotions = listed.map(({ steps: _steps, ...promotion }) => promotion);
    expect(promotions).toStrictEqual(before.promotions);
    expect(promotions.map((p) => `${p.environment} ${p.state}`)).toStrictEqual([
      'staging succeeded',
      'dev succeeded',
      'dev failed',
      'staging succeeded',
      'dev succeeded',
    ]);
    for (const p of promotions) {
      const full = json<{ steps: unknown[] }>(['history', p.id]);
      expect(full.steps).toStrictEqual(before.steps.filter((s) => (s as { promotion_id: string }).promotion_id === p.id).map((s) => JSON.parse((s as { json: string }).json) as unknown));
      const logs = json<unknown[]>(['logs', p.id]);
      expect(logs).toStrictEqual(
        before.logs
          .filter((l) => (l as { promotion_id: string }).promotion_id === p.id)
          .map((l) => {
            const { promotion_id: promotionId, component, time, line } = l as Record<string, string>;
            return { promotionId, component, time, line };
          }),
      );
    }
    // The failed promotion was rolled back, and says so.
    const failed = promotions.find((p) => p.state === 'failed');
    expect(json<{ steps: { state: string }[] }>(['history', failed?.id ?? '']).steps.map((s) => s.state)).toStrictEqual(['rolled-back']);

    const tokens = json<{ name: string; createdAt: string; role: string }[]>(['token', 'list']);
    expect(tokens).toMatchObject((before.tokens as { name: string; createdAt: string; role: string }[]).map(({ name, createdAt, role }) => ({ name, createdAt, role, state: 'active' })));
    const deliveries = json<{ id: number; deliveryId: string; status: string }[]>(['notify', 'log', '--limit', '100']);
    expect(deliveries.map((d) => [d.id, d.deliveryId, d.status])).toStrictEqual(
      (before.deliveries as { id: number; delivery_id: string; status: string }[]).map((d) => [d.id, d.delivery_id, d.status]),
    );

    // Approvals and component states have no command of their own: read through the store port.
    const store = SqliteStore.open(file, { readonly: true });
    try {
      for (const p of promotions) {
        expect(await store.listApprovals(p.id)).toStrictEqual(
          before.approvals.filter((a) => (a as { promotion_id: string }).promotion_id === p.id).map((a) => JSON.parse((a as { json: string }).json) as unknown),
        );
      }
      expect([...(await store.environmentState('dev')), ...(await store.environmentState('staging'))]).toStrictEqual(before.states);
    } finally {
      await store.close();
    }
  });

  it('takes a new release through both environments after, on the same chain', () => {
    const created = json<{ release: { id: string } }>(['release', 'create', '--set', 'api=2.0.0']);
    const id = created.release.id;
    run(['promote', id, '--to', 'dev']);
    expect(project.running('dev', 'api')).toBe('2.0.0');
    run(['promote', id, '--to', 'staging'], 3);
    const pending = json<PromotionRecord[]>(['history', '--env', 'staging'])[0];
    expect(pending?.state).toBe('pending');
    run(['approve', pending?.id ?? ''], 0, { LOCKSTEP_ACTOR: 'bob@example.com' });
    expect(json<PromotionRecord[]>(['history', '--env', 'staging'])[0]?.state).toBe('succeeded');
    expect(project.running('staging', 'api')).toBe('2.0.0');
    const verified = json<{ ok: boolean; entries: number }>(['audit', 'verify', '--head', LEGACY_HEAD]);
    expect(verified.ok).toBe(true);
    expect(verified.entries).toBeGreaterThan(LEGACY_ENTRIES);
  });
});
