import Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainEntry } from '../../src/core/audit.js';
import type { AuditEntry } from '../../src/core/audit.js';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { ConflictError } from '../../src/core/errors.js';
import type { PromotionRecord, ReleaseRecord, StepRecord } from '../../src/core/model.js';
import { MIGRATIONS, migrate } from '../../src/store/sqlite/schema.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { STATE_TABLES } from '../../src/store/state-rows.js';
import { StateError, type Store } from '../../src/store/store.js';
import { storeContract } from './store-contract.js';
import { event, promotionRecord, releaseRecord, verify } from './store-records.js';

storeContract('SqliteStore on a temporary file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-store-'));
  return {
    store: SqliteStore.open(join(dir, 'lockstep.db')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

storeContract('SqliteStore in memory', () =>
  Promise.resolve({ store: SqliteStore.open(':memory:'), cleanup: () => Promise.resolve() }),
);

describe('SqliteStore, SQLite specifics', () => {
  let dir: string;
  let file: string;
  const open: Store[] = [];
  const raw: Database.Database[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-sqlite-'));
    file = join(dir, 'lockstep.db');
  });

  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    for (const db of raw.splice(0)) db.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function openStore(): Promise<SqliteStore> {
    const store = SqliteStore.open(file);
    open.push(store);
    await store.migrate();
    return store;
  }

  function openRaw(): Database.Database {
    const db = new Database(file);
    raw.push(db);
    return db;
  }

  describe('connection', () => {
    it('uses WAL, synchronous FULL, a 5 s busy timeout and foreign keys', async () => {
      const db = openRaw();
      const store = SqliteStore.fromDatabase(db);
      await store.migrate();
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    });

    it('does not create the directory of its file', () => {
      const missing = join(dir, 'missing');
      expect(() => SqliteStore.open(join(missing, 'lockstep.db'))).toThrow();
      expect(existsSync(missing)).toBe(false);
    });

    it('can be closed twice', async () => {
      const store = SqliteStore.open(file);
      await store.close();
      await store.close();
    });
  });

  describe('schema', () => {
    it('records each migration once in schema_version', async () => {
      await openStore();
      const db = openRaw();
      expect(db.prepare('SELECT version, name FROM schema_version ORDER BY version').all()).toEqual(
        MIGRATIONS.map(({ version, name }) => ({ version, name })),
      );
      const newest = MIGRATIONS.length;
      expect(migrate(db)).toEqual({ from: newest, to: newest, applied: [] });
    });

    it('refuses a database written by a newer Lockstep', async () => {
      await openStore();
      openRaw().prepare(`INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 'x')`).run();
      const store = SqliteStore.open(file);
      open.push(store);
      await expect(store.migrate()).rejects.toThrow(/schema version 999, newer than this Lockstep knows/);
    });

    it('has exactly the tables and columns state copy moves (state-rows.ts STATE_TABLES)', async () => {
      await openStore();
      const db = openRaw();
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('schema_version') ORDER BY name`).all() as { name: string }[];
      const layout = Object.fromEntries(tables.map(({ name: table }) => [table, (db.prepare(`SELECT name FROM pragma_table_info(?) ORDER BY cid`).all(table) as { name: string }[]).map((c) => c.name)]));
      expect(layout).toStrictEqual(Object.fromEntries(STATE_TABLES.map((table) => [table.name, [...table.columns]])));
    });

    it('exports one snapshot: what another process commits meanwhile is not in the pages', async () => {
      const store = await openStore();
      const other = await openStore();
      await store.commit({ audit: [event(1)] });
      await store.commit({ audit: [event(2)] });
      const seen: number[] = [];
      for await (const page of store.exportRows(1)) {
        if (seen.length === 0) await other.commit({ audit: [event(3)] });
        seen.push(page.rows.length);
      }
      expect(seen).toStrictEqual([1, 1]);
      expect((await store.countRows()).audit_log).toBe(3);
    });

    it('keeps the audit log append-only for ordinary writers', async () => {
      const store = await openStore();
      await store.commit({ audit: [event(1)] });
      const db = openRaw();
      expect(() => db.prepare(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`).run()).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM audit_log WHERE seq = 1').run()).toThrow(/append-only/);
    });
  });

  describe('two stores on one file (as two processes would)', () => {
    it('interleave their audit entries into one valid chain', async () => {
      const a = await openStore();
      const b = await openStore();
      for (let i = 0; i < 30; i++) {
        const writer = i % 3 === 0 ? a : b;
        await writer.commit({ audit: [event(i), event(i)] });
      }
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).commit({ audit: [event(100 + i)] })),
      );

      for (const reader of [a, b]) {
        expect(await verify(reader)).toMatchObject({ ok: true, entries: 80 });
        expect((await reader.auditHead())?.seq).toBe(80);
      }
    });

    it('see each other’s environment lock and ownership claims', async () => {
      const a = await openStore();
      const b = await openStore();
      const release = releaseRecord();
      const first = promotionRecord('first', release.id);
      await a.commit({ release, createPromotion: { record: first, lock: true }, audit: [event(1)] });

      expect(await b.activePromotion('prod')).toEqual(first);
      const second = promotionRecord('second', release.id);
      await expect(b.commit({ createPromotion: { record: second, lock: true }, audit: [event(2)] })).rejects.toThrow(
        ConflictError,
      );
      await expect(b.commit({ createPromotion: { record: second, lock: true }, audit: [event(2)] })).rejects.toThrow(
        `environment prod is busy: promotion ${first.id} (requested by alice@example.com at ${first.requestedAt})`,
      );

      const owner = { token: 'a', host: 'h', pid: 1, leaseUntil: '2026-01-01T01:00:00.000Z' };
      expect(await a.claimPromotion(first.id, owner, undefined)).toBe(true);
      expect(await b.claimPromotion(first.id, { ...owner, token: 'b' }, undefined)).toBe(false);

      await a.commit({ promotion: { record: { ...first, state: 'succeeded' }, releaseLock: true }, audit: [event(3)] });
      await b.commit({ createPromotion: { record: second, lock: true }, audit: [event(4)] });
      expect(await a.activePromotion('prod')).toEqual(second);
      expect(await verify(a)).toMatchObject({ ok: true, entries: 3 });
    });
  });

  describe('tampering with the file is found by the verifier', () => {
    /** A store with six chained entries, and a raw connection that bypasses the append-only triggers. */
    async function seeded(): Promise<{ store: SqliteStore; db: Database.Database; entries: AuditEntry[] }> {
      const store = await openStore();
      const entries = await store.commit({ audit: [1, 2, 3, 4, 5, 6].map(event) });
      const db = openRaw();
      db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
      return { store, db, entries };
    }

    function insert(db: Database.Database, entry: AuditEntry): void {
      db.prepare(
        `INSERT INTO audit_log (seq, hash, prev_hash, kind, time, actor, project, environment, release_id, promotion_id, component, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        entry.seq,
        entry.hash,
        entry.prevHash,
        entry.kind,
        entry.time,
        entry.actor,
        entry.project,
        entry.environment ?? null,
        entry.releaseId ?? null,
        entry.promotionId ?? null,
        entry.component ?? null,
        JSON.stringify(entry.data),
      );
    }

    it('accepts the untouched log', async () => {
      const { store, entries } = await seeded();
      expect(await verify(store)).toEqual({ ok: true, entries: 6, head: entries.at(-1)?.hash });
    });

    it('(a) a changed entry', async () => {
      const { store, db } = await seeded();
      db.prepare(`UPDATE audit_log SET data = '{"n":999}' WHERE seq = 3`).run();
      const result = await verify(store);
      expect(result).toMatchObject({ ok: false, firstBad: 3, entries: 2 });
      expect(result.ok ? '' : result.reason).toMatch(/changed/);
    });

    it('(a′) a changed column outside data', async () => {
      const { store, db } = await seeded();
      db.prepare(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`).run();
      expect(await verify(store)).toMatchObject({ ok: false, firstBad: 5 });
    });

    it('(b) a deleted middle entry', async () => {
      const { store, db } = await seeded();
      db.prepare('DELETE FROM audit_log WHERE seq = 3').run();
      const result = await verify(store);
      expect(result).toMatchObject({ ok: false, firstBad: 4, entries: 2 });
      expect(result.ok ? '' : result.reason).toMatch(/removed/);
    });

    it('(c) two entries with swapped sequence numbers', async () => {
      const { store, db } = await seeded();
      db.exec(`
        UPDATE audit_log SET seq = -3 WHERE seq = 3;
        UPDATE audit_log SET seq = 3 WHERE seq = 4;
        UPDATE audit_log SET seq = 4 WHERE seq = -3;`);
      expect(await verify(store)).toMatchObject({ ok: false, firstBad: 3 });
    });

    it('(d) a forged entry inserted in the middle, itself well-formed', async () => {
      const { store, db, entries } = await seeded();
      // Make room at 3, then insert an entry correctly chained onto entry 2.
      db.exec('UPDATE audit_log SET seq = -seq WHERE seq >= 3; UPDATE audit_log SET seq = 1 - seq WHERE seq < 0;');
      const second = entries[1];
      if (second === undefined) throw new Error('seeding failed');
      insert(db, chainEntry({ ...event(0), actor: 'mallory', data: { forged: true } }, second));
      // The forgery passes; the entry after it no longer fits.
      expect(await verify(store)).toMatchObject({ ok: false, firstBad: 4, entries: 3 });
    });

    it('(d′) a forged entry appended with an invented previous hash', async () => {
      const { store, db } = await seeded();
      insert(db, chainEntry({ ...event(0), actor: 'mallory' }, { seq: 6, hash: 'f'.repeat(64) }));
      expect(await verify(store)).toMatchObject({ ok: false, firstBad: 7, entries: 6 });
    });

    it.each([0, -1])('(e) a forged entry before the first, at sequence %i, is read from the start and fails', async (seq) => {
      const { store, db } = await seeded();
      insert(db, { ...chainEntry({ ...event(0), actor: 'mallory' }, undefined), seq });
      expect((await store.auditPage(null, 2)).map((e) => e.seq)).toEqual([seq, 1]);
      expect(await verify(store)).toMatchObject({ ok: false, firstBad: seq, entries: 0, reason: expect.stringMatching(`sequence ${seq} where 1 was expected`) as unknown });
    });
  });

  describe('read-only', () => {
    it('reads without writing: the file keeps its bytes and time, and a write is refused naming the file', async () => {
      const writer = await openStore();
      const release = releaseRecord();
      await writer.commit({ release, audit: [event(1)] });
      await writer.close();
      const bytes = readFileSync(file);
      const { mtimeMs } = statSync(file);

      const store = SqliteStore.open(file, { readonly: true });
      open.push(store);
      await store.migrate();
      expect(await store.getRelease(release.id)).toEqual(release);
      expect(await verify(store)).toMatchObject({ ok: true, entries: 1 });
      await expect(store.commit({ audit: [event(2)] })).rejects.toThrow(new StateError(`the state at ${file} was opened read-only: this command cannot record anything`));
      await store.close();

      expect(readFileSync(file).equals(bytes)).toBe(true);
      expect(statSync(file).mtimeMs).toBe(mtimeMs);
    });

    it('does not create a missing file', () => {
      expect(() => SqliteStore.open(file, { readonly: true })).toThrow(StateError);
      expect(existsSync(file)).toBe(false);
    });

    it('upgrades an older schema through a writing connection when the file is writable, then reads', async () => {
      const db = openRaw();
      migrate(db, MIGRATIONS.slice(0, 2));
      const store = SqliteStore.open(file, { readonly: true });
      open.push(store);
      await store.migrate();
      expect(await store.listReleases()).toEqual([]);
      expect(await store.listApprovals('none')).toEqual([]); // a table of migration 3
      expect(await store.listTokens()).toEqual([]); // of migration 4
      expect(db.prepare('SELECT MAX(version) AS v FROM schema_version').get()).toEqual({ v: MIGRATIONS.length });
    });
  });

  it('places log lines written before migration 5 among the audit entries by their time', async () => {
    const db = openRaw();
    migrate(db, MIGRATIONS.slice(0, 4));
    const insertAudit = db.prepare(
      `INSERT INTO audit_log (seq, hash, prev_hash, kind, time, actor, project, data) VALUES (?, 'h', 'p', 'step.started', ?, 'a', 'p', '{}')`,
    );
    insertAudit.run(1, '2026-11-24T10:00:00.000Z');
    insertAudit.run(2, '2026-11-24T10:02:00.000Z');
    insertAudit.run(3, '2026-11-24T10:04:00.000Z');
    db.pragma('foreign_keys = OFF');
    const insertLog = db.prepare(`INSERT INTO step_logs (promotion_id, component, time, line) VALUES ('p', 'api', ?, ?)`);
    insertLog.run('2026-11-24T09:59:00.000Z', 'before all');
    insertLog.run('2026-11-24T10:03:00.000Z', 'after two');
    // A clock that stepped back: the line stays after what the lines before it came after.
    insertLog.run('2026-11-24T10:01:00.000Z', 'stepped back');
    insertLog.run('2026-11-24T10:05:00.000Z', 'after three');
    migrate(db);
    const store = SqliteStore.open(file);
    open.push(store);
    expect((await store.logsAfter(0, 10)).map((l) => [l.line, l.afterSeq])).toEqual([
      ['before all', 0],
      ['after two', 2],
      ['stepped back', 2],
      ['after three', 3],
    ]);
  });

  describe('a damaged row names its table and entry, never a raw JavaScript error', () => {
    /** A store with one release, one promotion holding prod's lock, a step, an approval, a component state. */
    async function seeded(): Promise<{ store: SqliteStore; db: Database.Database; release: ReleaseRecord; promotion: PromotionRecord }> {
      const store = await openStore();
      const release = releaseRecord();
      const promotion = promotionRecord('damaged', release.id);
      await store.commit({
        release,
        createPromotion: { record: promotion, lock: true },
        steps: [stepRecord(promotion.id)],
        approvals: [{ promotionId: promotion.id, actor: 'bob@example.com', decision: 'approve', planDigest: promotion.plan.digest, at: '2026-01-01T00:06:00.000Z' }],
        componentStates: [{ environment: 'prod', component: 'api', version: '1.0.0', releaseId: release.id, promotionId: promotion.id, configDigest: 'c', outputs: {}, updatedAt: '2026-01-01T00:07:00.000Z' }],
        audit: [event(1)],
      });
      const db = openRaw();
      db.pragma('foreign_keys = OFF');
      db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER approvals_no_update;');
      return { store, db, release, promotion };
    }

    it('bad JSON in a release', async () => {
      const { store, db, release } = await seeded();
      db.prepare(`UPDATE releases SET json = '{"id": "' WHERE id = ?`).run(release.id);
      const message = `the state at ${file} is damaged: table releases, id ${release.id}: column json is not valid JSON`;
      await expect(store.getRelease(release.id)).rejects.toThrow(new StateError(message));
      await expect(store.listReleases()).rejects.toThrow(new StateError(message));
    });

    it('wrong types in a release, a promotion, a step, an approval and a component state', async () => {
      const { store, db, release, promotion } = await seeded();
      const damaged = `the state at ${file} is damaged`;
      db.prepare(`UPDATE releases SET json = json_set(json, '$.versions.api', 7) WHERE id = ?`).run(release.id);
      await expect(store.getRelease(release.id)).rejects.toThrow(`${damaged}: table releases, id ${release.id}: column json: field versions must be a map of text, not an object`);

      db.prepare(`UPDATE promotions SET json = json_remove(json, '$.plan.steps') WHERE id = ?`).run(promotion.id);
      await expect(store.getPromotion(promotion.id)).rejects.toThrow(`${damaged}: table promotions, id ${promotion.id}: column json: plan: field steps is missing`);
      await expect(store.activePromotion('prod')).rejects.toThrow(`table promotions, id ${promotion.id}`);

      db.prepare(`UPDATE steps SET json = json_set(json, '$.state', 'exploded')`).run();
      await expect(store.listSteps(promotion.id)).rejects.toThrow(`${damaged}: table steps, promotion_id ${promotion.id}, component api: column json: field state is "exploded", not one of`);

      db.prepare(`UPDATE approvals SET json = '[1, 2]'`).run();
      await expect(store.listApprovals(promotion.id)).rejects.toThrow(`${damaged}: table approvals, row id 1: column json: the record is a list, not an object`);

      db.prepare(`UPDATE component_states SET json = json_set(json, '$.version', json('null'))`).run();
      await expect(store.environmentState('prod')).rejects.toThrow(`${damaged}: table component_states, environment prod, component api: column json: field version must be text, not null`);
    });

    it('a row naming a row that is gone: a promotion without its release, a lock without its promotion', async () => {
      const { store, db, release, promotion } = await seeded();
      db.prepare('DELETE FROM releases WHERE id = ?').run(release.id);
      const gone = `the state at ${file} is damaged: table promotions, id ${promotion.id}: it names release ${release.id}, which is not in table releases`;
      await expect(store.getPromotion(promotion.id)).rejects.toThrow(new StateError(gone));
      await expect(store.listPromotions({ environment: 'prod' })).rejects.toThrow(new StateError(gone));

      db.prepare('DELETE FROM promotions WHERE id = ?').run(promotion.id);
      const lock = `the state at ${file} is damaged: table env_locks, environment prod: it names promotion ${promotion.id}, which is not in table promotions`;
      await expect(store.activePromotion('prod')).rejects.toThrow(new StateError(lock));
      // Taking the lock meets the same row: the same message, not SQLite's UNIQUE constraint error.
      const other = promotionRecord('other', release.id);
      db.prepare('INSERT INTO releases (id, created_at, json) VALUES (?, ?, ?)').run(release.id, release.createdAt, JSON.stringify(release));
      await expect(store.commit({ createPromotion: { record: other, lock: true }, audit: [] })).rejects.toThrow(new StateError(lock));
    });

    it('a token whose limits are damaged does not read as a token without limits', async () => {
      const store = await openStore();
      const record = { name: 'ci', identity: 'ci', role: 'viewer' as const, environments: ['staging'], hash: sha256Hex('t'), createdAt: '2026-01-01T00:00:00.000Z', createdBy: 'alice@example.com' };
      await store.commit({ createToken: record, audit: [] });
      const db = openRaw();
      const damaged = `the state at ${file} is damaged: table api_tokens, row id 1: column json`;
      db.prepare(`UPDATE api_tokens SET json = json_set(json, '$.role', 'root')`).run();
      await expect(store.findTokenByHash(record.hash)).rejects.toThrow(new StateError(`${damaged}: field role is "root", not one of viewer, releaser, approver, admin`));
      db.prepare(`UPDATE api_tokens SET json = json_set(json, '$.role', 'viewer', '$.environments', json('[1]'))`).run();
      await expect(store.listTokens()).rejects.toThrow(new StateError(`${damaged}: field environments must be a list of text`));
    });

    it('an audit entry whose data is not JSON', async () => {
      const { store, db } = await seeded();
      db.prepare(`UPDATE audit_log SET data = 'not json' WHERE seq = 1`).run();
      await expect(store.auditPage(null, 10)).rejects.toThrow(new StateError(`the state at ${file} is damaged: table audit_log, seq 1: column data is not valid JSON`));
    });

    it('reads a release stored without labels as one without labels', async () => {
      const { store, db, release } = await seeded();
      db.prepare(`UPDATE releases SET json = json_remove(json, '$.labels') WHERE id = ?`).run(release.id);
      expect((await store.getRelease(release.id)).labels).toEqual({});
    });
  });

  // Durability across SIGKILL is not tested here: the child would need our TypeScript at run time
  // (no tsx here), and a test of SQLite's own fsync is not ours to write. What we own is the pragma
  // set (WAL + synchronous FULL), checked above.
});

function stepRecord(promotionId: string): StepRecord {
  return {
    promotionId,
    component: 'api',
    environment: 'prod',
    state: 'pending',
    action: 'apply',
    toVersion: '1.0.0',
    reversible: true,
    applyStarted: false,
    attempts: 0,
    idempotencyKey: 'k',
  };
}
