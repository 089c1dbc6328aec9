import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqlMigrationsAdapter } from '../../../src/adapters/sql-migrations/migrations-adapter.js';
import { migrationsSpec } from '../../../src/adapters/sql-migrations/migrations-spec.js';
import { StepFailure } from '../../../src/core/errors.js';
import { stalledServer, type StalledServer } from '../../helpers/stalled-server.js';
import { stepContext } from '../../helpers/step-context.js';
import { failure } from '../../helpers/step-failure.js';

/*
 * Deadlines of the database clients, driven through the real drivers (pg, mysql2) against a FAKE
 * database: a TCP listener on 127.0.0.1 that accepts the connection and never speaks the protocol
 * (no PostgreSQL answer to the startup message, no MySQL greeting).
 */

const PASSWORD = 's3cret-Pa55word';
let projectDir: string;
let stalled: StalledServer;

beforeEach(async () => {
  projectDir = await mkdtemp(path.join(tmpdir(), 'lockstep-sql-deadline-'));
  const dir = path.join(projectDir, 'db', 'migrations');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, '1_create_users.up.sql'), 'CREATE TABLE users (id INTEGER PRIMARY KEY);\n');
  stalled = await stalledServer('silent');
});

afterEach(async () => {
  await stalled.close();
  await rm(projectDir, { recursive: true, force: true });
});

for (const scheme of ['postgres', 'mysql'] as const) {
  describe(`sql-migrations (${scheme}) against a FAKE database that never speaks`, () => {
    const url = (): string => `${scheme}://app:${PASSWORD}@127.0.0.1:${stalled.port}/shop`;

    it('fails within connectTimeout, naming the database and what it waited for', async () => {
      const spec = migrationsSpec.parse({ url: url(), dir: 'db/migrations', connectTimeout: '1s' });
      const { ctx, lines } = stepContext({ projectDir, version: '1', previousVersion: undefined });
      const started = Date.now();
      const error = await failure(sqlMigrationsAdapter.plan(spec, ctx));
      expect(error.message).toBe(`could not connect to database shop at 127.0.0.1:${stalled.port} (${scheme}, user app): no answer within 1s (connect and log in)`);
      expect(error.retryable).toBe(true);
      expect(stalled.connections()).toBe(1);
      // A hang check, not a timing assertion.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(`${error.message}\n${lines.join('\n')}`).not.toContain(PASSWORD);
    });

    it('stops connecting at once when the step is cancelled', async () => {
      const spec = migrationsSpec.parse({ url: url(), dir: 'db/migrations', connectTimeout: '1m' });
      const controller = new AbortController();
      const { ctx } = stepContext({ projectDir, version: '1', previousVersion: undefined, signal: controller.signal });
      const started = Date.now();
      setTimeout(() => controller.abort(new StepFailure('promotion cancelled', false)), 300);
      const error = await sqlMigrationsAdapter.apply(spec, { summary: '' }, ctx).catch((e: unknown) => e);
      expect((error as Error).message).toBe('promotion cancelled');
      // Well before connectTimeout (1m), or the 10 s each driver used to wait.
      expect(Date.now() - started).toBeLessThan(8_000);
    });
  });
}
