import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditVerifier, chainEntry } from '../../src/core/audit.js';
import type { AuditEntry, AuditEventInput, AuditVerification } from '../../src/core/audit.js';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { ConflictError } from '../../src/core/errors.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { MIGRATIONS, migrate } from '../../src/store/sqlite/schema.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { storeContract } from './store-contract.js';

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
  });

  // Durability across SIGKILL is not tested here: the child would need our TypeScript at run time
  // (no tsx here), and a test of SQLite's own fsync is not ours to write. What we own is the pragma
  // set (WAL + synchronous FULL), checked above.
});

async function verify(store: Store): Promise<AuditVerification> {
  const verifier = new AuditVerifier();
  let after = 0;
  for (let page = await store.auditPage(after, 4); page.length > 0; page = await store.auditPage(after, 4)) {
    for (const entry of page) verifier.push(entry);
    after = page.at(-1)?.seq ?? after;
  }
  return verifier.result();
}

function event(n: number): AuditEventInput {
  return {
    kind: 'step.started',
    time: '2026-01-01T00:00:00.000Z',
    actor: 'bob@example.com',
    project: 'checkout',
    data: { n },
  };
}

function releaseRecord(): ReleaseRecord {
  return {
    id: sha256Hex('release'),
    project: 'checkout',
    versions: { api: '1.0.0' },
    labels: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'carol@example.com',
  };
}

function promotionRecord(seed: string, releaseId: string): PromotionRecord {
  return {
    id: sha256Hex(seed),
    project: 'checkout',
    releaseId,
    environment: 'prod',
    kind: 'promotion',
    state: 'pending',
    requestedBy: 'alice@example.com',
    requestedAt: '2026-01-01T00:05:00.000Z',
    configDigest: sha256Hex('config'),
    plan: {
      releaseId,
      environment: 'prod',
      steps: [],
      levels: [],
      gates: [],
      irreversible: false,
      digest: sha256Hex('plan'),
    },
    concurrency: 1,
    onFailure: 'halt',
  };
}
