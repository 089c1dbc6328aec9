import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ComponentState, PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../../src/core/model.js';
import { lockstep, lockstepAsync, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Releases, plans, promotions, status, history and rollback, through the built CLI: real processes,
// real SQLite, real scripts. db cannot be rolled back (forward-only); api needs db; web stands alone.
const CONFIG = `project: shop
environments:
  dev: {}
  staging: { after: [dev] }
components:
  db:
${commandComponent({ rollback: false })}
  api:
${commandComponent({ dependsOn: ['db'] })}
  web:
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

/** Runs the CLI and expects the exit code. */
function run(p: TestProject, args: string[], status = 0, env: NodeJS.ProcessEnv = {}): CliResult {
  const r = lockstep(p.dir, args, env);
  expect(r.status, `lockstep ${args.join(' ')}\n${show(r)}`).toBe(status);
  return r;
}

function json<T>(p: TestProject, args: string[], status = 0): T {
  const r = run(p, [...args, '--output', 'json'], status);
  return JSON.parse(r.stdout) as T;
}

function createRelease(p: TestProject, versions: Record<string, string>, extra: string[] = []): ReleaseRecord {
  const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
  return json<{ created: boolean; release: ReleaseRecord }>(p, ['release', 'create', ...set, ...extra]).release;
}

type HistoryEntry = PromotionRecord & { steps: StepRecord[] };
interface EnvStatus {
  environment: string;
  release?: string;
  activePromotion?: PromotionRecord | null;
  components: ComponentState[];
}

describe('lockstep release', () => {
  it('creates a release from --set and --message; names every component without a version (exit 2); --from fills the rest', () => {
    const p = newProject();
    const missing = run(p, ['release', 'create', '--set', 'db=1'], 2);
    expect(missing.stderr).toMatch(/no version for api, web\b/);
    const unknown = run(p, ['release', 'create', '--set', 'db=1', '--set', 'api=1', '--set', 'web=1', '--set', 'cache=1'], 2);
    expect(unknown.stderr).toMatch(/unknown components: cache/);
    expect(json<ReleaseRecord[]>(p, ['release', 'list'])).toEqual([]);

    const text = run(p, ['release', 'create', '--set', 'db=1', '--set', 'api=1', '--set', 'web=1', '--message', 'checkout v1']);
    const [list] = [json<ReleaseRecord[]>(p, ['release', 'list'])];
    expect(list).toHaveLength(1);
    const first = list[0]!;
    expect(text.stdout).toContain(`created release ${first.id}`);
    expect(first).toMatchObject({ project: 'shop', versions: { db: '1', api: '1', web: '1' }, message: 'checkout v1', createdBy: 'tester@example.com' });
    expect(first.id).toMatch(/^[0-9a-f]{64}$/);

    // The same versions are the same release.
    const again = json<{ created: boolean; release: ReleaseRecord }>(p, ['release', 'create', '--set', 'web=1', '--set', 'api=1', '--set', 'db=1']);
    expect(again).toMatchObject({ created: false, release: { id: first.id } });

    run(p, ['promote', first.id, '--to', 'dev']);
    const fromDev = createRelease(p, { api: '2' }, ['--from', 'dev']);
    expect(fromDev.versions).toEqual({ db: '1', api: '2', web: '1' });
    expect(fromDev.from).toBe('dev');

    // staging runs nothing yet: --from staging cannot fill anything in.
    const empty = run(p, ['release', 'create', '--from', 'staging', '--set', 'api=3'], 2);
    expect(empty.stderr).toMatch(/no version for db, web \(staging runs none of them\)/);
    const badEnv = run(p, ['release', 'create', '--from', 'qa', '--set', 'api=3'], 2);
    expect(badEnv.stderr).toMatch(/unknown environment: qa/);
  });

  it('accepts an id prefix of 7 or more characters, rejects a shorter one (exit 2); list and show in JSON', () => {
    const p = newProject();
    const r1 = createRelease(p, { db: '1', api: '1', web: '1' }, ['--message', 'one']);
    const r2 = createRelease(p, { db: '1', api: '2', web: '1' });

    const list = json<ReleaseRecord[]>(p, ['release', 'list']);
    expect(list.map((r) => r.id)).toEqual([r2.id, r1.id]);

    for (const length of [7, 12, 64]) {
      const shown = json<{ release: ReleaseRecord; promotions: PromotionRecord[] }>(p, ['release', 'show', r1.id.slice(0, length)]);
      expect(shown.release).toEqual(r1);
      expect(shown.promotions).toEqual([]);
    }
    expect(run(p, ['release', 'show', r1.id.slice(0, 7).toUpperCase()]).stdout).toContain(r1.id);
    for (const cmd of [['release', 'show'], ['plan'], ['promote']]) {
      const short = run(p, [...cmd, r1.id.slice(0, 6), ...(cmd[0] === 'release' ? [] : ['--to', 'dev'])], 2);
      expect(short.stderr, cmd.join(' ')).toMatch(/at least 7 characters/);
    }
    const nowhere = run(p, ['release', 'show', 'fffffff'], 2);
    expect(nowhere.stderr).toMatch(/fffffff/);
    expect(p.applies()).toEqual([]);

    run(p, ['promote', r1.id.slice(0, 7), '--to', 'dev']);
    const shown = json<{ release: ReleaseRecord; promotions: PromotionRecord[] }>(p, ['release', 'show', r1.id.slice(0, 9)]);
    expect(shown.promotions.map((x) => [x.environment, x.state])).toEqual([['dev', 'succeeded']]);
  });
});

describe('lockstep plan', () => {
  it('--output json: steps with from/to version, action, reversible, dependsOn and level; levels; gates; and nothing runs', () => {
    const p = newProject();
    const r1 = createRelease(p, { db: '1', api: '1', web: '1' });
    run(p, ['promote', r1.id, '--to', 'dev']);
    const r2 = createRelease(p, { db: '1', api: '2', web: '1' });
    const applies = p.applies();

    const plan = json<PromotionPlan>(p, ['plan', r2.id.slice(0, 7), '--to', 'dev']);
    expect(plan.releaseId).toBe(r2.id);
    expect(plan.environment).toBe('dev');
    const byName = Object.fromEntries(plan.steps.map((s) => [s.component, s]));
    expect(Object.keys(byName).sort()).toEqual(['api', 'db', 'web']);
    expect(byName.api).toMatchObject({ fromVersion: '1', toVersion: '2', action: 'apply', reversible: true, dependsOn: ['db'], level: 1 });
    expect(byName.db).toMatchObject({ fromVersion: '1', toVersion: '1', action: 'unchanged', reversible: false, dependsOn: [], level: 0 });
    expect(byName.web).toMatchObject({ fromVersion: '1', toVersion: '1', action: 'unchanged', reversible: true, dependsOn: [], level: 0 });
    expect(plan.levels.map((l) => [...l].sort())).toEqual([['db', 'web'], ['api']]);
    expect(plan.gates).toEqual([]);
    expect(plan.digest).toMatch(/^[0-9a-f]{64}$/);

    // staging comes after dev, where r2 has not run: the plan shows the gate blocked.
    const toStaging = json<PromotionPlan>(p, ['plan', r2.id, '--to', 'staging']);
    expect(toStaging.gates.map((g) => [g.gate, g.status])).toEqual([['promotion-path', 'blocked']]);
    expect(toStaging.gates[0]?.message).toMatch(/\bdev\b/);
    expect(toStaging.steps.every((s) => s.action === 'apply' && s.fromVersion === undefined)).toBe(true);
    const passed = json<PromotionPlan>(p, ['plan', r1.id, '--to', 'staging']);
    expect(passed.gates.map((g) => [g.gate, g.status])).toEqual([['promotion-path', 'passed']]);

    expect(p.applies()).toEqual(applies);
    const unknownEnv = run(p, ['plan', r2.id, '--to', 'qa'], 2);
    expect(unknownEnv.stderr).toMatch(/unknown environment qa/);
  });
});

describe('lockstep promote', () => {
  it('exit 0 when every step succeeds; exit 3 naming the environment a release has not been through', () => {
    const p = newProject();
    const r1 = createRelease(p, { db: '1', api: '1', web: '1' });

    const early = run(p, ['promote', r1.id.slice(0, 7), '--to', 'staging'], 3);
    expect(early.stderr).toMatch(/not succeeded in dev\b/);
    expect(p.applies()).toEqual([]);
    expect(json<HistoryEntry[]>(p, ['history', '--env', 'staging'])).toEqual([]);

    const dev = run(p, ['promote', r1.id.slice(0, 7), '--to', 'dev']);
    expect(dev.stdout).toMatch(/SUCCEEDED/);
    for (const c of ['db', 'api', 'web']) expect(p.running('dev', c)).toBe('1');

    run(p, ['promote', r1.id.slice(0, 7), '--to', 'staging']);
    for (const c of ['db', 'api', 'web']) expect(p.running('staging', c)).toBe('1');

    // Promoted again: nothing to apply, still a success.
    const before = p.applies().length;
    run(p, ['promote', r1.id, '--to', 'dev']);
    const [again] = json<HistoryEntry[]>(p, ['history', '--env', 'dev', '--limit', '1']);
    expect(again?.state).toBe('succeeded');
    expect(again?.steps.map((s) => s.state)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(p.applies()).toHaveLength(before);
  });

  it('--output json: stdout is one JSON document, the promotion and its steps (progress does not mix in)', () => {
    const p = newProject();
    const r1 = createRelease(p, { db: '1', api: '1', web: '1' });
    const r = run(p, ['promote', r1.id, '--to', 'dev', '--output', 'json']);
    let result: { promotion: PromotionRecord; steps: StepRecord[] } | undefined;
    expect(() => (result = JSON.parse(r.stdout) as typeof result), `stdout is not JSON:\n${r.stdout.slice(0, 400)}`).not.toThrow();
    expect(result?.promotion).toMatchObject({ releaseId: r1.id, environment: 'dev', state: 'succeeded' });
    expect(result?.steps.map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  it('a failing verify: exit 1, the summary names what was rolled back and what stays forward-only', () => {
    const p = newProject();
    const r1 = createRelease(p, { db: '1', api: '1', web: '1' });
    run(p, ['promote', r1.id, '--to', 'dev']);
    // check.sh fails for versions ending in -broken.
    const r2 = createRelease(p, { db: '2', api: '2-broken', web: '2' });
    const failed = run(p, ['promote', r2.id, '--to', 'dev'], 1);
    expect(failed.stdout).toMatch(/FAILED/);
    expect(failed.stdout).toMatch(/rolled back: [^\n;]*\bapi\b/);
    expect(failed.stdout).toMatch(/rolled back: [^\n;]*\bweb\b/);
    expect(failed.stdout).toMatch(/forward-only\): db\b/);
    expect(failed.stdout).toMatch(/unhealthy: 2-broken/);
    expect(p.running('dev', 'api')).toBe('1');
    expect(p.running('dev', 'web')).toBe('1');
    expect(p.running('dev', 'db')).toBe('2');

    const [last] = json<HistoryEntry[]>(p, ['history', '--env', 'dev']);
    expect(last?.state).toBe('failed');
    expect(Object.fromEntries(last!.steps.map((s) => [s.component, s.state]))).toEqual({ db: 'succeeded', api: 'rolled-back', web: 'rolled-back' });
  });

  it('a busy environment: exit 4 naming the running promotion and who started it', async () => {
    const p = newProject();
    const r1 = createRelease(p, { db: '1', api: '1', web: '1' });
    const r2 = createRelease(p, { db: '1', api: '2', web: '1' });

    const first = lockstepAsync(p.dir, ['promote', r1.id, '--to', 'dev', '--actor', 'alice@example.com'], { STEP_SLEEP: '1' });
    let out = '';
    first.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    first.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(first, 'exit');
    try {
      let active: PromotionRecord | undefined;
      for (let i = 0; i < 100 && !active; i++) {
        const [dev] = json<EnvStatus[]>(p, ['status', '--env', 'dev']);
        active = dev?.activePromotion ?? undefined;
        if (!active) await new Promise((res) => setTimeout(res, 50));
      }
      expect(active, `the first promotion never showed as active:\n${out}`).toBeDefined();
      expect(active!.requestedBy).toBe('alice@example.com');

      const second = run(p, ['promote', r2.id, '--to', 'dev'], 4);
      expect(second.stderr).toMatch(/busy/);
      expect(second.stderr).toContain(active!.id.slice(0, 12));
      expect(second.stderr).toContain('alice@example.com');
    } finally {
      const [code] = (await exited) as [number | null];
      expect(code, out).toBe(0);
    }
    // The refused promotion left no trace; the first one finished.
    const history = json<HistoryEntry[]>(p, ['history', '--env', 'dev']);
    expect(history.map((h) => [h.releaseId, h.state, h.requestedBy])).toEqual([[r1.id, 'succeeded', 'alice@example.com']]);
    expect(json<EnvStatus[]>(p, ['status', '--env', 'dev'])[0]?.activePromotion ?? undefined).toBeUndefined();
  });
});

describe('lockstep status, history and rollback', () => {
  it('show what runs where and what happened; rollback --env puts the previous release back, recorded as a rollback', () => {
    const p = newProject();
    const r1 = createRelease(p, { db: '1', api: '1', web: '1' });
    const r2 = createRelease(p, { db: '1', api: '2', web: '2' });
    run(p, ['promote', r1.id, '--to', 'dev']);
    run(p, ['promote', r2.id, '--to', 'dev']);

    const status = json<EnvStatus[]>(p, ['status']);
    expect(status.map((s) => s.environment)).toEqual(['dev', 'staging']);
    const [dev, staging] = status;
    expect(dev?.release).toBe(r2.id);
    expect(dev?.activePromotion ?? undefined).toBeUndefined();
    expect(Object.fromEntries(dev!.components.map((c) => [c.component, c.version]))).toEqual({ db: '1', api: '2', web: '2' });
    expect(staging?.release).toBeUndefined();
    expect(staging?.components).toEqual([]);
    expect(run(p, ['status', '--env', 'qa'], 2).stderr).toMatch(/unknown environment qa/);

    const history = json<HistoryEntry[]>(p, ['history']);
    expect(history.map((h) => [h.releaseId, h.environment, h.kind, h.state])).toEqual([
      [r2.id, 'dev', 'promotion', 'succeeded'],
      [r1.id, 'dev', 'promotion', 'succeeded'],
    ]);
    expect(history[0]!.steps.map((s) => [s.component, s.state]).sort()).toEqual([['api', 'succeeded'], ['db', 'unchanged'], ['web', 'succeeded']]);

    const apiSteps = json<StepRecord[]>(p, ['history', '--component', 'api']);
    expect(apiSteps.map((s) => [s.component, s.fromVersion, s.toVersion, s.state])).toEqual([
      ['api', '1', '2', 'succeeded'],
      ['api', undefined, '1', 'succeeded'],
    ]);
    expect(run(p, ['history', '--component', 'api']).stdout).toMatch(/1 → 2/);

    const rollback = run(p, ['rollback', '--env', 'dev']);
    expect(rollback.stdout).toContain(`rolling dev back to release ${r1.id.slice(0, 12)}`);
    expect(p.running('dev', 'api')).toBe('1');
    expect(p.running('dev', 'web')).toBe('1');

    const after = json<HistoryEntry[]>(p, ['history', '--env', 'dev']);
    expect(after[0]).toMatchObject({ kind: 'rollback', state: 'succeeded', releaseId: r1.id, rollbackOf: history[0]!.id });
    expect(json<EnvStatus[]>(p, ['status', '--env', 'dev'])[0]?.release).toBe(r1.id);
    expect(run(p, ['history', '--env', 'dev']).stdout).toMatch(/rollback\s+succeeded/);

    const nothing = run(p, ['rollback', '--env', 'staging'], 2);
    expect(nothing.stderr).toMatch(/nothing has been promoted to staging/);
  });
});

describe('lockstep --version and --help', () => {
  it('--version prints the version in package.json; --help and promote --help show examples', () => {
    const p = newProject();
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(run(p, ['--version']).stdout.trim()).toBe(pkg.version);
    expect(run(p, ['-V']).stdout.trim()).toBe(pkg.version);
    expect(run(p, ['--help']).stdout).toContain('Examples');
    const promote = run(p, ['promote', '--help']).stdout;
    expect(promote).toContain('Examples');
    expect(promote).toMatch(/--to <env>/);
    expect(run(p, ['no-such-command'], 2).stderr).toMatch(/unknown command/);
  });
});
