import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditEntryHash, type AuditEntry } from '../../src/core/audit.js';
import type { ReleaseRecord } from '../../src/core/model.js';
import { lockstep, lockstepAsync, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The audit log through the CLI: the hash chain verifies after real promotions, and every way of
// editing the SQLite file behind Lockstep's back (change, delete, reorder, insert, cut the tail) is
// caught by `audit verify`, naming the first bad entry.

const CONFIG = `project: audited
environments:
  dev: {}
components:
  db:
${commandComponent({ rollback: false })}
  api:
${commandComponent({ dependsOn: ['db'] })}
`;

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function releaseOf(p: TestProject, versions: Record<string, string>): string {
  const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
  const r = lockstep(p.dir, ['release', 'create', ...set, '--output', 'json']);
  expect(r.status, show(r)).toBe(0);
  return (JSON.parse(r.stdout) as { release: ReleaseRecord }).release.id;
}

function promote(p: TestProject, release: string, env: NodeJS.ProcessEnv = {}, status = 0): CliResult {
  const r = lockstep(p.dir, ['promote', release, '--to', 'dev'], env);
  expect(r.status, show(r)).toBe(status);
  return r;
}

type Verification = { ok: true; entries: number; head: string } | { ok: false; entries: number; firstBad: number; reason: string };

describe('lockstep audit: tampering with the SQLite file is detected', () => {
  let project: TestProject;
  /** The untouched database, after two promotions; every case edits its own copy. */
  let pristine: string;
  let entries: AuditEntry[];
  let head: string;
  const scratch: string[] = [];

  beforeAll(() => {
    project = testProject(CONFIG);
    promote(project, releaseOf(project, { db: '1', api: '1' }));
    promote(project, releaseOf(project, { db: '2', api: '2' }));
    pristine = join(project.dir, '.lockstep', 'state.db');
    // Every process has closed the database: its WAL was checkpointed into the file.
    expect(existsSync(`${pristine}-wal`)).toBe(false);

    const exported = lockstep(project.dir, ['audit', 'export', '--format', 'jsonl']);
    expect(exported.status, show(exported)).toBe(0);
    entries = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    head = entries.at(-1)!.hash;
  });
  afterAll(() => project.cleanup());
  afterEach(() => {
    for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** Copies the database, edits the copy directly (the append-only triggers dropped first), runs `audit verify` on it. */
  function tamper(edit: (db: Database.Database) => void, args: string[] = []): { text: CliResult; json: Verification; jsonStatus: number | null } {
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-tamper-'));
    scratch.push(dir);
    const file = join(dir, 'state.db');
    copyFileSync(pristine, file);
    const db = new Database(file);
    db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
    edit(db);
    db.close();
    const text = lockstep(project.dir, ['--state', file, 'audit', 'verify', ...args]);
    const json = lockstep(project.dir, ['--state', file, 'audit', 'verify', ...args, '--output', 'json']);
    return { text, json: JSON.parse(json.stdout) as Verification, jsonStatus: json.status };
  }

  /** `verified`: how many entries before the bad one still verify (firstBad - 1 unless one was removed). */
  function expectBroken(result: ReturnType<typeof tamper>, firstBad: number, verified = firstBad - 1): void {
    expect(result.text.status, show(result.text)).not.toBe(0);
    expect(result.text.stdout + result.text.stderr).toMatch(new RegExp(`\\bentry ${firstBad}\\b`));
    expect(result.jsonStatus).not.toBe(0);
    expect(result.json).toMatchObject({ ok: false, firstBad, entries: verified });
  }

  it('an untouched log verifies (exit 0), and export gives one parseable line per entry, in order', () => {
    expect(entries.length).toBeGreaterThan(10);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    const kinds = new Set(entries.map((e) => e.kind));
    for (const k of ['release.created', 'promotion.requested', 'step.started', 'step.succeeded', 'promotion.finished']) expect(kinds, k).toContain(k);

    const verify = lockstep(project.dir, ['audit', 'verify']);
    expect(verify.status, show(verify)).toBe(0);
    expect(verify.stdout).toContain(`${entries.length} entries`);
    const json = JSON.parse(lockstep(project.dir, ['audit', 'verify', '--output', 'json']).stdout) as Verification;
    expect(json).toEqual({ ok: true, entries: entries.length, head });

    const db = new Database(pristine, { readonly: true });
    const count = (db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;
    db.close();
    expect(entries).toHaveLength(count);
  });

  it('(a) one entry\'s data changed', () => {
    const result = tamper((db) => {
      db.prepare(`UPDATE audit_log SET data = json_set(data, '$.forged', 1) WHERE seq = 5`).run();
    });
    expectBroken(result, 5);
    expect(result.json.ok === false && result.json.reason).toMatch(/changed/);
  });

  it('(a) one entry\'s actor changed (a column outside data)', () => {
    expectBroken(tamper((db) => db.prepare(`UPDATE audit_log SET actor = 'mallory@example.com' WHERE seq = 7`).run()), 7);
  });

  it('(b) a middle entry deleted: the entry after the gap is named', () => {
    expectBroken(tamper((db) => db.prepare('DELETE FROM audit_log WHERE seq = 6').run()), 7, 5);
  });

  it('(c) two entries swapped (their seq exchanged)', () => {
    const result = tamper((db) => {
      db.prepare('UPDATE audit_log SET seq = -1 WHERE seq = 8').run();
      db.prepare('UPDATE audit_log SET seq = 8 WHERE seq = 9').run();
      db.prepare('UPDATE audit_log SET seq = 9 WHERE seq = -1').run();
    });
    expectBroken(result, 8);
  });

  it('(d) a forged entry inserted in the middle, with a correctly computed hash of its own', () => {
    // Entries after seq 4 move up by one; the forgery takes seq 5 and chains onto entry 4 properly.
    // The next entry (now 6) no longer chains onto its predecessor.
    const result = tamper((db) => {
      const rows = db.prepare('SELECT seq FROM audit_log WHERE seq > 4 ORDER BY seq DESC').all() as { seq: number }[];
      for (const { seq } of rows) db.prepare('UPDATE audit_log SET seq = ? WHERE seq = ?').run(seq + 1, seq);
      const before = entries[3]!;
      const forged = { seq: 5, kind: 'step.succeeded' as const, time: before.time, actor: 'mallory@example.com', project: 'audited', environment: 'dev', component: 'api', data: { note: 'all good' }, prevHash: before.hash };
      db.prepare(
        `INSERT INTO audit_log (seq, hash, prev_hash, kind, time, actor, project, environment, release_id, promotion_id, component, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)`,
      ).run(5, auditEntryHash(forged), before.hash, forged.kind, forged.time, forged.actor, forged.project, forged.environment, forged.component, JSON.stringify(forged.data));
    });
    expectBroken(result, 6);
  });

  it.each([0, -1])('(e) a forged entry before the first one, at sequence %i, with a correctly computed hash', (seq) => {
    // Chained from the genesis hash like the real first entry: only its place gives it away, and a
    // verifier that starts reading at sequence 1 never sees it.
    const first = entries[0]!;
    const forged = { seq, kind: 'release.created' as const, time: first.time, actor: 'mallory@example.com', project: 'audited', data: { note: 'before everything' }, prevHash: first.prevHash };
    const result = tamper((db) => {
      db.prepare(
        `INSERT INTO audit_log (seq, hash, prev_hash, kind, time, actor, project, environment, release_id, promotion_id, component, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)`,
      ).run(seq, auditEntryHash(forged), forged.prevHash, forged.kind, forged.time, forged.actor, forged.project, JSON.stringify(forged.data));
    });
    expectBroken(result, seq, 0);
    expect(result.json.ok === false && result.json.reason).toBe(`sequence ${seq} where 1 was expected (an entry was removed, inserted or reordered)`);
  });

  it('--head: a head recorded earlier must still be in the chain; after the last entry is deleted the recorded head fails', () => {
    const right = lockstep(project.dir, ['audit', 'verify', '--head', head]);
    expect(right.status, show(right)).toBe(0);
    // A head recorded before the last entries were appended: appends are how the log grows.
    const older = lockstep(project.dir, ['audit', 'verify', '--head', entries.at(-2)!.hash]);
    expect(older.status, show(older)).toBe(0);
    const unknown = lockstep(project.dir, ['audit', 'verify', '--head', 'ab'.repeat(32)]);
    expect(unknown.status, show(unknown)).toBe(1);

    const cut = (db: Database.Database): void => void db.prepare('DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)').run();
    // Without a head to compare with, a shorter chain is still a valid chain.
    const alone = tamper(cut);
    expect(alone.text.status, show(alone.text)).toBe(0);
    const checked = tamper(cut, ['--head', head]);
    expect(checked.text.status, show(checked.text)).toBe(1);
    expect(checked.text.stdout).toMatch(/removed from the end/);
    expect(checked.json.ok).toBe(false);
  });
});

describe('lockstep audit: secrets never reach the record', () => {
  // secret.sh prints its arguments (the token among them) on stdout and stderr, so the log lines
  // the engine records hold it unless they are redacted; it also keeps the token where only the
  // test looks, to prove the command really got it. check.sh fails a -broken version and
  // prints the token in its error.
  const SECRET_SH = `#!/bin/sh
set -eu
mkdir -p systems/$LOCKSTEP_ENVIRONMENT proof
printf '%s\\n' "$1" > "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT"
printf '%s' "$2" > "proof/arg-$1"
printf '%s' "$API_TOKEN" > "proof/env-$1"
echo "deploying $1 with token $2"
echo "token on stderr: $2 and $API_TOKEN" >&2
`;
  const CHECK_SH = `#!/bin/sh
v=$(cat "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT")
case "$v" in *-broken) echo "health check with $1 refused: $v" >&2; exit 1 ;; esac
echo "healthy, checked with $1"
`;
  const SECRET_CONFIG = `project: secretive
environments:
  dev: {}
components:
  app:
    type: command
    with:
      apply: ["./secret.sh", "\${{ version }}", "\${{ secrets.TOKEN }}"]
      verify: ["./check-secret.sh", "\${{ secrets.TOKEN }}"]
      rollback: ["./secret.sh", "\${{ previousVersion }}", "\${{ secrets.TOKEN }}"]
      env:
        API_TOKEN: "\${{ secrets.TOKEN }}"
`;

  let project: TestProject | undefined;
  afterEach(() => project?.cleanup());

  it('the token appears in no export, history, status, output, or byte of the database and its WAL', () => {
    project = testProject(SECRET_CONFIG);
    project.write('secret.sh', SECRET_SH, true);
    project.write('check-secret.sh', CHECK_SH, true);
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const env = { TOKEN: token, CI: 'true' };
    const outputs: CliResult[] = [];
    const cli = (args: string[], status = 0): CliResult => {
      const r = lockstep(project!.dir, args, env);
      outputs.push(r);
      expect(r.status, `lockstep ${args.join(' ')}\n${show(r)}`).toBe(status);
      return r;
    };

    const r1 = releaseOf(project, { app: '1' });
    cli(['plan', r1, '--to', 'dev']);
    cli(['plan', r1, '--to', 'dev', '--output', 'json']);
    cli(['promote', r1, '--to', 'dev']);
    const r2 = releaseOf(project, { app: '2-broken' });
    // Fails verify (whose error holds the token), then rolls back with the token in argv again.
    cli(['promote', r2, '--to', 'dev', '--output', 'json'], 1);
    const r3 = releaseOf(project, { app: '3' });
    cli(['promote', r3, '--to', 'dev']);
    cli(['rollback', '--env', 'dev']);

    // The commands did get the token: redaction, not absence, is what is tested.
    expect(readFileSync(join(project.dir, 'proof', 'arg-1'), 'utf8')).toBe(token);
    expect(readFileSync(join(project.dir, 'proof', 'env-1'), 'utf8')).toBe(token);
    expect(readFileSync(join(project.dir, 'proof', 'arg-2-broken'), 'utf8')).toBe(token);

    const exported = cli(['audit', 'export', '--format', 'jsonl']);
    const history = cli(['history', '--output', 'json']);
    cli(['history', '--component', 'app', '--output', 'json']);
    cli(['history']);
    cli(['status', '--output', 'json']);
    cli(['release', 'show', r2, '--output', 'json']);
    cli(['audit', 'verify']);
    // Redacted, still there: the log lines and the error were recorded.
    expect(exported.stdout).toContain('***');
    expect(history.stdout).toMatch(/refused/);

    for (const r of outputs) {
      expect(r.stdout.includes(token), `stdout of a command:\n${r.stdout.slice(0, 300)}`).toBe(false);
      expect(r.stderr.includes(token), `stderr of a command:\n${r.stderr.slice(0, 300)}`).toBe(false);
    }
    const state = join(project.dir, '.lockstep', 'state.db');
    for (const file of [state, `${state}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      expect(bytes.includes(Buffer.from(token)), `${file} holds the token`).toBe(false);
      // Not even the tail of it (a redaction that cut a prefix only).
      expect(bytes.includes(Buffer.from(token.slice(4))), `${file} holds part of the token`).toBe(false);
    }
  });

  it('the token stays out of the WAL while a promotion is still running', async () => {
    // The file checked above was checkpointed at exit; this one looks at the WAL while it is live.
    project = testProject(SECRET_CONFIG.replace('verify: ["./check-secret.sh", "${{ secrets.TOKEN }}"]', 'verify: ["./slow-check.sh", "${{ secrets.TOKEN }}"]'));
    project.write('secret.sh', SECRET_SH, true);
    project.write('slow-check.sh', '#!/bin/sh\necho "checking with $1"\ntouch verifying\nsleep 1\n', true);
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const r1 = releaseOf(project, { app: '1' });
    const child = lockstepAsync(project.dir, ['promote', r1, '--to', 'dev'], { TOKEN: token, CI: 'true' });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const wal = join(project.dir, '.lockstep', 'state.db-wal');
    for (let i = 0; i < 100 && !existsSync(join(project.dir, 'verifying')); i++) await new Promise((res) => setTimeout(res, 30));
    expect(existsSync(join(project.dir, 'verifying')), out).toBe(true);
    await new Promise((res) => setTimeout(res, 200));
    expect(existsSync(wal)).toBe(true);
    const live = readFileSync(wal);
    // The WAL holds this run's records (so the check below looks at something)...
    expect(live.includes(Buffer.from('step.started'))).toBe(true);
    // ...but not the token.
    expect(live.includes(Buffer.from(token))).toBe(false);
    expect(await done, out).toBe(0);
    expect(out.includes(token)).toBe(false);
  });
});
