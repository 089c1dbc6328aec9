import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionRecord, ReleaseRecord, StepRecord } from '../../src/core/model.js';
import { lockstep, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// billing fails its health check; the rollback of infra is then refused by its rollback command;
// schema is forward-only. What failed first must stay the cause, whatever the rollback did after it.
const CONFIG = `project: shop
environments:
  dev: {}
components:
  infra:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      rollback: ["./refuse.sh"]
  schema:
${commandComponent({ rollback: false })}
  billing:
${commandComponent({ dependsOn: ['infra'] })}
`;

const REFUSE_SH = `#!/bin/sh
echo "state lock held by run 77" >&2
exit 3
`;

const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function run(p: TestProject, args: string[], status: number): CliResult {
  const r = lockstep(p.dir, args);
  expect(r.status, `lockstep ${args.join(' ')}\nexit ${String(r.status)}\n${r.stdout}\n${r.stderr}`).toBe(status);
  return r;
}

function release(p: TestProject, versions: Record<string, string>): string {
  const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
  return (JSON.parse(run(p, ['release', 'create', ...set, '-o', 'json'], 0).stdout) as { release: ReleaseRecord }).release.id;
}

describe('a failed promotion whose rollback is refused names the first failure, then what the rollback did', () => {
  it('in the result, history (text and json), status and the promotion.finished audit entry', () => {
    const p = testProject(CONFIG);
    projects.push(p);
    p.write('refuse.sh', REFUSE_SH, true);
    run(p, ['promote', release(p, { infra: '1', schema: '1', billing: '1' }), '--to', 'dev'], 0);
    const result = run(p, ['promote', release(p, { infra: '2', schema: '2', billing: '2-broken' }), '--to', 'dev'], 1);

    const health = 'verify: ./check.sh exited with code 1: unhealthy: 2-broken';
    const line = result.stdout.split('\n').find((l) => l.startsWith('Promotion ') && l.includes('FAILED')) ?? '';
    // The cause comes first, then the rollback's outcome, each with its reason.
    expect(line).toMatch(/FAILED: billing failed in verify: \.\/check\.sh exited with code 1: unhealthy: 2-broken; /);
    expect(line).not.toMatch(/infra failed/);
    expect(line).toMatch(/rolled back: billing\b/);
    expect(line).toMatch(/rollback failed: infra \(still at 2\): \.\/refuse\.sh exited with code 3: state lock held by run 77/);
    expect(line).toMatch(/left at the new version \(forward-only\): schema/);
    expect(line.indexOf('billing failed')).toBeLessThan(line.indexOf('rolled back'));

    const [last] = JSON.parse(run(p, ['history', '--env', 'dev', '-o', 'json'], 0).stdout) as (PromotionRecord & { steps: StepRecord[] })[];
    expect(last?.failure).toMatchObject({ component: 'billing', phase: 'verify', error: health });
    expect(last?.reason).toBe(line.replace(/^Promotion \w+ FAILED: /, ''));
    const steps = Object.fromEntries((last?.steps ?? []).map((s) => [s.component, s]));
    expect(steps.billing).toMatchObject({ state: 'rolled-back', error: health });
    // infra's own steps succeeded: the refused rollback is its rollbackError, not an apply error.
    expect(steps.infra?.error).toBeUndefined();
    expect(steps.infra).toMatchObject({ state: 'rollback-failed', rollbackError: expect.stringContaining('state lock held by run 77') as unknown });

    const history = run(p, ['history', '--env', 'dev'], 0).stdout;
    expect(history).toContain(`billing failed in verify: ./check.sh exited with code 1: unhealthy: 2-broken`);
    const status = run(p, ['status', '--env', 'dev'], 0).stdout;
    expect(status).toContain('billing failed in verify');
    expect(status).toContain('rollback failed: infra');

    const entries = run(p, ['audit', 'export'], 0).stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    const finished = entries.filter((e) => e.kind === 'promotion.finished').at(-1);
    expect(finished?.data).toMatchObject({
      state: 'failed',
      failure: { component: 'billing', phase: 'verify', error: health },
      failed: ['billing'],
      rolledBack: ['billing'],
      rollbackFailed: ['infra'],
      rollbackErrors: { infra: expect.stringContaining('state lock held by run 77') as unknown },
      leftAtNewVersion: ['schema'],
    });
  });

  it('when the failed step\'s own rollback is refused, its error stays the cause and both reasons are shown', () => {
    const p = testProject(`project: shop
environments:
  dev: {}
components:
  billing:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      verify: ["./check.sh"]
      rollback: ["./refuse.sh"]
`);
    projects.push(p);
    p.write('refuse.sh', REFUSE_SH, true);
    run(p, ['promote', release(p, { billing: '1' }), '--to', 'dev'], 0);
    const result = run(p, ['promote', release(p, { billing: '2-broken' }), '--to', 'dev'], 1);
    expect(result.stdout).toMatch(/FAILED: billing failed in verify: \.\/check\.sh exited with code 1: unhealthy: 2-broken; rollback failed: billing \(not back at 1\): \.\/refuse\.sh exited with code 3: state lock held by run 77$/m);
    // The summary row says both: why the step failed, then why its rollback did.
    expect(result.stdout).toMatch(/^billing +rollback-failed .*verify: \.\/check\.sh exited with code 1: unhealthy: 2-broken; then rollback failed: \.\/refuse\.sh exited with code 3/m);
    const finished = run(p, ['audit', 'export'], 0).stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry).filter((e) => e.kind === 'promotion.finished').at(-1);
    expect(finished?.data).toMatchObject({ failure: { component: 'billing', phase: 'verify' }, failed: ['billing'], rollbackFailed: ['billing'] });
  });
});
