/* eslint-disable no-control-regex -- terminal escape sequences are what these tests look for */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReleaseRecord } from '../../src/core/model.js';
import { CLI, lockstep, requireBuild } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// What `promote` shows while it runs. Piped (not a terminal): one plain, timestamped line per state
// change and per log line, no escape codes. On a terminal (and CI unset): a live table, redrawn in
// place with cursor-up sequences. The terminal is a real pseudo-terminal, made by util-linux `script`.

const CONFIG = `project: progress
environments:
  dev: {}
components:
  db:
${commandComponent({ rollback: false })}
  api:
${commandComponent({ dependsOn: ['db'] })}
  web:
${commandComponent()}
`;
const ANSI = '\x1b[';
const CURSOR_UP = /\x1b\[(\d+)A/;

let project: TestProject | undefined;
afterEach(() => {
  project?.cleanup();
  project = undefined;
});

function createRelease(p: TestProject, versions: Record<string, string>): string {
  const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
  const r = lockstep(p.dir, ['release', 'create', ...set, '--output', 'json']);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { release: ReleaseRecord }).release.id;
}

/** The environment of this process without CI: the CLI turns the live table off when CI is set at all. */
function envWithoutCi(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOCKSTEP_ACTOR: 'tester@example.com', ...extra };
  delete env.CI;
  return env;
}

