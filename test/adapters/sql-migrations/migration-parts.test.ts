import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { credentialScrubber, parseDatabaseUrl } from '../../../src/adapters/sql-migrations/database-url.js';
import { MigrationDirectoryError, readMigrations } from '../../../src/adapters/sql-migrations/migration-files.js';
import { resolveTarget } from '../../../src/adapters/sql-migrations/migration-plan.js';
import { compareVersions, parseVersion } from '../../../src/adapters/sql-migrations/migration-version.js';
import { migrationsSpec } from '../../../src/adapters/sql-migrations/migrations-spec.js';
import { splitStatements } from '../../../src/adapters/sql-migrations/sql-statements.js';
import { Redactor } from '../../../src/core/redact.js';

// The pure parts of the sql-migrations adapter: statement splitting, versions, file names, URLs.

describe('splitting MySQL scripts into statements', () => {
  it('splits on ; outside quotes and comments, and gives each statement its line', () => {
    const sql = [
      '-- leading comment; not a statement',
      "CREATE TABLE t (a VARCHAR(10) DEFAULT 'x;y', `we;ird` INT);",
      '# hash comment;',
      "INSERT INTO t (a) VALUES ('it''s; fine'), (\"dq;\"), ('esc\\'d; too');",
      '/* block; comment */ UPDATE t SET a = 1;',
      '   ',
      'DELETE FROM t',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      { text: "CREATE TABLE t (a VARCHAR(10) DEFAULT 'x;y', `we;ird` INT)", line: 2 },
      { text: "INSERT INTO t (a) VALUES ('it''s; fine'), (\"dq;\"), ('esc\\'d; too')", line: 4 },
      { text: 'UPDATE t SET a = 1', line: 5 },
      { text: 'DELETE FROM t', line: 7 },
    ]);
  });

  it('honours DELIMITER as the mysql client does, for bodies that hold ;', () => {
    const sql = [
      'DELIMITER //',
      'CREATE PROCEDURE p()',
      'BEGIN',
      '  SELECT 1;',
      '  SELECT 2;',
      'END //',
      'DELIMITER ;',
      'CALL p();',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      { text: 'CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND', line: 2 },
      { text: 'CALL p()', line: 8 },
    ]);
  });

  it('drops statements that are only comments, but keeps executable comments', () => {
    expect(splitStatements('-- nothing\n/* here */;\n/*!40101 SET NAMES utf8 */;\n--\n')).toEqual([
      { text: '/*!40101 SET NAMES utf8 */', line: 3 },
    ]);
    expect(splitStatements('')).toEqual([]);
  });

  it('treats --x as an operator, not a comment (MySQL needs a space after --)', () => {
    expect(splitStatements('SELECT 1--1; SELECT 2;')).toEqual([
      { text: 'SELECT 1--1', line: 1 },
      { text: 'SELECT 2', line: 1 },
    ]);
  });
});

describe('migration versions', () => {
  it('compares numerically, ignoring leading zeros and trailing .0 parts', () => {
    const v = (text: string) => parseVersion(text)!;
    expect(v('0042').key).toBe('42');
    expect(v('2.0.0').key).toBe('2');
    expect(compareVersions(v('2.0.0'), v('2'))).toBe(0);
    expect(compareVersions(v('10'), v('9'))).toBeGreaterThan(0);
    expect(compareVersions(v('1.10'), v('1.9'))).toBeGreaterThan(0);
    expect(compareVersions(v('20261101120000'), v('20261101120001'))).toBeLessThan(0);
    expect(parseVersion('v1')).toBeUndefined();
    expect(parseVersion('1.')).toBeUndefined();
  });
});

