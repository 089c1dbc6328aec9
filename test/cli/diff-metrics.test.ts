import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoraMetrics } from '../../src/engine/dora.js';
import type { EnvironmentDiff, ReleaseDiff } from '../../src/engine/diff.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { createToken } from '../../src/engine/tokens.js';
import { lockstepAwait, type CliResult } from '../helpers/cli.js';
import { DIFF_CONFIG, IAM_SH, NEVER_SHOWN, SECRETS, stagingAheadOfProd } from '../helpers/diff-project.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

// `lockstep diff` and `lockstep metrics` as a user runs them: the built CLI on the project's files,
// and the built CLI as the client of `lockstep serve` in its own process (the secrets in the
// server's environment, none in the client's), run from a directory without a project. Both must
// print the same, and neither a secret.

let project: TestProject | undefined;
let server: ServeProcess | undefined;
let elsewhere = '';
let token = '';
let ids: { r1: string; r2: string; r3: string } = { r1: '', r2: '', r3: '' };
const printed: string[] = [];

beforeAll(async () => {
  project = testProject(DIFF_CONFIG);
  project.write('iam.sh', IAM_SH, true);
  const deps = await project.deps({ env: SECRETS });
  const { r1, r2 } = await stagingAheadOfProd(deps);
  // A failed change in staging (web's check fails), rolled back: staging is failing since.
  const r3 = (await createRelease(deps, { set: ['iam=2', 'api=2', 'web=2-broken'] })).release.id;
  expect((await promote(deps, r3, 'staging')).state).toBe('failed');
  ids = { r1, r2, r3 };
  token = (await createToken(deps, { name: 'admin@example.com', via: { kind: 'claimed' } }, { name: 'viewer-ci', for: 'victor@example.com' })).token;
  elsewhere = mkdtempSync(join(tmpdir(), 'lockstep-client-'));
  server = await startServe(project.dir, [], SECRETS);
}, 120_000);

afterAll(async () => {
  await stopServe(server);
  project?.cleanup();
  if (elsewhere) rmSync(elsewhere, { recursive: true, force: true });
  // Nothing either printed holds a secret or a sensitive output's value, or the token.
  const all = printed.join('\n');
  for (const secret of [...NEVER_SHOWN, token]) expect(all).not.toContain(secret);
});

async function local(args: string[]): Promise<CliResult> {
  const r = await lockstepAwait(project?.dir ?? '', args, { ...SECRETS, LOCKSTEP_SERVER: '', LOCKSTEP_TOKEN: '' });
  printed.push(r.stdout, r.stderr);
  return r;
}

async function client(args: string[]): Promise<CliResult> {
  const r = await lockstepAwait(elsewhere, args, { LOCKSTEP_SERVER: server?.url ?? '', LOCKSTEP_TOKEN: token, LOCKSTEP_PROJECT: 'shop' });
  printed.push(r.stdout, r.stderr);
  return r;
}

describe('lockstep diff', () => {
  it('two environments, locally and through a server: the same JSON; the text shows what differs and says what is the same', async () => {
    const here = await local(['diff', 'staging', 'prod', '-o', 'json']);
    expect(here.stderr).toBe('');
    expect(here.status).toBe(0);
    const d = JSON.parse(here.stdout) as EnvironmentDiff;
    expect(d.kind).toBe('environments');
    const api = d.components.find((c) => c.component === 'api');
    expect(api?.inputs.filter((i) => i.secret === true)).toEqual([
      { path: 'with.env.DB_URL', secret: true, changed: true },
      { path: 'with.env.SHARED', secret: true, changed: false },
      { path: 'with.env.TOKEN', secret: true, changed: true },
    ]);
    expect(d.gates.map((g) => g.path)).toEqual(['after', 'gates.policy.0.expr', 'gates.soak', 'onFailure']);
    // web's failed change was rolled back: it runs 1 in both again.
    expect(d.same).toEqual(['web']);

    const remote = await client(['diff', 'staging', 'prod', '-o', 'json']);
    expect(remote.stderr).toBe('');
    expect(remote.status).toBe(0);
    expect(JSON.parse(remote.stdout)).toEqual(d);

    const text = await local(['diff', 'staging', 'prod']);
    expect(text.status).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`staging (release ${ids.r2.slice(0, 12)})  vs  prod (release ${ids.r1.slice(0, 12)})`);
    expect(text.stdout).toMatch(/^ {2}onFailure +rollback +halt$/m);
    expect(text.stdout).toContain('api: 2 in staging, 1 in prod');
    expect(text.stdout).toMatch(/^ {4}with\.env\.DB_URL +\(secret\) +\(secret: changed\)$/m);
    expect(text.stdout).toMatch(/^ {4}with\.env\.SHARED +\(secret\) +\(secret: unchanged\)$/m);
    expect(text.stdout).toMatch(/^ {4}with\.env\.REGION +eu-west-1 +eu-central-1$/m);
    expect(text.stdout).toMatch(/^ {4}token +\(secret\) +\(secret: changed\)$/m);
    expect(lines.at(-2)).toBe('the same in both: web');
    expect((await client(['diff', 'staging', 'prod'])).stdout).toBe(text.stdout);
  });

  it('two releases by prefix; a release and an environment refused with exit 2, the same message through the server', async () => {
    const here = await local(['diff', ids.r1.slice(0, 8), ids.r2.slice(0, 8), '-o', 'json']);
    expect(here.status).toBe(0);
    const d = JSON.parse(here.stdout) as ReleaseDiff;
    expect(d.components.filter((c) => !c.same)).toEqual([
      { component: 'api', left: '1', right: '2', same: false },
      { component: 'iam', left: '1', right: '2', same: false },
    ]);
    expect(JSON.parse((await client(['diff', ids.r1.slice(0, 8), ids.r2.slice(0, 8), '-o', 'json'])).stdout)).toEqual(d);

    const mixed = await local(['diff', 'staging', ids.r1.slice(0, 8)]);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toContain(`lockstep: error: staging is an environment but ${ids.r1.slice(0, 8)} is not one`);
    const remote = await client(['diff', 'staging', ids.r1.slice(0, 8)]);
    expect(remote.status).toBe(2);
    expect(remote.stderr).toBe(mixed.stderr);
  });
});

