import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionRecord, ReleaseRecord, StepRecord } from '../../src/core/model.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { lockstep, lockstepAsync } from '../helpers/cli.js';
import { gatedProject, until, type GatedProject } from '../helpers/gated-project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

// Cancelling a running promotion: run by the server itself (the API reaches its runner at once), or
// by a `lockstep promote` in another terminal (it reads the cancel request at its next lease renewal).
// Built CLI processes, real HTTP, real SQLite, step commands that wait for files the test writes.

let project: GatedProject | undefined;
let server: ServeProcess | undefined;
let promoting: ChildProcess | undefined;
afterEach(async () => {
  await stopServe(server);
  server = undefined;
  if (promoting && promoting.exitCode === null && promoting.signalCode === null) {
    const exited = once(promoting, 'exit');
    promoting.kill('SIGKILL');
    await exited;
  }
  promoting = undefined;
  project?.cleanup();
  project = undefined;
});

/** dev runs a, b and c at 1.0.0 (promoted here, every gate of 1.0.0 open: a rollback to it finishes at once). */
function deployedAtOne(): GatedProject {
  const p = gatedProject();
  for (const c of ['a', 'b', 'c']) p.open(c, '1.0.0');
  const one = release(p, '1.0.0');
  const done = lockstep(p.dir, ['promote', one, '--to', 'dev']);
  expect(done.status, done.stderr).toBe(0);
  return p;
}

function release(p: GatedProject, version: string): string {
  const r = lockstep(p.dir, ['release', 'create', ...['a', 'b', 'c'].flatMap((c) => ['--set', `${c}=${version}`]), '-o', 'json']);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { release: ReleaseRecord }).release.id;
}

async function onDisk(p: GatedProject, id: string): Promise<{ promotion: PromotionRecord; steps: StepRecord[]; audit: AuditEntry[] }> {
  const store = SqliteStore.open(join(p.dir, '.lockstep', 'state.db'), { readonly: true });
  try {
    return {
      promotion: await store.getPromotion(id),
      steps: await store.listSteps(id),
      audit: (await store.auditPage(0, 10_000)).filter((e) => e.promotionId === id),
    };
  } finally {
    await store.close();
  }
}

/** The promotion of 2.0.0 a `lockstep promote` in its own process runs, once its first step is applying. */
async function promotedByCli(p: GatedProject): Promise<{ child: ChildProcess; id: string; exited: Promise<{ code: number | null; stdout: string }> }> {
  const two = release(p, '2.0.0');
  const child = lockstepAsync(p.dir, ['promote', two, '--to', 'dev']);
  promoting = child;
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = once(child, 'exit').then(([code]: unknown[]) => ({ code: code as number | null, stdout }));
  await until('a to be applying', () => (p.applies().includes('apply a 2.0.0') ? true : undefined));
  const promotion = await until('the promotion to be recorded', async () => {
    const store = SqliteStore.open(join(p.dir, '.lockstep', 'state.db'), { readonly: true });
    try {
      return (await store.listPromotions({ environment: 'dev', states: ['running'] }))[0];
    } finally {
      await store.close();
    }
  });
  expect(promotion.owner?.pid).toBe(child.pid);
  return { child, id: promotion.id, exited };
}

/** What every cancelled promotion here ends as: a stopped, then rolled back to 1.0.0; b and c never started. */
function expectRolledBack(state: { promotion: PromotionRecord; steps: StepRecord[] }, p: GatedProject, by: string, reason: string): void {
  expect(state.promotion.state).toBe('failed');
  expect(state.promotion.reason).toBe(`a failed in apply: cancelled by ${by}: ${reason}; rolled back: a`);
  expect(state.steps.map((s) => [s.component, s.state])).toEqual([['a', 'rolled-back'], ['b', 'skipped'], ['c', 'skipped']]);
  expect(p.running('dev', 'a')).toBe('1.0.0');
  // 2.0.0 of a started once and was stopped; its rollback is the second apply of 1.0.0.
  expect(p.applies()).toEqual(['apply a 1.0.0', 'apply b 1.0.0', 'apply c 1.0.0', 'apply a 2.0.0', 'apply a 1.0.0']);
}