/** util-linux `script` makes the pseudo-terminal; without it the terminal tests cannot run, and say why. */
function requireScript(): void {
  const which = spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error('this test needs `script` from util-linux to make a pseudo-terminal: install util-linux (apt-get install util-linux)');
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

describe('promote progress, not on a terminal', () => {
  for (const ci of [undefined, 'true']) {
    it(`prints plain per-component lines for state changes and log lines (CI ${ci === undefined ? 'unset' : 'set'})`, () => {
      project = testProject(CONFIG);
      const id = createRelease(project, { db: '1', api: '1', web: '1' });
      const env = ci === undefined ? envWithoutCi({ STEP_SLEEP: '0' }) : { ...envWithoutCi({ STEP_SLEEP: '0' }), CI: ci };
      // Piped stdout: not a terminal.
      const r = spawnSync(process.execPath, [CLI, 'promote', id, '--to', 'dev'], { cwd: project.dir, env, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.includes(ANSI), 'no escape codes when piped').toBe(false);
      const lines = r.stdout.split('\n');
      // HH:MM:SS, the component padded to the longest name (at least 9), two spaces, what happened.
      const has = (re: RegExp): boolean => lines.some((l) => re.test(l));
      for (const c of ['db', 'api', 'web']) {
        const name = c.padEnd(9);
        expect(has(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name}  running apply$`)), `${c} running apply\n${r.stdout}`).toBe(true);
        expect(has(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name}  running verify$`)), `${c} running verify`).toBe(true);
        expect(has(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name}  \\| deployed ${c} 1$`)), `${c} log line`).toBe(true);
        expect(has(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name}  \\| healthy$`)), `${c} verify log line`).toBe(true);
        expect(has(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name}  succeeded \\(\\d+(ms|\\.\\ds|s)\\)$`)), `${c} succeeded`).toBe(true);
      }
      // api needs db: its apply is printed after db succeeded.
      const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
      expect(at(/ api {7} running apply$/)).toBeGreaterThan(at(/ db {8} succeeded/));
    });
  }

  it('prints the failure, the rollback and its log lines', () => {
    project = testProject(CONFIG);
    const r1 = createRelease(project, { db: '1', api: '1', web: '1' });
    expect(lockstep(project.dir, ['promote', r1, '--to', 'dev'], { CI: 'true' }).status).toBe(0);
    const r2 = createRelease(project, { db: '1', api: '2-broken', web: '1' });
    const r = lockstep(project.dir, ['promote', r2, '--to', 'dev'], { CI: 'true' });
    expect(r.status, r.stdout).toBe(1);
    const lines = r.stdout.split('\n');
    const has = (re: RegExp): boolean => lines.some((l) => re.test(l));
    expect(has(/^\d\d:\d\d:\d\d db {8} unchanged/), r.stdout).toBe(true);
    expect(has(/^\d\d:\d\d:\d\d api {7} \| unhealthy: 2-broken$/)).toBe(true);
    expect(has(/^\d\d:\d\d:\d\d api {7} failed: verify: .*unhealthy: 2-broken/)).toBe(true);
    expect(has(/^\d\d:\d\d:\d\d promotion [0-9a-f]{12} rolling-back$/)).toBe(true);
    expect(has(/^\d\d:\d\d:\d\d api {7} rolling-back$/)).toBe(true);
    expect(has(/^\d\d:\d\d:\d\d api {7} \| deployed api 1$/)).toBe(true);
    expect(has(/^\d\d:\d\d:\d\d api {7} rolled-back/)).toBe(true);
    expect(r.stdout.includes(ANSI)).toBe(false);
  });
});

describe('promote progress, on a terminal', () => {
  it('draws a live table redrawn in place with cursor-up sequences', () => {
    requireScript();
    requireBuild();
    project = testProject(CONFIG);
    const id = createRelease(project, { db: '1', api: '1', web: '1' });
    const command = [process.execPath, CLI, 'promote', id, '--to', 'dev'].map(shellQuote).join(' ');
    // STEP_SLEEP long enough for several redraws (every 100 ms) while steps run.
    const r = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: project.dir,
      env: envWithoutCi({ STEP_SLEEP: '0.4', TERM: 'xterm', COLUMNS: '120' }),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const out = r.stdout;

    // Redrawn in place: move up over the 3 rows, clear each line, write it again.
    const ups = [...out.matchAll(new RegExp(CURSOR_UP.source, 'g'))].map((m) => Number(m[1]));
    expect(ups.length, out).toBeGreaterThanOrEqual(3);
    expect(new Set(ups)).toEqual(new Set([3]));
    expect(out).toContain('\x1b[2K');

    // The rows: every component, pending, running (with its phase and a duration), then succeeded.
    const rows = out.split(/\r?\n/).map((l) => l.replace(/\x1b\[\d*[A-Za-z]/g, ''));
    const row = (c: string, state: RegExp): boolean => rows.some((l) => new RegExp(`^${c.padEnd(9)}  ${state.source}`).test(l));
    for (const c of ['db', 'api', 'web']) {
      expect(row(c, /· pending/), `${c} pending\n${out}`).toBe(true);
      expect(row(c, /▶ running \((plan|apply|verify)\)\s+\d+(ms|\.\ds|s)/), `${c} running`).toBe(true);
      expect(row(c, /✔ succeeded\s+\d+(ms|\.\ds|s)/), `${c} succeeded`).toBe(true);
    }
    // The last frame shows all three finished, and the summary follows.
    const lastUp = out.lastIndexOf('\x1b[3A');
    const lastFrame = out.slice(lastUp).split(/\r?\n/).slice(0, 3).map((l) => l.replace(/\x1b\[\d*[A-Za-z]/g, ''));
    expect(lastFrame.every((l) => /✔ succeeded/.test(l)), lastFrame.join('\n')).toBe(true);
    expect(out).toMatch(/Promotion [0-9a-f]{12} SUCCEEDED/);
    // Not the plain line-per-change output.
    expect(/^\d\d:\d\d:\d\d db {9}running apply/m.test(out)).toBe(false);
  });

  it('with CI set, a terminal still gets plain lines (no live table)', () => {
    requireScript();
    project = testProject(CONFIG);
    const id = createRelease(project, { db: '1', api: '1', web: '1' });
    const command = [process.execPath, CLI, 'promote', id, '--to', 'dev'].map(shellQuote).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: project.dir,
      env: { ...envWithoutCi({ STEP_SLEEP: '0' }), CI: 'true' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    expect(r.status, r.stdout).toBe(0);
    expect(CURSOR_UP.test(r.stdout)).toBe(false);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d db {8} running apply\r?$/m);
  });
});
