import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReleaseRecord } from '../../src/core/model.js';
import { lockstep, lockstepAsync, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// `promote --wait` in one process; the approval that completes the gates, given in another, runs the
// promotion there. The waiting process must follow it to its end and exit with its outcome.
const CONFIG = `project: shop
environments:
  prod:
    gates:
      approvals: { count: 1, from: [bob@example.com] }
components:
  db:
${commandComponent()}
  api:
${commandComponent({ dependsOn: ['db'] })}
`;

const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function release(p: TestProject, api: string): string {
  const r = lockstep(p.dir, ['release', 'create', '--set', 'db=1', '--set', `api=${api}`, '-o', 'json']);
  expect(r.status, show(r)).toBe(0);
  return (JSON.parse(r.stdout) as { release: ReleaseRecord }).release.id;
}

/**
 * Starts `promote --wait` as alice, approves as bob in a second process once it waits (the approval
 * runs the promotion, each step sleeping STEP_SLEEP seconds), and returns what both printed.
 */
async function waitAndApprove(p: TestProject, releaseId: string): Promise<{ waiter: CliResult; approver: CliResult }> {
  const waiter = lockstepAsync(p.dir, ['promote', releaseId, '--to', 'prod', '--wait', '--actor', 'alice@example.com']);
  let stdout = '';
  let stderr = '';
  waiter.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  waiter.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(waiter, 'exit');
  try {
    for (let i = 0; i < 600 && !/ waiting: /.test(stdout); i++) await new Promise((res) => setTimeout(res, 50));
    expect(stdout, `promote --wait never said it was waiting:\n${stdout}\n${stderr}`).toMatch(/ waiting: /);
    const id = /lockstep approve ([0-9a-f]{12})/.exec(stdout)?.[1] ?? '';
    const approver = lockstep(p.dir, ['approve', id, '--comment', 'ok', '--actor', 'bob@example.com'], { STEP_SLEEP: '1' });
    const [code] = (await exited) as [number | null];
    return { waiter: { status: code, stdout, stderr }, approver };
  } finally {
    if (waiter.exitCode === null) waiter.kill('SIGKILL');
  }
}

describe('promote --wait follows a promotion that another process runs', () => {
  it('exits 0 when the approver\'s process succeeds, printing the steps as they go and the summary', async () => {
    const p = testProject(CONFIG);
    projects.push(p);
    const { waiter, approver } = await waitAndApprove(p, release(p, '2'));
    expect(approver.status, show(approver)).toBe(0);
    expect(waiter.status, show(waiter)).toBe(0);
    // Progress while the other process ran it: each step's states, then the same summary as promote.
    expect(waiter.stdout).toMatch(/is being run by process \d+ on /);
    expect(waiter.stdout).toMatch(/^\d\d:\d\d:\d\d db +succeeded/m);
    expect(waiter.stdout).toMatch(/^\d\d:\d\d:\d\d api +\| deployed api 2$/m);
    expect(waiter.stdout).toMatch(/Promotion [0-9a-f]{12} SUCCEEDED/);
    expect(p.running('prod', 'api')).toBe('2');
  });

  it('exits 1 with the cause when the approver\'s process fails', async () => {
    const p = testProject(CONFIG);
    projects.push(p);
    const { waiter, approver } = await waitAndApprove(p, release(p, '2-broken'));
    expect(approver.status, show(approver)).toBe(1);
    expect(waiter.status, show(waiter)).toBe(1);
    expect(waiter.stdout).toMatch(/Promotion [0-9a-f]{12} FAILED: api failed in verify: .*unhealthy: 2-broken/);
  });

  it('exits 1 naming lockstep resume when the process running the promotion dies before the end', async () => {
    const p = testProject(CONFIG);
    projects.push(p);
    const waiter = lockstepAsync(p.dir, ['promote', release(p, '2'), '--to', 'prod', '--wait', '--actor', 'alice@example.com']);
    let stdout = '';
    let stderr = '';
    waiter.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    waiter.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(waiter, 'exit');
    try {
      for (let i = 0; i < 600 && !/ waiting: /.test(stdout); i++) await new Promise((res) => setTimeout(res, 50));
      const id = /lockstep approve ([0-9a-f]{12})/.exec(stdout)?.[1] ?? '';
      expect(id, stdout + stderr).not.toBe('');
      const running = lockstepAsync(p.dir, ['approve', id, '--comment', 'ok', '--actor', 'bob@example.com'], { STEP_SLEEP: '5' });
      const killed = once(running, 'exit');
      for (let i = 0; i < 600 && !/is being run by process/.test(stdout); i++) await new Promise((res) => setTimeout(res, 50));
      expect(stdout).toMatch(/is being run by process \d+ on /);
      running.kill('SIGKILL');
      await killed;
      const [code] = (await exited) as [number | null];
      expect(code, `${stdout}\n${stderr}`).toBe(1);
      expect(stderr).toContain(`stopped before it ended; continue it with: lockstep resume ${id}`);
    } finally {
      if (waiter.exitCode === null && waiter.signalCode === null) waiter.kill('SIGKILL');
    }
  });
});
