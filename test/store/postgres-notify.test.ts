import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { changeChannel } from '../../src/store/postgres/change-listener.js';
import type { ChangeNotice } from '../../src/store/store.js';
import { POSTGRES_URL } from '../helpers/database-urls.js';
import { event, promotionRecord, releaseRecord } from './store-records.js';

// Store.onChange on PostgreSQL: a commit by one process (a store with a pool of its own) is heard by
// every other listening on the same schema, once committed and never when rolled back; a schema of
// another project is not heard; and the LISTEN connection comes back after PostgreSQL drops it.

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Polls until `probe` gives a value; the test's timeout bounds it. Never asserts how long it took. */
async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('PostgresStore.onChange (LISTEN/NOTIFY)', () => {
  const stores: PostgresStore[] = [];
  const schemas: string[] = [];

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const schema of schemas.splice(0)) await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  });

  async function open(schema: string): Promise<PostgresStore> {
    const store = await PostgresStore.connect(POSTGRES_URL, { schema });
    stores.push(store);
    await store.migrate();
    return store;
  }

  function schema(): string {
    const name = `lockstep_notify_${randomBytes(5).toString('hex')}`;
    schemas.push(name);
    return name;
  }

  /** Subscribes and waits until the LISTEN connection is up (a notice sent before it would be missed). */
  async function listen(store: PostgresStore, inSchema: string, heard: ChangeNotice[]): Promise<void> {
    store.onChange((n) => heard.push(n));
    await until('the LISTEN connection', async () => {
      const { rows } = await admin((c) => c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1', [`LISTEN "${changeChannel(inSchema)}"`]));
      return (rows[0]?.n ?? 0) > 0 ? true : undefined;
    });
  }

  it('tells every listener on the schema of a commit by another process, with what it changed; not those of another schema', async () => {
    const name = schema();
    const otherName = schema();
    const [writer, reader, other] = [await open(name), await open(name), await open(otherName)];
    const heard: ChangeNotice[] = [];
    const elsewhere: ChangeNotice[] = [];
    await listen(reader, name, heard);
    await listen(other, otherName, elsewhere);

    const release = releaseRecord();
    await writer.commit({ release, audit: [event(1)] });
    await until('the release commit', () => (heard.length >= 1 ? true : undefined));
    expect(heard[0]).toEqual({ work: true, audit: true, logs: false });

    const promotion = promotionRecord('p1', release.id);
    await writer.commit({ createPromotion: { record: promotion, lock: false }, audit: [event(2)] });
    await writer.commit({ logs: [{ promotionId: promotion.id, component: 'api', time: '2026-01-01T00:00:00.000Z', line: 'hello' }], audit: [] });
    await until('two more commits', () => (heard.length >= 3 ? true : undefined));
    expect(heard.slice(1, 3)).toEqual([
      { work: true, audit: true, logs: false },
      { work: false, audit: false, logs: true },
    ]);
    expect(elsewhere).toEqual([]);
  });

  it('says nothing of a commit that is rolled back', async () => {
    const name = schema();
    const [writer, reader] = [await open(name), await open(name)];
    const heard: ChangeNotice[] = [];
    await listen(reader, name, heard);
    const release = releaseRecord();
    // An approval of a promotion that does not exist fails inside the transaction, after the release was written.
    const approval = { promotionId: 'f'.repeat(64), actor: 'bob', decision: 'approve' as const, planDigest: 'x', at: '2026-01-01T00:00:00.000Z' };
    await expect(writer.commit({ release, approvals: [approval], audit: [event(1)] })).rejects.toThrow(/does not exist/);
    // A marker commit after it: once it is heard, the failed one would have been heard before it.
    await writer.commit({ release, audit: [event(1)] });
    await until('the marker commit', () => (heard.length >= 1 ? true : undefined));
    expect(heard).toEqual([{ work: true, audit: true, logs: false }]);
  });

  it('listens again after PostgreSQL drops its connection, and then wakes every listener once (notices may have been missed)', async () => {
    const name = schema();
    const [writer, reader] = [await open(name), await open(name)];
    const heard: ChangeNotice[] = [];
    await listen(reader, name, heard);
    const channel = changeChannel(name);
    await admin((c) => c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1', [`LISTEN "${channel}"`]));
    await until('the catch-up notice after reconnecting', () => (heard.length >= 1 ? true : undefined));
    expect(heard[0]).toEqual({ work: true, audit: true, logs: true });
    await writer.commit({ release: releaseRecord(), audit: [event(1)] });
    await until('a commit after reconnecting', () => (heard.length >= 2 ? true : undefined));
    expect(heard[1]).toEqual({ work: true, audit: true, logs: false });
  });
});