describe('lockstep diff before anything was promoted', () => {
  it('says so per component, and nothing is the same', async () => {
    const fresh = testProject(DIFF_CONFIG);
    try {
      await fresh.deps(); // the state exists, empty
      const text = await lockstepAwait(fresh.dir, ['diff', 'staging', 'prod'], SECRETS);
      expect(text.stderr).toBe('');
      expect(text.status).toBe(0);
      expect(text.stdout).toContain('staging (nothing promoted yet)  vs  prod (nothing promoted yet)');
      for (const c of ['iam', 'api', 'web']) expect(text.stdout).toContain(`${c}: not deployed in either`);
      expect(text.stdout).toContain('no component is the same in both');
      const d = JSON.parse((await lockstepAwait(fresh.dir, ['diff', 'staging', 'prod', '-o', 'json'], SECRETS)).stdout) as EnvironmentDiff;
      expect(d.components.map((c) => [c.component, c.left, c.right, c.same])).toEqual([
        ['iam', {}, {}, false],
        ['api', {}, {}, false],
        ['web', {}, {}, false],
      ]);
    } finally {
      fresh.cleanup();
    }
  });
});

describe('lockstep metrics', () => {
  it('locally and through a server: the same figures; staging has a failed change and is failing', async () => {
    const here = await local(['metrics', '--since', '1d', '-o', 'json']);
    expect(here.stderr).toBe('');
    expect(here.status).toBe(0);
    const m = JSON.parse(here.stdout) as DoraMetrics;
    const staging = m.environments.find((e) => e.environment === 'staging');
    // Deployments r1, r2; changes r1, r2, r3 (failed): 1/3; nothing restored yet.
    expect(staging?.deploymentFrequency).toEqual({ count: 2, perDay: 2 });
    expect(staging?.changes).toEqual({ count: 3, failed: 1 });
    expect(staging?.changeFailureRate).toBeCloseTo(1 / 3, 10);
    expect(staging?.timeToRestore.failingSince).not.toBeNull();
    expect(staging?.reworkRate).toBe(0);
    const prod = m.environments.find((e) => e.environment === 'prod');
    expect(prod?.deploymentFrequency.count).toBe(1);
    expect(prod?.changeFailureRate).toBe(0);
    expect(prod?.leadTime.count).toBe(1);

    const remote = await client(['metrics', '--since', '1d', '-o', 'json']);
    expect(remote.stderr).toBe('');
    // The window ends at each one's now; the figures are the same.
    expect((JSON.parse(remote.stdout) as DoraMetrics).environments).toEqual(m.environments);

    const text = await client(['metrics', '--env', 'staging', '--component', 'web', '--since', '1d']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^staging +2 +2\.00 .* 33\.3% \(1\/3\) .* 0% \(0\/2\)$/m);
    // web changed in r1 (deployed) and r3 (failed); unchanged in r2.
    expect(text.stdout).toMatch(/^ +web +1 +1\.00 .* 50% \(1\/2\) .* 0% \(0\/1\)$/m);
    expect(text.stdout).toContain('staging: failing since ');

    const bad = await client(['metrics', '--since', 'forever']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('lockstep: error: --since takes a duration back from now, like 90d, 12h or 1d12h, not forever\n');
    expect((await local(['metrics', '--since', 'forever'])).stderr).toBe(bad.stderr);
  });
});
