import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

// The throwaway cluster the chaos test restarts: it answers, a restart cuts every connection and
// keeps the data, a stop makes it unreachable.

describe('a throwaway PostgreSQL cluster', () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await startPgCluster();
  }, 60_000);
  afterAll(() => cluster?.destroy());

  async function query(sql: string): Promise<unknown[]> {
    const client = new pg.Client({ connectionString: cluster.url() });
    await client.connect();
    try {
      return (await client.query(sql)).rows as unknown[];
    } finally {
      await client.end();
    }
  }

  it('answers on its own port, keeps its data across a restart, and is unreachable when stopped', async () => {
    expect(cluster.port).not.toBe(5432);
    await query('CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)');
    const held = new pg.Client({ connectionString: cluster.url() });
    await held.connect();
    const lost = new Promise<Error>((resolve) => held.on('error', resolve));
    cluster.restart();
    expect((await lost).message).toMatch(/terminat/i);
    await held.end().catch(() => undefined);
    expect(await query('SELECT n FROM kept')).toEqual([{ n: 7 }]);
    cluster.stop();
    await expect(query('SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    cluster.start();
    expect(await query('SELECT n FROM kept')).toEqual([{ n: 7 }]);
  }, 60_000);
});