describe('the migrations directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lockstep-sql-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (files: Record<string, string>): void => {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  };

  it('reads up and down files sorted by version, with checksums', async () => {
    write({
      '10_c.up.sql': 'C',
      '9_b.up.sql': 'B',
      '9_b.down.sql': 'b',
      '0001_a.up.sql': 'A',
      'README.md': 'not a migration',
    });
    mkdirSync(path.join(dir, 'seeds'));
    const files = await readMigrations(dir, 'db/migrations');
    expect(files.map((f) => [f.name, f.downFile ?? null])).toEqual([
      ['0001_a', null],
      ['9_b', 'db/migrations/9_b.down.sql'],
      ['10_c', null],
    ]);
    expect(files[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports every problem at once: bad names, two files for one version, a down without its up', async () => {
    write({
      'add_users.sql': '',
      '1_a.up.sql': '',
      '01_b.up.sql': '',
      '2_c.down.sql': '',
      '3_d.up.sql': '',
      '3_e.down.sql': '',
    });
    const error = (await readMigrations(dir, 'db/migrations').catch((e: unknown) => e)) as MigrationDirectoryError;
    expect(error).toBeInstanceOf(MigrationDirectoryError);
    expect(error.problems).toEqual([
      'db/migrations/01_b.up.sql and db/migrations/1_a.up.sql are both the up migration of version 1: give one of them another version',
      'db/migrations/add_users.sql is not named VERSION_title.up.sql or VERSION_title.down.sql (such as 20261101120000_add_orders.up.sql): rename it, or move it out of the directory',
      'db/migrations/2_c.down.sql has no up migration: add 2_c.up.sql, or remove the down file',
      'db/migrations/3_e.down.sql does not match db/migrations/3_d.up.sql: name the down file 3_d.down.sql',
    ]);
  });

  it('says when the directory does not exist', async () => {
    await expect(readMigrations(path.join(dir, 'nope'), 'db/nope')).rejects.toThrow(
      'the migrations directory db/nope does not exist (dir is relative to the project directory)',
    );
  });

  it('resolves the release version: 0 or below the first file is empty, otherwise it must match a file', async () => {
    write({ '5_a.up.sql': '', '7_b.up.sql': '' });
    const files = await readMigrations(dir, 'm');
    const where = { dir: 'm', table: 't' };
    expect(resolveTarget('0', files, where).count).toBe(0);
    expect(resolveTarget('3', files, where).count).toBe(0);
    expect(resolveTarget('7.0', files, where).count).toBe(2);
    expect(() => resolveTarget('6', files, where)).toThrow(
      'version 6 matches no migration in m (the nearest below is 5_a; the newest is 7_b)',
    );
    expect(() => resolveTarget('latest', files, where)).toThrow('not a migration version');
    expect(() => resolveTarget('1', [], where)).toThrow('m has no migration files yet');
  });
});

describe('database URLs', () => {
  it('parses each kind, with a display form that has no credentials', () => {
    expect(parseDatabaseUrl('postgresql://app:s3cret@db.example.com:6543/shop?sslmode=require', '/p')).toEqual({
      kind: 'postgres',
      connectionString: 'postgresql://app:s3cret@db.example.com:6543/shop?sslmode=require',
      display: 'database shop at db.example.com:6543 (postgresql, user app)',
    });
    expect(parseDatabaseUrl('mysql://app:p%40ss@db:3307/shop?ssl=true', '/p')).toEqual({
      kind: 'mysql',
      host: 'db',
      port: 3307,
      user: 'app',
      password: 'p@ss',
      database: 'shop',
      ssl: true,
      display: 'database shop at db:3307 (mysql, user app)',
    });
    expect(parseDatabaseUrl('sqlite:db/dev.db', '/p')).toEqual({
      kind: 'sqlite',
      file: '/p/db/dev.db',
      display: 'sqlite:db/dev.db',
    });
    expect(parseDatabaseUrl('sqlite:///srv/app.db', '/p')).toMatchObject({ file: '/srv/app.db' });
  });

  it('scrubs the password from driver messages, in every spelling', () => {
    const url = 'postgres://app:p%40ss%2Fword@db:5432/shop?password=other-secret';
    const scrub = credentialScrubber(url);
    expect(scrub(`connect to ${url} failed`)).toBe('connect to database shop at db:5432 (postgres, user app) failed');
    expect(scrub('auth failed for p@ss/word and p%40ss%2Fword and other-secret')).toBe(
      'auth failed for *** and *** and ***',
    );
    expect(scrub('see mysql://root:hunter2@10.0.0.1/x')).toBe('see mysql://root:***@10.0.0.1/x');
  });

  it('shows approvers the target of a URL kept in a secret, and never its password', () => {
    // The engine redacts a secret's full text wherever it appears: the display must not contain it.
    const cases: [string, string][] = [
      ['postgres://app@127.0.0.1:5432/shop', 'database shop at 127.0.0.1:5432 (postgres, user app)'],
      ['postgres://127.0.0.1/shop', 'database shop at 127.0.0.1:5432 (postgres)'],
      ['mysql://deploy@db.internal/orders', 'database orders at db.internal:3306 (mysql, user deploy)'],
      ['postgres://app:pa%24%24-word-9@db:6432/shop?sslmode=verify-full&sslpassword=key-pass-77', 'database shop at db:6432 (postgres, user app)'],
      ['postgres://app@localhost/shop?host=/var/run/postgresql&password=query-pass-55', 'database shop at /var/run/postgresql (postgres, user app)'],
    ];
    for (const [url, display] of cases) {
      const redactor = new Redactor();
      redactor.add(url);
      const target = parseDatabaseUrl(url, '/p');
      expect(redactor.redact(`apply 1 migration to ${target.display}`)).toBe(`apply 1 migration to ${display}`);
      for (const password of ['pa$$-word-9', 'pa%24%24-word-9', 'key-pass-77', 'query-pass-55']) {
        expect(target.display).not.toContain(password);
      }
    }
  });

  it('refuses bad URLs in the spec without repeating them', () => {
    const secret = 'do-not-print-me';
    for (const url of [
      `ftp://u:${secret}@h/db`,
      `mysql://u:${secret}@h:3306`,
      `mysql://u:${secret}@h/db?sslmode=x`,
      'sqlite:',
    ]) {
      const result = migrationsSpec.safeParse({ url, dir: 'db' });
      expect(result.success, url).toBe(false);
      const messages = result.error?.issues.map((i) => i.message).join('\n') ?? '';
      expect(messages).not.toContain(secret);
      expect(result.error?.issues[0]?.path).toEqual(['url']);
    }
    expect(migrationsSpec.parse({ url: 'sqlite:x.db', dir: 'db' })).toEqual({
      url: 'sqlite:x.db',
      dir: 'db',
      table: 'lockstep_migrations',
      lockTimeout: '1m',
      connectTimeout: '10s',
      queryTimeout: '1h',
    });
  });
});
