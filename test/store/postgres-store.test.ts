import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/core/errors.js';
import { PostgresStore, describeUrl } from '../../src/store/postgres/postgres-store.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { STATE_TABLES } from '../../src/store/state-rows.js';
import { StateError, type Store } from '../../src/store/store.js';
import { POSTGRES_URL } from '../helpers/database-urls.js';
import { storeContract } from './store-contract.js';
import { event, promotionRecord, releaseRecord, verify } from './store-records.js';

/*
 * The PostgreSQL store against a real server (POSTGRES_URL). Every test works in a schema of its
 * own, made here and dropped after it, so tests (and people running them at once) never meet.
 */

/** A fresh, empty schema; `drop` removes it with everything in it. */
async function freshSchema(): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `lockstep_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE SCHEMA ${schema}`));
  const drop = async (): Promise<void> => {
    await admin((client) => client.query(`DROP SCHEMA ${schema} CASCADE`));
  };
  return { schema, drop };
}

/** Runs `work` on a connection of its own, outside any store (as a person with psql would). */
async function admin<T>(work: (client: pg.Client) => Promise<T>, schema?: string): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }) });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

storeContract('PostgresStore', async () => {
  const { schema, drop } = await freshSchema();
  return { store: await PostgresStore.connect(POSTGRES_URL, { schema }), cleanup: drop };
});

