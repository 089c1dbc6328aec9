import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sqlMigrationsAdapter } from '../../../src/adapters/sql-migrations/migrations-adapter.js';
import { compareVersions, parseVersion } from '../../../src/adapters/sql-migrations/migration-version.js';
import { adapterContract } from '../adapter-contract.js';

// The sql-migrations adapter against a real SQLite file. The contract speaks of versions 1.0.0, 2.0.0
// and 3.0.0; migration versions may be dotted (as Flyway writes them), so the files carry exactly
// those versions and no mapping is needed.
adapterContract('sql-migrations (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-sql-contract-'));
  const migrations = join(dir, 'migrations');
  mkdirSync(migrations);
  for (const [version, table] of [
    ['1.0.0', 'a'],
    ['2.0.0', 'b'],
    ['3.0.0', 'c'],
  ] as const) {
    writeFileSync(
      join(migrations, `${version}_create_${table}.up.sql`),
      `CREATE TABLE ${table} (id INTEGER PRIMARY KEY);\n`,
    );
    writeFileSync(join(migrations, `${version}_create_${table}.down.sql`), `DROP TABLE ${table};\n`);
  }
  const file = join(dir, 'app.db');
  return Promise.resolve({
    adapter: sqlMigrationsAdapter,
    spec: () => ({ url: 'sqlite:app.db', dir: 'migrations' }),
    running: () => {
      if (!existsSync(file)) return Promise.resolve(undefined);
      const db = new Database(file, { readonly: true });
      try {
        const table = db
          .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lockstep_migrations'")
          .get();
        if (table === undefined) return Promise.resolve(undefined);
        const versions = (db.prepare('SELECT version FROM lockstep_migrations').all() as { version: string }[]).map(
          (r) => r.version,
        );
        const newest = versions.sort((a, b) => compareVersions(parseVersion(a)!, parseVersion(b)!)).pop();
        return Promise.resolve(newest);
      } finally {
        db.close();
      }
    },
    invalid: [
      { with: {}, path: ['url'] },
      { with: { url: 'ftp://example.com/db', dir: 'migrations' }, path: ['url'] },
      { with: { url: 'mysql://root@127.0.0.1:3306', dir: 'migrations' }, path: ['url'] },
      { with: { url: 'sqlite:app.db' }, path: ['dir'] },
      { with: { url: 'sqlite:app.db', dir: 'migrations', table: 'drop table; --' }, path: ['table'] },
      { with: { url: 'sqlite:app.db', dir: 'migrations', lockTimeout: 'soon' }, path: ['lockTimeout'] },
      { with: { url: 'sqlite:app.db', dir: 'migrations', directory: 'x' }, path: [] },
    ],
    context: () => ({ projectDir: dir }),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});