describe('cancelling a running promotion', () => {
  it('run by the server, cancelled through the API: 202, its running step stops at once, its failure policy rolls back; the audit log names who asked and why', async () => {
    const p = (project = deployedAtOne());
    const token = await p.token();
    server = await startServe(p.dir);
    const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> => {
      const response = await fetch(`${server?.url ?? ''}/api/v1/projects/shop${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as T };
    };
    const two = release(p, '2.0.0');
    const started = await api<{ promotion: PromotionRecord }>('POST', '/promotions', { release: two, to: 'dev' });
    expect(started.status).toBe(202);
    const id = started.json.promotion.id;
    await until('a to be applying', () => (p.applies().includes('apply a 2.0.0') ? true : undefined));

    const cancelled = await api<{ promotion: PromotionRecord }>('POST', `/promotions/${id}/cancel`, { reason: 'wrong config' });
    expect(cancelled.status).toBe(202);
    expect(cancelled.json.promotion).toMatchObject({ id, state: 'running' });
    await until('the promotion to end', async () => {
      const state = (await api<{ promotion: PromotionRecord }>('GET', `/promotions/${id}`)).json.promotion.state;
      return ['failed', 'succeeded', 'interrupted'].includes(state) ? state : undefined;
    });
    const state = await onDisk(p, id);
    expectRolledBack(state, p, 'alice@example.com', 'wrong config');
    const requested = state.audit.filter((e) => e.kind === 'promotion.cancel-requested');
    expect(requested).toHaveLength(1);
    expect(requested[0]).toMatchObject({
      actor: 'alice@example.com',
      data: { reason: 'wrong config', identity: 'authenticated', token: 'alice-ci', owner: { pid: server.child.pid } },
    });
    expect(state.audit.find((e) => e.kind === 'step.failed')?.data).toMatchObject({ error: 'cancelled by alice@example.com: wrong config' });
    // Ended: nothing left to cancel.
    expect((await api('POST', `/promotions/${id}/cancel`, { reason: 'again' })).status).toBe(409);
  }, 90_000);

  it('run by `lockstep promote` in another terminal, cancelled with `lockstep cancel` here: that process stops its step at its next lease renewal and rolls back', async () => {
    const p = (project = deployedAtOne());
    const { child, id, exited } = await promotedByCli(p);

    const asked = lockstep(p.dir, ['cancel', id.slice(0, 12), '--reason', 'INC-1: wrong config']);
    expect(asked.status, asked.stderr).toBe(0);
    expect(asked.stdout).toContain(`Cancel requested for promotion ${id.slice(0, 12)} (running, run by process ${child.pid} on `);
    const { code, stdout } = await exited;
    expect(code).toBe(1);
    expect(stdout).toContain('cancelled by tester@example.com: INC-1: wrong config');
    const state = await onDisk(p, id);
    expectRolledBack(state, p, 'tester@example.com', 'INC-1: wrong config');
    const requested = state.audit.filter((e) => e.kind === 'promotion.cancel-requested');
    expect(requested).toHaveLength(1);
    expect(requested[0]).toMatchObject({ actor: 'tester@example.com', data: { reason: 'INC-1: wrong config', identity: 'claimed' } });
  }, 90_000);

  it('run by `lockstep promote` in another terminal, cancelled through a server on the same project (`lockstep cancel` as its client): the server records the request, the promoting process acts on it', async () => {
    const p = (project = deployedAtOne());
    const token = await p.token();
    server = await startServe(p.dir);
    const { child, id, exited } = await promotedByCli(p);

    const asked = lockstep(p.dir, ['cancel', id, '--reason', 'stop', '-o', 'json'], { LOCKSTEP_SERVER: server.url, LOCKSTEP_TOKEN: token });
    expect(asked.status, asked.stderr).toBe(0);
    const answer = JSON.parse(asked.stdout) as { promotion: PromotionRecord };
    expect(answer.promotion).toMatchObject({ id, state: 'running', owner: { pid: child.pid } });
    expect((await exited).code).toBe(1);
    const state = await onDisk(p, id);
    expectRolledBack(state, p, 'alice@example.com', 'stop');
    const requested = state.audit.filter((e) => e.kind === 'promotion.cancel-requested');
    expect(requested).toHaveLength(1);
    expect(requested[0]).toMatchObject({
      actor: 'alice@example.com',
      data: { reason: 'stop', identity: 'authenticated', token: 'alice-ci', owner: { pid: child.pid } },
    });
    // The server's worker never took the promotion over from its live owner.
    expect(state.audit.some((e) => e.kind === 'promotion.resumed')).toBe(false);
  }, 90_000);
});
