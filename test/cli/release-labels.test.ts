import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { ReleaseRecord } from '../../src/core/model.js';
import { lockstep, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Release labels through the built CLI: set with --label, fixed with the release, shown by release
// show and release list, recorded in the audit log, and read by the policy docs/gates.md shows.

const CONFIG = `project: labelled
environments:
  prod:
    gates:
      policy:
        - expr: "release.labels[?'risk'].orValue('low') != 'high'"
          message: "high-risk releases do not go to prod"
components:
  api:
${commandComponent()}
`;

const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function newProject(): TestProject {
  const p = testProject(CONFIG);
  projects.push(p);
  return p;
}

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function run(p: TestProject, args: string[], status = 0): CliResult {
  const r = lockstep(p.dir, args);
  expect(r.status, `${args.join(' ')}\n${show(r)}`).toBe(status);
  return r;
}

describe('lockstep release create --label', () => {
  it('stores the labels with the release and shows them in create, show (text and JSON), list and the audit log', () => {
    const p = newProject();
    const created = run(p, ['release', 'create', '--set', 'api=1.0.0', '--label', 'team=payments', '-l', 'risk=high', '--label', 'example.com/ticket=OPS-1']);
    expect(created.stdout).toContain('labels: example.com/ticket=OPS-1 risk=high team=payments\n');
    const id = /release ([0-9a-f]{64})/.exec(created.stdout)?.[1] ?? '';

    const json = JSON.parse(run(p, ['release', 'show', id.slice(0, 7), '--output', 'json']).stdout) as { release: ReleaseRecord };
    expect(json.release.labels).toEqual({ 'example.com/ticket': 'OPS-1', risk: 'high', team: 'payments' });
    expect(run(p, ['release', 'show', id]).stdout).toContain('labels: example.com/ticket=OPS-1 risk=high team=payments');

    run(p, ['release', 'create', '--set', 'api=2.0.0']);
    const list = run(p, ['release', 'list']).stdout.split('\n');
    expect(list[0]).toMatch(/^ID\s+CREATED\s+BY\s+VERSIONS\s+LABELS\s+MESSAGE$/);
    expect(list.find((line) => line.startsWith(id.slice(0, 12)))).toMatch(/api=1\.0\.0\s+example\.com\/ticket=OPS-1 risk=high team=payments$/);
    expect(list.find((line) => line.includes('api=2.0.0'))).toMatch(/api=2\.0\.0\s+-$/);
    const listed = JSON.parse(run(p, ['release', 'list', '--output', 'json']).stdout) as ReleaseRecord[];
    expect(listed.map((r) => r.labels)).toEqual([{}, { 'example.com/ticket': 'OPS-1', risk: 'high', team: 'payments' }]);

    const audit = run(p, ['audit', 'export']).stdout.trim().split('\n').map((line) => JSON.parse(line) as AuditEntry);
    expect(audit.filter((e) => e.kind === 'release.created').map((e) => e.data.labels)).toEqual([{ 'example.com/ticket': 'OPS-1', risk: 'high', team: 'payments' }, {}]);
  });

  it('refuses a bad label (exit 2) before anything is recorded, naming every problem', () => {
    const p = newProject();
    const r = run(p, ['release', 'create', '--set', 'api=1.0.0', '--label', 'risk=high', '--label', 'risk=low', '--label', 'note=a\u001b[2Jb', '--label', 'bad key=1'], 2);
    expect(r.stderr).toBe(
      [
        'lockstep: error: --label "risk" is given twice',
        '--label "note": the value contains a control character, a line break or a bidirectional formatting character',
        `--label "bad key": the key's name must be 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`,
        '',
      ].join('\n'),
    );
    expect(existsSync(join(p.dir, '.lockstep', 'state.db'))).toBe(false);
  });

  it('fixes labels with the release: the same labels or none find it, other labels are a conflict (exit 4)', () => {
    const p = newProject();
    const first = JSON.parse(run(p, ['release', 'create', '--set', 'api=1.0.0', '--label', 'risk=high', '--output', 'json']).stdout) as { created: boolean; release: ReleaseRecord };
    expect(first.created).toBe(true);
    const same = JSON.parse(run(p, ['release', 'create', '--set', 'api=1.0.0', '--label', 'risk=high', '--output', 'json']).stdout) as { created: boolean; release: ReleaseRecord };
    expect(same).toMatchObject({ created: false, release: { id: first.release.id, labels: { risk: 'high' } } });
    const none = JSON.parse(run(p, ['release', 'create', '--set', 'api=1.0.0', '--output', 'json']).stdout) as { created: boolean; release: ReleaseRecord };
    expect(none).toMatchObject({ created: false, release: { labels: { risk: 'high' } } });

    const other = run(p, ['release', 'create', '--set', 'api=1.0.0', '--label', 'risk=low'], 4);
    expect(other.stderr).toBe(
      `lockstep: error: release ${first.release.id.slice(0, 12)} exists already with labels risk=high: labels are fixed when a release is created (a release with other versions gets its own)\n`,
    );
    const unlabelled = JSON.parse(run(p, ['release', 'create', '--set', 'api=2.0.0', '--output', 'json']).stdout) as { release: ReleaseRecord };
    const added = run(p, ['release', 'create', '--set', 'api=2.0.0', '--label', 'risk=low'], 4);
    expect(added.stderr).toContain(`release ${unlabelled.release.id.slice(0, 12)} exists already with no labels`);
    expect((JSON.parse(run(p, ['release', 'show', first.release.id, '--output', 'json']).stdout) as { release: ReleaseRecord }).release.labels).toEqual({ risk: 'high' });
  });

  it('the policy docs/gates.md shows rejects a release labelled risk=high and lets the others through', () => {
    const p = newProject();
    const high = /release ([0-9a-f]{64})/.exec(run(p, ['release', 'create', '--set', 'api=1.0.0', '--label', 'risk=high']).stdout)?.[1] ?? '';
    const low = /release ([0-9a-f]{64})/.exec(run(p, ['release', 'create', '--set', 'api=1.0.1', '--label', 'risk=low']).stdout)?.[1] ?? '';
    const none = /release ([0-9a-f]{64})/.exec(run(p, ['release', 'create', '--set', 'api=1.0.2']).stdout)?.[1] ?? '';

    const rejected = run(p, ['promote', high, '--to', 'prod'], 3);
    expect(rejected.stdout).toContain('REJECTED');
    expect(rejected.stdout).toContain('high-risk releases do not go to prod');
    expect(p.applies()).toEqual([]);
    run(p, ['promote', low, '--to', 'prod']);
    run(p, ['promote', none, '--to', 'prod']);
    expect(p.applies().map((line) => line.split(' ').slice(0, 4).join(' '))).toEqual(['apply prod api 1.0.1', 'apply prod api 1.0.2']);
  });
});

describe('a state made by the previous Lockstep (schema 3, before labels could be set)', () => {
  it('opens: it reads, verifies, shows no labels, and takes a labelled release', () => {
    const p = newProject();
    p.write('lockstep.yaml', `project: legacy
environments:
  dev: {}
components:
  api:
    type: command
    with:
      apply: ["true"]
`);
    mkdirSync(join(p.dir, '.lockstep'));
    const db = new Database(join(p.dir, '.lockstep', 'state.db'));
    db.exec(readFileSync(fileURLToPath(new URL('../fixtures/state-before-labels.sql', import.meta.url)), 'utf8'));
    db.close();

    expect(run(p, ['audit', 'verify']).stdout).toMatch(/^audit log intact: 8 entries/);
    const [old] = JSON.parse(run(p, ['release', 'list', '--output', 'json']).stdout) as ReleaseRecord[];
    expect(old).toMatchObject({ project: 'legacy', versions: { api: '1.0.0' }, labels: {}, message: 'made by the previous Lockstep' });
    expect(run(p, ['release', 'show', old?.id ?? '']).stdout).not.toContain('labels:');
    expect(run(p, ['status']).stdout).toContain(`dev: release ${(old?.id ?? '').slice(0, 12)}`);

    const created = run(p, ['release', 'create', '--set', 'api=2.0.0', '--label', 'risk=high']);
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('labels: risk=high');
    run(p, ['promote', /release ([0-9a-f]{64})/.exec(created.stdout)?.[1] ?? '', '--to', 'dev']);
    expect(run(p, ['audit', 'verify']).stdout).toMatch(/^audit log intact: \d+ entries/);
  });
});
