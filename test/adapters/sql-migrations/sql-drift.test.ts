import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/core/audit.js';
import { checkDrift } from '../../../src/engine/drift.js';
import { createRelease, promote, reapplyComponents } from '../../../src/engine/promote.js';
import { testProject } from '../../helpers/project.js';
import { mariadbServer, postgresServer, type TestServer } from './test-databases.js';

// Drift of a database's migrations on the real PostgreSQL and MariaDB servers of this machine: a
// history row's checksum edited by hand, and a migration undone by hand, are each found and named by
// a drift check, and put back by `promote --reapply`.

const servers: TestServer[] = [postgresServer(), mariadbServer()];

beforeAll(async () => {
  for (const s of servers) await s.connect();
});

afterAll(async () => {
  for (const s of servers) await s.close();
});

describe.each(servers)('drift of sql-migrations on $name', (server) => {
  it('a checksum changed by hand and a migration undone by hand are found, named, and fixed by --reapply', async () => {
    const project = testProject('project: shop\nenvironments:\n  prod: {}\ncomponents: {}\n');
    const db = await server.create(project.dir);
    try {
      project.write(
        'lockstep.yaml',
        `project: shop
environments:
  prod:
    vars: { db: "\${{ secrets.DB_URL }}" }
components:
  schema:
    type: sql-migrations
    with: { url: "\${{ env.vars.db }}", dir: db/migrations }
`,
      );
      project.write('db/migrations/0001_orders.up.sql', 'CREATE TABLE orders (id INTEGER PRIMARY KEY);\n');
      project.write('db/migrations/0001_orders.down.sql', 'DROP TABLE orders;\n');
      project.write('db/migrations/0002_notes.up.sql', 'CREATE TABLE notes (id INTEGER PRIMARY KEY);\n');
      project.write('db/migrations/0002_notes.down.sql', 'DROP TABLE notes;\n');
      const deps = await project.deps({ env: { DB_URL: db.url } });
      const audit = async (): Promise<AuditEntry[]> => deps.store.auditPage(null, 10_000);

      const release = (await createRelease(deps, { set: ['schema=0002'] })).release.id;
      expect((await promote(deps, release, 'prod')).state).toBe('succeeded');
      expect((await checkDrift(deps, { environment: 'prod' }))[0]?.drifted).toBe(false);

      // 1. Someone edits the history table: the checksum of 0001 no longer matches its file.
      const [before] = await db.query("SELECT checksum FROM lockstep_migrations WHERE version = '0001'");
      const fileChecksum = String(before?.checksum);
      await db.query(`UPDATE lockstep_migrations SET checksum = '${'d'.repeat(64)}' WHERE version = '0001'`);
      const [changed] = await checkDrift(deps, { environment: 'prod' });
      expect(changed?.drifted).toBe(true);
      expect(changed?.components[0]?.findings).toEqual([
        { component: 'schema', field: 'migrations.0001.checksum', expected: fileChecksum, found: 'd'.repeat(64) },
      ]);

      const repaired = await reapplyComponents(deps, 'prod', ['schema']);
      expect(repaired.state, repaired.reason).toBe('succeeded');
      expect(repaired.plan.steps[0]?.summary).toContain('repair the recorded checksum of 0001_orders');
      const [after] = await db.query("SELECT checksum FROM lockstep_migrations WHERE version = '0001'");
      expect(String(after?.checksum)).toBe(fileChecksum);
      expect((await checkDrift(deps, { environment: 'prod' }))[0]?.drifted).toBe(false);

      // 2. Someone undoes 0002 by hand: its table dropped, its row deleted.
      await db.query('DROP TABLE notes');
      await db.query("DELETE FROM lockstep_migrations WHERE version = '0002'");
      const [undone] = await checkDrift(deps, { environment: 'prod' });
      const findings = undone?.components[0]?.findings ?? [];
      expect(findings).toContainEqual({ component: 'schema', field: 'version', expected: '0002', found: '0001' });
      expect(findings).toContainEqual({ component: 'schema', field: 'migrations.applied', expected: '2 (up to 0002_notes)', found: '1 (up to 0001_orders)' });

      const reapplied = await reapplyComponents(deps, 'prod', ['schema']);
      expect(reapplied.state, reapplied.reason).toBe('succeeded');
      expect(await db.tables()).toEqual(expect.arrayContaining(['notes', 'orders']));
      const [clean] = await checkDrift(deps, { environment: 'prod' });
      expect(clean?.drifted).toBe(false);

      const kinds = (await audit()).filter((e) => e.kind.startsWith('drift.')).map((e) => e.kind);
      expect(kinds).toEqual(['drift.detected', 'drift.cleared', 'drift.detected', 'drift.cleared']);
      // The database URL (a secret) is in no record.
      expect(JSON.stringify(await audit())).not.toContain(db.url);
    } finally {
      project.cleanup();
      await db.drop();
    }
  });
});