describe('PostgresStore, PostgreSQL specifics', () => {
  const stores: Store[] = [];
  const drops: (() => Promise<void>)[] = [];
  const name = `the state in PostgreSQL at ${describeUrl(POSTGRES_URL)}`;

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const drop of drops.splice(0)) await drop();
  });

  async function schema(): Promise<string> {
    const fresh = await freshSchema();
    drops.push(fresh.drop);
    return fresh.schema;
  }

  /** A store with a pool of its own, as another process (a server replica) would have. */
  async function replica(inSchema: string, migrate = true): Promise<PostgresStore> {
    const store = await PostgresStore.connect(POSTGRES_URL, { schema: inSchema, maxConnections: 4 });
    stores.push(store);
    if (migrate) await store.migrate();
    return store;
  }

  describe('schema', () => {
    it('is migrated once when several processes migrate at once, and records each migration once', async () => {
      const s = await schema();
      const replicas = await Promise.all([1, 2, 3].map(() => replica(s, false)));
      await Promise.all(replicas.map((store) => store.migrate()));
      const rows = await admin((client) => client.query('SELECT version, name FROM schema_version ORDER BY version'), s);
      expect(rows.rows).toEqual(POSTGRES_MIGRATIONS.map(({ version, name: migration }) => ({ version, name: migration })));
    });

    it('refuses a database written by a newer Lockstep', async () => {
      const s = await schema();
      await replica(s);
      await admin((client) => client.query(`INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 'x')`), s);
      const store = await replica(s, false);
      const newest = POSTGRES_MIGRATIONS.length;
      await expect(store.migrate()).rejects.toThrow(new StateError(`${name} has schema version 999, newer than this Lockstep knows (${newest}): upgrade Lockstep`));
    });

    it('has exactly the tables and columns state copy moves (state-rows.ts STATE_TABLES)', async () => {
      const s = await schema();
      await replica(s);
      const { rows } = await admin(
        (client) =>
          client.query<{ table_name: string; columns: string[] }>(
            `SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) AS columns FROM information_schema.columns
              WHERE table_schema = $1 AND table_name NOT IN ('schema_version', 'write_lock') GROUP BY table_name ORDER BY table_name`,
            [s],
          ),
        s,
      );
      expect(Object.fromEntries(rows.map((row) => [row.table_name, row.columns]))).toStrictEqual(
        Object.fromEntries([...STATE_TABLES].sort((a, b) => a.name.localeCompare(b.name)).map((table) => [table.name, [...table.columns]])),
      );
    });

    it('exports one snapshot: what another process commits meanwhile is not in the pages', async () => {
      const s = await schema();
      const store = await replica(s);
      const other = await replica(s);
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

    it('keeps the audit log and approvals append-only for ordinary writers', async () => {
      const s = await schema();
      const store = await replica(s);
      await store.commit({ audit: [event(1)] });
      await admin(async (client) => {
        await expect(client.query(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`)).rejects.toThrow(/the audit log is append-only/);
        await expect(client.query('DELETE FROM audit_log WHERE seq = 1')).rejects.toThrow(/the audit log is append-only/);
      }, s);
    });
  });

  describe('several processes on one database', () => {
    it('append concurrent commits from three pools into one chain: no gap, no fork', async () => {
      const s = await schema();
      const replicas = await Promise.all([1, 2, 3].map(() => replica(s)));
      const returned = (
        await Promise.all(
          Array.from({ length: 60 }, (_, i) => (replicas[i % 3] as PostgresStore).commit({ audit: [event(i), event(i), event(i)] })),
        )
      ).flat();
      expect(returned.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 180 }, (_, i) => i + 1));
      for (const reader of replicas) {
        expect(await verify(reader)).toMatchObject({ ok: true, entries: 180 });
        expect((await reader.auditHead())?.seq).toBe(180);
      }
      // Each commit's entries are one contiguous run, chained to each other.
      for (let i = 0; i < returned.length; i += 3) {
        expect(returned[i + 1]?.prevHash).toBe(returned[i]?.hash);
        expect(returned[i + 2]?.prevHash).toBe(returned[i + 1]?.hash);
      }
    });

    it('let exactly one of several concurrent promotions take an environment, the others told who holds it', async () => {
      const s = await schema();
      const replicas = await Promise.all([1, 2, 3, 4].map(() => replica(s)));
      const release = releaseRecord();
      await (replicas[0] as PostgresStore).commit({ release, audit: [event(0)] });
      const results = await Promise.allSettled(
        replicas.map((store, i) => store.commit({ createPromotion: { record: promotionRecord(`p${i}`, release.id), lock: true }, audit: [event(i + 1)] })),
      );
      const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      const holder = promotionRecord(`p${won[0] ?? -1}`, release.id);
      for (const result of results) {
        if (result.status === 'fulfilled') continue;
        expect(result.reason).toBeInstanceOf(ConflictError);
        expect((result.reason as Error).message).toBe(`environment prod is busy: promotion ${holder.id} (requested by alice@example.com at ${holder.requestedAt})`);
      }
      expect(await (replicas[3] as PostgresStore).activePromotion('prod')).toEqual(holder);
      expect(await verify(replicas[1] as PostgresStore)).toMatchObject({ ok: true, entries: 2 });
    });

    it('let exactly one of several concurrent claimers win, and fence the losers out', async () => {
      const s = await schema();
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => replica(s)));
      if (a === undefined || b === undefined || c === undefined) throw new Error('three replicas');
      const release = releaseRecord();
      const p = promotionRecord('p', release.id);
      await a.commit({ release, createPromotion: { record: p, lock: true }, audit: [event(1)] });
      const claims = await Promise.all([a, b, c].map((store, i) => store.claimPromotion(p.id, owner(`token-${i}`), undefined)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      const winner = claims.indexOf(true);
      const loser = [a, b, c][(winner + 1) % 3] as PostgresStore;
      await expect(loser.commit({ fence: { promotionId: p.id, ownerToken: `token-${(winner + 1) % 3}` }, audit: [event(2)] })).rejects.toThrow(
        `promotion ${p.id} is no longer owned by this process (another process took it over)`,
      );
      await loser.commit({ fence: { promotionId: p.id, ownerToken: `token-${winner}` }, audit: [event(3)] });
      expect(await verify(a)).toMatchObject({ ok: true, entries: 2 });
    });
  });

  describe('connection', () => {
    it('names the host and database of a server that does not answer, never the password', async () => {
      const url = 'postgres://lockstep:s3cret-pass@127.0.0.1:1/lockstep_state?connect_timeout=2';
      const failure = await PostgresStore.connect(url).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(StateError);
      expect((failure as Error).message).toMatch(/^cannot connect to the state in PostgreSQL at 127\.0\.0\.1:1\/lockstep_state: /);
      expect((failure as Error).message).not.toContain('s3cret');
      expect((failure as Error).message).not.toContain('lockstep:');
    });

    it('honours the URL\'s TLS mode (sslmode=require): refused by a server without TLS, encrypted with one', async () => {
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('sslmode', 'require');
      // The test server is whatever LOCKSTEP_TEST_POSTGRES_URL names: ask it whether it offers TLS.
      const tls = await admin(async (client) => (await client.query<{ ssl: string }>('SHOW ssl')).rows[0]?.ssl === 'on');
      const outcome = await PostgresStore.connect(url.toString()).then(
        async (store) => {
          await store.close();
          return 'connected';
        },
        (error: unknown) => error,
      );
      if (tls) {
        expect(outcome).toBe('connected');
      } else {
        expect(outcome).toBeInstanceOf(StateError);
        expect((outcome as Error).message).toBe(`cannot connect to ${name}: The server does not support SSL connections`);
      }
    });

    it('refuses a schema name it would have to quote', async () => {
      await expect(PostgresStore.connect(POSTGRES_URL, { schema: 'x; DROP TABLE y' })).rejects.toThrow(/plain lower-case name/);
    });

    it('can be closed twice', async () => {
      const store = await PostgresStore.connect(POSTGRES_URL, { schema: await schema() });
      await store.close();
      await store.close();
    });
  });

  describe('a damaged row is a StateError naming its table and entry', () => {
    it('bad JSON in a release, wrong types in a promotion, audit data that is not JSON', async () => {
      const s = await schema();
      const store = await replica(s);
      const release = releaseRecord();
      const p = promotionRecord('p', release.id);
      await store.commit({ release, createPromotion: { record: p, lock: true }, audit: [event(1)] });
      await admin(async (client) => {
        await client.query(`UPDATE releases SET json = '{"id": "' WHERE id = $1`, [release.id]);
        await client.query(`UPDATE promotions SET json = '[1]' WHERE id = $1`, [p.id]);
        await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
        await client.query(`UPDATE audit_log SET data = 'not json' WHERE seq = 1`);
      }, s);
      const damaged = `${name} is damaged`;
      await expect(store.getRelease(release.id)).rejects.toThrow(new StateError(`${damaged}: table releases, id ${release.id}: column json is not valid JSON`));
      await expect(store.activePromotion('prod')).rejects.toThrow(new StateError(`${damaged}: table promotions, id ${p.id}: column json: the record is a list, not an object`));
      await expect(store.auditPage(null, 10)).rejects.toThrow(new StateError(`${damaged}: table audit_log, seq 1: column data is not valid JSON`));
    });
  });
});

function owner(token: string): { token: string; host: string; pid: number; leaseUntil: string } {
  return { token, host: 'h', pid: 1, leaseUntil: '2026-01-01T01:00:00.000Z' };
}
