import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseRecord } from '../../src/core/model.js';
import { CLI, lockstep, requireBuild, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { MIGRATIONS } from '../../src/store/sqlite/schema.js';

// How the CLI treats the state file: it is created only where a project starts, a read-only state
// still reads (and reading never writes it), a write to a read-only state says so, and a damaged
// row names its table and entry.

const CONFIG = `project: careful
environments:
  dev: {}
components:
  api:
${commandComponent()}
`;

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/**
 * Runs the CLI so that file permissions bind it. Tests often run as root, which writes through any file
 * mode; then the CLI runs as root without the capabilities that override file modes (setpriv drops
 * them from the bounding set), so a mode of 0444 or 0555 really stops it. It stays root otherwise, so
 * it still reads the checkout wherever that is (a clone in a 0700 temporary directory included).
 */
function lockstepUnprivileged(cwd: string, args: readonly string[]): CliResult {
  requireBuild();
  const root = process.getuid?.() === 0;
  const [command, argv] = root
    ? ['setpriv', ['--bounding-set', '-dac_override,-dac_read_search,-fowner', '--', process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
  const r = spawnSync(command, argv, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, LOCKSTEP_ACTOR: 'tester@example.com' },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The commands that only read, with the arguments they need. */
function readCommands(release: string, promotion: string): string[][] {
  return [
    ['status'],
    ['status', '--output', 'json'],
    ['history'],
    ['history', '--output', 'json'],
    ['release', 'list'],
    ['release', 'show', release, '--output', 'json'],
    ['audit', 'verify'],
    ['audit', 'verify', '--output', 'json'],
    ['audit', 'export'],
    ['logs', promotion],
    ['plan', release, '--to', 'dev', '--output', 'json'],
  ];
}

describe('lockstep state', () => {
  let project: TestProject;
  let release: string;
  let promotion: string;
  /** The state after one promotion; each case works on its own copy. */
  let pristine: string;

  beforeAll(() => {
    project = testProject(CONFIG);
    // The test directory is private (0700); the unprivileged user needs to reach the config in it.
    chmodSync(project.dir, 0o755);
    const created = lockstep(project.dir, ['release', 'create', '--set', 'api=1.0.0', '--output', 'json']);
    expect(created.status, show(created)).toBe(0);
    release = (JSON.parse(created.stdout) as { release: ReleaseRecord }).release.id;
    const promoted = lockstep(project.dir, ['promote', release, '--to', 'dev', '--output', 'json']);
    expect(promoted.status, show(promoted)).toBe(0);
    promotion = (JSON.parse(promoted.stdout) as { promotion: { id: string } }).promotion.id;
    pristine = join(project.dir, '.lockstep', 'state.db');
    expect(existsSync(`${pristine}-wal`)).toBe(false);
  });
  afterAll(() => {
    // Directories made read-only below must be writable again to be removed.
    for (const name of readdirSync(project.dir)) {
      if (name.startsWith('case-')) chmodSync(join(project.dir, name), 0o755);
    }
    project.cleanup();
  });

  let cases = 0;
  /** A copy of the state in its own directory `case-N/`, readable by anyone. */
  function copyState(): { dir: string; file: string } {
    const dir = join(project.dir, `case-${++cases}`);
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const file = join(dir, 'state.db');
    copyFileSync(pristine, file);
    chmodSync(file, 0o644);
    return { dir, file };
  }

  describe('a state is created only where a project starts', () => {
    it('a mistyped --state names the missing path (exit 2) for every other command, and creates nothing', () => {
      const missing = join(project.dir, 'stat');
      for (const args of [...readCommands(release, promotion), ['promote', release, '--to', 'dev'], ['tick'], ['resume'], ['release', 'reject', release, '--reason', 'x']]) {
        const r = lockstep(project.dir, ['--state', missing, ...args]);
        expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(2);
        expect(r.stderr).toContain(`lockstep: error: no state at ${join(missing, 'state.db')}: nothing was recorded there yet; run lockstep init or lockstep release create to start one`);
        expect(existsSync(missing), args.join(' ')).toBe(false);
      }
    });

    it('the first release create makes it and says so on stderr, once', () => {
      const fresh = join(project.dir, 'fresh-state');
      const first = lockstep(project.dir, ['--state', fresh, 'release', 'create', '--set', 'api=2.0.0', '--output', 'json']);
      expect(first.status, show(first)).toBe(0);
      expect(first.stderr).toBe(`lockstep: created a new state at ${join(fresh, 'state.db')}\n`);
      expect(JSON.parse(first.stdout)).toMatchObject({ created: true });
      const second = lockstep(project.dir, ['--state', fresh, 'release', 'create', '--set', 'api=3.0.0']);
      expect(second.status, show(second)).toBe(0);
      expect(second.stderr).toBe('');
    });

    it('init makes it beside the new config and says so', () => {
      const dir = join(project.dir, 'new-project');
      mkdirSync(dir);
      const r = lockstep(dir, ['init']);
      expect(r.status, show(r)).toBe(0);
      expect(r.stderr).toBe(`lockstep: created a new state at ${join(dir, '.lockstep', 'state.db')}\n`);
      const status = lockstep(dir, ['status']);
      expect(status.status, show(status)).toBe(0);
      expect(status.stdout).toContain('nothing promoted yet');
    });
  });

  describe('a read-only state', () => {
    let reference: Map<string, CliResult> | undefined;
    /** What each read command prints from a writable copy: the read-only runs must print the same. */
    function expected(): Map<string, CliResult> {
      if (reference !== undefined) return reference;
      const { file } = copyState();
      reference = new Map(readCommands(release, promotion).map((args) => [args.join(' '), lockstep(project.dir, ['--state', file, ...args])]));
      return reference;
    }

    function expectReadsAsUsual(file: string, reference: Map<string, CliResult>): void {
      for (const args of readCommands(release, promotion)) {
        const r = lockstepUnprivileged(project.dir, ['--state', file, ...args]);
        const want = reference.get(args.join(' '));
        expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(0);
        expect(want?.status, args.join(' ')).toBe(0);
        expect(r.stdout, args.join(' ')).toBe(want?.stdout);
        expect(r.stderr, args.join(' ')).toBe('');
      }
    }

    function expectWritesRefused(file: string): void {
      for (const args of [['release', 'create', '--set', 'api=9.9.9'], ['promote', release, '--to', 'dev'], ['tick'], ['release', 'reject', release, '--reason', 'bad']]) {
        const r = lockstepUnprivileged(project.dir, ['--state', file, ...args]);
        expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(1);
        expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^lockstep: error: cannot write the state at ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: it is read-only \\(`));
      }
    }

    it('in a read-only directory: every read command works, and nothing is written or created there', () => {
      const reference = expected();
      const { dir, file } = copyState();
      chmodSync(file, 0o444);
      chmodSync(dir, 0o555);
      const bytes = readFileSync(file);
      const { mtimeMs } = statSync(file);

      expectReadsAsUsual(file, reference);
      expectWritesRefused(file);

      expect(readFileSync(file).equals(bytes)).toBe(true);
      expect(statSync(file).mtimeMs).toBe(mtimeMs);
      expect(readdirSync(dir)).toEqual(['state.db']);
    });

    it('a read-only file in a writable directory: reads work, writes are refused, the file is unchanged', () => {
      const reference = expected();
      const { dir, file } = copyState();
      chmodSync(file, 0o444);
      // Writable for whoever runs the CLI: SQLite's readers may create the -shm index beside it.
      chmodSync(dir, 0o777);
      const bytes = readFileSync(file);
      const { mtimeMs } = statSync(file);

      expectReadsAsUsual(file, reference);
      expectWritesRefused(file);

      expect(readFileSync(file).equals(bytes)).toBe(true);
      expect(statSync(file).mtimeMs).toBe(mtimeMs);
      // A reader never writes the log: if SQLite left its -wal file, it is empty.
      if (existsSync(`${file}-wal`)) expect(statSync(`${file}-wal`).size).toBe(0);
    });

    it('written by an older Lockstep: a read-only one says it must be upgraded with write access; a writable one is upgraded', () => {
      const older = (): { dir: string; file: string } => {
        const copy = copyState();
        // Schema version 2: as a Lockstep before approvals, rejections, API tokens, ordered log lines, the notification outbox, cancel requests, evidence and drift checks left it.
        const db = new Database(copy.file);
        db.exec(
          'DROP TABLE drift_checks; DROP TABLE drift_states; DROP TABLE evidence; DROP INDEX promotions_state; DROP INDEX audit_log_kind; DROP TABLE cancel_requests; DROP TABLE notify_deliveries; DROP TABLE notify_cursors; DROP TABLE api_tokens; DROP TABLE approvals; DROP TABLE release_rejections; ALTER TABLE step_logs DROP COLUMN after_seq; DELETE FROM schema_version WHERE version >= 3;',
        );
        db.close();
        return copy;
      };
      const readOnly = older();
      chmodSync(readOnly.file, 0o444);
      chmodSync(readOnly.dir, 0o555);
      const refused = lockstepUnprivileged(project.dir, ['--state', readOnly.file, 'status']);
      expect(refused.status, show(refused)).toBe(1);
      expect(refused.stderr).toBe(
        `lockstep: error: the state at ${readOnly.file} has schema version 2 and this Lockstep reads ${MIGRATIONS.length}: it must be upgraded, which needs write access (the file does not allow writing); open it once where it is writable\n`,
      );

      const writable = older();
      const upgraded = lockstep(project.dir, ['--state', writable.file, 'release', 'show', release, '--output', 'json']);
      expect(upgraded.status, show(upgraded)).toBe(0);
      expect((JSON.parse(upgraded.stdout) as { release: ReleaseRecord }).release.id).toBe(release);
    });

    it('reading a writable state does not change the file either', () => {
      const { file } = copyState();
      const bytes = readFileSync(file);
      const { mtimeMs } = statSync(file);
      for (const args of readCommands(release, promotion)) {
        const r = lockstep(project.dir, ['--state', file, ...args]);
        expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(0);
      }
      expect(readFileSync(file).equals(bytes)).toBe(true);
      expect(statSync(file).mtimeMs).toBe(mtimeMs);
    });
  });

  describe('a damaged row', () => {
    it('is named by table and entry, exit 1, without a JavaScript error', () => {
      const { file } = copyState();
      const db = new Database(file);
      db.prepare(`UPDATE releases SET json = '{"id": ' WHERE id = ?`).run(release);
      db.close();
      for (const args of [['release', 'list'], ['release', 'show', release], ['status'], ['plan', release, '--to', 'dev']]) {
        const r = lockstep(project.dir, ['--state', file, ...args]);
        expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(1);
        expect(r.stderr, args.join(' ')).toBe(`lockstep: error: the state at ${file} is damaged: table releases, id ${release}: column json is not valid JSON\n`);
      }
    });
  });
});
