import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PromotionRecord, ReleaseRecord, StepRecord } from '../../src/core/model.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { gatedProject, until, type GatedProject } from '../helpers/gated-project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

// Stopping `lockstep serve` mid-promotion, as Kubernetes does (SIGTERM, then SIGKILL after its grace
// period), and starting another on the same project: the built CLI in its own processes, real HTTP,
// real SQLite, real step commands. The steps wait for files the test writes (gated-project.ts), so
// every stop lands while a step surely runs; nothing here measures time.

let project: GatedProject | undefined;
const servers: ServeProcess[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await stopServe(s);
  project?.cleanup();
  project = undefined;
});

async function serve(p: GatedProject, args: string[] = []): Promise<ServeProcess> {
  const s = await startServe(p.dir, args);
  servers.push(s);
  return s;
}

async function api<T>(server: ServeProcess, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(`${server.url}/api/v1/projects/shop${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as T };
}

/** Creates release a=b=c=VERSION and promotes it to dev through the server; returns the promotion. */
async function promote(server: ServeProcess, token: string, version: string): Promise<PromotionRecord> {
  const created = await api<{ release: ReleaseRecord }>(server, token, 'POST', '/releases', { set: ['a', 'b', 'c'].map((c) => `${c}=${version}`) });
  expect(created.status).toBe(201);
  const started = await api<{ promotion: PromotionRecord }>(server, token, 'POST', '/promotions', { release: created.json.release.id, to: 'dev' });
  expect(started.status).toBe(202);
  return started.json.promotion;
}

/** The project's state as it is on disk, read without the server. */
async function onDisk(p: GatedProject, id: string): Promise<{ promotion: PromotionRecord; steps: Map<string, StepRecord>; kinds: string[]; handedBack: Record<string, unknown>[] }> {
  const store = SqliteStore.open(join(p.dir, '.lockstep', 'state.db'), { readonly: true });
  try {
    const audit = (await store.auditPage(0, 10_000)).filter((e) => e.promotionId === id);
    return {
      promotion: await store.getPromotion(id),
      steps: new Map((await store.listSteps(id)).map((s) => [s.component, s])),
      kinds: audit.map((e) => e.kind),
      handedBack: audit.filter((e) => e.kind === 'promotion.handed-back').map((e) => e.data),
    };
  } finally {
    await store.close();
  }
}

const applying = (p: GatedProject, line: string) => () => (p.applies().includes(line) ? true : undefined);

describe('lockstep serve: shutdown', () => {
  it('SIGTERM mid-promotion: readyz says draining, writes are refused, the running step ends and lands, the promotion is handed back and the server exits 0; the next server carries it on, each component applied once', async () => {
    const p = (project = gatedProject());
    const token = await p.token();
    const first = await serve(p, ['--drain-timeout', '2m']);
    const promotion = await promote(first, token, '2.0.0');
    await until('a to be applying', applying(p, 'apply a 2.0.0'));

    first.child.kill('SIGTERM');
    const ready = await until('readyz to say draining', async () => {
      const r = await fetch(`${first.url}/readyz`);
      return r.status === 503 ? ((await r.json()) as Record<string, unknown>) : undefined;
    });
    expect(ready).toMatchObject({ ready: false, draining: true });
    const refused = await api<{ error: { code: string } }>(first, token, 'POST', '/releases', { set: ['a=3.0.0', 'b=3.0.0', 'c=3.0.0'] });
    expect(refused).toMatchObject({ status: 503, json: { error: { code: 'shutting-down' } } });
    // Reads are still answered: the promotion runs on, owned by this server.
    const during = await api<{ promotion: PromotionRecord }>(first, token, 'GET', `/promotions/${promotion.id}`);
    expect(during.json.promotion.owner?.pid).toBe(first.child.pid);

    p.open('a', '2.0.0');
    const [code, signal] = await first.exited;
    expect({ code, signal }, first.stderr()).toEqual({ code: 0, signal: null });
    expect(first.stderr()).toContain(`shop: handed back promotion ${promotion.id.slice(0, 12)} (dev, running); the next server`);

    // a's commit landed; b never started; nobody owns the promotion and nothing failed.
    const left = await onDisk(p, promotion.id);
    expect(left.promotion.state).toBe('running');
    expect(left.promotion.owner).toBeUndefined();
    expect([...left.steps.values()].map((s) => [s.component, s.state])).toEqual([['a', 'succeeded'], ['b', 'pending'], ['c', 'pending']]);
    expect(left.handedBack).toEqual([expect.objectContaining({ stillRunning: [], pending: ['b', 'c'], pid: first.child.pid })]);
    expect(p.running('dev', 'a')).toBe('2.0.0');

    p.open('b', '2.0.0');
    p.open('c', '2.0.0');
    const second = await serve(p);
    const done = await until('the promotion to end', async () => {
      const r = await api<{ promotion: PromotionRecord }>(second, token, 'GET', `/promotions/${promotion.id}`);
      return ['succeeded', 'failed', 'interrupted'].includes(r.json.promotion.state) ? r.json.promotion : undefined;
    });
    expect(done.state).toBe('succeeded');
    expect(second.stderr()).toContain(`promotion ${promotion.id.slice(0, 12)} (dev) was handed back running by a process that is gone: resuming it`);
    expect(p.applies()).toEqual(['apply a 2.0.0', 'apply b 2.0.0', 'apply c 2.0.0']);
    const after = await onDisk(p, promotion.id);
    expect(after.kinds.filter((k) => k.startsWith('promotion.'))).toEqual([
      'promotion.requested',
      'promotion.started',
      'promotion.handed-back',
      'promotion.finished',
    ]);
    second.child.kill('SIGTERM');
    expect((await second.exited)[0]).toBe(0);
  }, 90_000);

  it('drain time up with a step still running: handed back anyway, exit 0; the next server waits for that step’s command instead of running it again', async () => {
    const p = (project = gatedProject());
    const token = await p.token();
    const first = await serve(p, ['--drain-timeout', '200ms']);
    const promotion = await promote(first, token, '2.0.0');
    await until('a to be applying', applying(p, 'apply a 2.0.0'));

    first.child.kill('SIGTERM');
    const [code] = await first.exited;
    expect(code, first.stderr()).toBe(0);
    expect(first.stderr()).toMatch(/drain time \(200ms\) is up: handing back 1 promotion\(s\) whose steps still run/);
    expect(first.stderr()).toContain(`handed back promotion ${promotion.id.slice(0, 12)} (dev, running) with a still running: the next owner recovers them as after a crash`);
    const left = await onDisk(p, promotion.id);
    expect(left.promotion).toMatchObject({ state: 'running' });
    expect(left.promotion.owner).toBeUndefined();
    expect(left.steps.get('a')).toMatchObject({ state: 'running', phase: 'apply' });
    expect(left.handedBack).toEqual([expect.objectContaining({ stillRunning: ['a'], pending: ['b', 'c'] })]);

    // a's command outlived the server: the next one attaches to it and waits.
    p.open('b', '2.0.0');
    p.open('c', '2.0.0');
    const second = await serve(p);
    await until('the next server to take the promotion', async () => {
      const r = await api<{ promotion: PromotionRecord }>(second, token, 'GET', `/promotions/${promotion.id}`);
      return r.json.promotion.owner?.pid === second.child.pid ? true : undefined;
    });
    p.open('a', '2.0.0');
    const done = await until('the promotion to end', async () => {
      const r = await api<{ promotion: PromotionRecord }>(second, token, 'GET', `/promotions/${promotion.id}`);
      return ['succeeded', 'failed', 'interrupted'].includes(r.json.promotion.state) ? r.json.promotion : undefined;
    });
    expect(done.state).toBe('succeeded');
    expect(p.applies()).toEqual(['apply a 2.0.0', 'apply b 2.0.0', 'apply c 2.0.0']);
    const logs = await api<{ component: string; line: string }[]>(second, token, 'GET', `/promotions/${promotion.id}/logs?component=a`);
    // Waited for, or (had it ended just before) read back: either way not run again.
    expect(logs.json.map((l) => l.line).join('\n')).toMatch(/recovering: its apply command (is still running: waiting for it|had finished: taking its recorded result)/);
  }, 90_000);

  for (const how of ['a second SIGTERM', 'SIGKILL'] as const) {
    it(`${how} mid-promotion exits at once, handing nothing back; the next server on the same project carries it on, applying nothing twice`, async () => {
      const p = (project = gatedProject());
      const token = await p.token();
      const first = await serve(p, ['--drain-timeout', '2m']);
      const promotion = await promote(first, token, '2.0.0');
      await until('a to be applying', applying(p, 'apply a 2.0.0'));

      if (how === 'SIGKILL') first.child.kill('SIGKILL');
      else {
        first.child.kill('SIGTERM');
        await until('the server to drain', async () => ((await fetch(`${first.url}/readyz`)).status === 503 ? true : undefined));
        first.child.kill('SIGTERM');
      }
      const [code, signal] = await first.exited;
      // a's gate is still closed: the server did not wait for the step.
      expect(how === 'SIGKILL' ? signal : code, first.stderr()).toBe(how === 'SIGKILL' ? 'SIGKILL' : 1);
      const left = await onDisk(p, promotion.id);
      expect(left.promotion.owner?.pid).toBe(first.child.pid);
      expect(left.handedBack).toEqual([]);

      p.open('a', '2.0.0');
      p.open('b', '2.0.0');
      p.open('c', '2.0.0');
      const second = await serve(p);
      const done = await until('the promotion to end', async () => {
        const r = await api<{ promotion: PromotionRecord }>(second, token, 'GET', `/promotions/${promotion.id}`);
        return ['succeeded', 'failed', 'interrupted'].includes(r.json.promotion.state) ? r.json.promotion : undefined;
      });
      expect(done.state).toBe('succeeded');
      expect(second.stderr()).toContain('was left running by a process that is gone: resuming it');
      expect(p.applies()).toEqual(['apply a 2.0.0', 'apply b 2.0.0', 'apply c 2.0.0']);
    }, 90_000);
  }
});
