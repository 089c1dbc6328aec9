import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { lockstep, requireBuild } from '../helpers/cli.js';
import { POSTGRES_URL } from '../helpers/database-urls.js';
import { GATED_SH, until } from '../helpers/gated-project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';
import { startPgCluster } from '../helpers/pg-cluster.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Several `lockstep serve` replicas on one PostgreSQL state (a schema of each test's own): the built
// CLI in its own processes, real HTTP, real PostgreSQL, real step commands that wait for files the
// test writes, so every kill and pause lands while a step surely runs. Nothing here measures time:
// how fast replicas wake each other is a figure of `npm run bench`.

const SECRET = randomBytes(32).toString('hex');

const gated = (dependsOn?: string): string =>
  [
    '    type: command',
    ...(dependsOn ? [`    dependsOn: [${dependsOn}]`] : []),
    '    with:',
    '      apply: ["./gated.sh", "${{ version }}"]',
    '      rollback: ["./gated.sh", "${{ previousVersion }}"]',
  ].join('\n');

const CONFIG = `project: shop
environments:
  dev: {}
  prod:
    after: [dev]
    gates:
      approvals: { count: 1, from: [bob@example.com] }
components:
  a:
${gated()}
  b:
${gated('a')}
  c:
${gated('b')}
`;

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

interface Setup {
  project: TestProject;
  state: string;
  token: string;
  open(component: string, version: string): void;
  serve(args?: string[], env?: NodeJS.ProcessEnv): Promise<ServeProcess>;
  api<T>(server: ServeProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }>;
  audit(promotionId?: string): Promise<AuditEntry[]>;
  promotions(environment: string): Promise<PromotionRecord[]>;
}

const servers: ServeProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => requireBuild());
afterEach(async (context) => {
  // What the servers said, when a test failed: the reason is usually there.
  if (context.task.result?.state === 'fail') for (const s of servers) process.stderr.write(`--- lockstep serve ${s.url}\n${s.stderr()}\n`);
  for (const s of servers.splice(0)) {
    // A paused one must be able to die.
    if (s.child.exitCode === null) s.child.kill('SIGCONT');
    await stopServe(s);
  }
  for (const c of cleanups.splice(0)) await c();
});

async function setup(config = CONFIG, base = POSTGRES_URL): Promise<Setup> {
  const project = testProject(config);
  project.write('gated.sh', GATED_SH, true);
  mkdirSync(join(project.dir, 'gates'), { recursive: true });
  const schema = `lockstep_replicas_${randomBytes(5).toString('hex')}`;
  const url = new URL(base);
  url.searchParams.set('schema', schema);
  const state = url.toString();
  cleanups.push(() => project.cleanup());
  if (base === POSTGRES_URL) cleanups.push(() => admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => undefined));
  const env = { LOCKSTEP_STATE: state, LOCKSTEP_SERVER_SECRET: SECRET };
  const created = lockstep(project.dir, ['token', 'create', '--name', 'alice-ci', '--for', 'alice@example.com', '--role', 'releaser', '-o', 'json'], {
    ...env,
    LOCKSTEP_ACTOR: 'admin@example.com',
  });
  expect(created.status, created.stderr).toBe(0);
  const token = (JSON.parse(created.stdout) as { token: string }).token;
  const store = await PostgresStore.connect(base, { schema });
  cleanups.unshift(() => store.close());
  return {
    project,
    state,
    token,
    open: (component, version) => writeFileSync(join(project.dir, 'gates', `${component}-${version}`), ''),
    async serve(args = [], extra = {}) {
      const s = await startServe(project.dir, args, { ...env, ...extra });
      servers.push(s);
      return s;
    },
    async api<T>(server: ServeProcess, method: string, path: string, body?: unknown) {
      const response = await fetch(`${server.url}/api/v1/projects/shop${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as T };
    },
    async promotions(environment) {
      return store.listPromotions({ environment });
    },
    async audit(promotionId) {
      const entries = await store.auditPage(0, 100_000);
      return promotionId === undefined ? entries : entries.filter((e) => e.promotionId === promotionId);
    },
  };
}

async function release(s: Setup, server: ServeProcess, version: string): Promise<string> {
  const created = await s.api<{ release: ReleaseRecord }>(server, 'POST', '/releases', { set: ['a', 'b', 'c'].map((c) => `${c}=${version}`) });
  expect(created.status).toBe(201);
  return created.json.release.id;
}

async function promote(s: Setup, server: ServeProcess, releaseId: string, to: string): Promise<PromotionRecord> {
  const started = await s.api<{ promotion: PromotionRecord }>(server, 'POST', '/promotions', { release: releaseId, to });
  expect(started.status).toBe(202);
  return started.json.promotion;
}

async function promotionState(s: Setup, server: ServeProcess, id: string): Promise<PromotionRecord> {
  return (await s.api<{ promotion: PromotionRecord }>(server, 'GET', `/promotions/${id}`)).json.promotion;
}

const finished = (s: Setup, server: ServeProcess, id: string) => async () => {
  const p = await promotionState(s, server, id);
  return ['succeeded', 'failed', 'rolled-back', 'cancelled', 'interrupted'].includes(p.state) ? p : undefined;
};

function openAll(s: Setup, version: string): void {
  for (const c of ['a', 'b', 'c']) s.open(c, version);
}

/** Reads an SSE stream into `events` until `signal` aborts. */
function readEvents(url: string, token: string, signal: AbortSignal, events: { event: string; data: Record<string, unknown> }[]): void {
  void (async () => {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = /^event: (.*)$/m.exec(message)?.[1];
        const data = /^data: (.*)$/m.exec(message)?.[1];
        if (kind !== undefined && data !== undefined) events.push({ event: kind, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
  })().catch(() => undefined);
}

describe('lockstep serve replicas on one PostgreSQL state', () => {
  it('refuses to start without the server secret, naming it', async () => {
    const s = await setup();
    await expect(s.serve([], { LOCKSTEP_SERVER_SECRET: '' })).rejects.toThrow(/LOCKSTEP_SERVER_SECRET/);
    await expect(s.serve([], { LOCKSTEP_SERVER_SECRET: 'short' })).rejects.toThrow(/LOCKSTEP_SERVER_SECRET is 5 characters long/);
  });

  it('any replica answers for any promotion, and the event stream of one shows, live, the audit entries and log lines of a promotion another runs', async () => {
    const s = await setup();
    const [a, b] = [await s.serve(), await s.serve()];
    const events: { event: string; data: Record<string, unknown> }[] = [];
    const streaming = new AbortController();
    cleanups.push(() => streaming.abort());
    readEvents(`${b.url}/api/v1/projects/shop/events?after=now`, s.token, streaming.signal, events);

    const id = (await promote(s, a, await release(s, a, '1.0.0'), 'dev')).id;
    // B answers for it (from the store), and B's stream carries what A commits while A runs it.
    await until('b to show a running', async () => ((await promotionState(s, b, id)).state === 'running' ? true : undefined));
    await until("B's stream to carry a's start", () => (events.some((e) => e.data.kind === 'step.started' && e.data.component === 'a') ? true : undefined));
    openAll(s, '1.0.0');
    const done = await until('the promotion to finish', finished(s, b, id));
    expect(done.state).toBe('succeeded');
    await until("B's stream to carry the end and the steps' output", () =>
      events.some((e) => e.data.kind === 'promotion.finished') && events.some((e) => e.event === 'log' && String(e.data.line).includes('deployed c 1.0.0')) ? true : undefined,
    );
    const owners = new Set((await s.audit(id)).filter((e) => e.kind === 'promotion.started').map((e) => e.actor));
    expect(owners.size).toBe(1);
    expect(s.project.applies()).toEqual(['apply a 1.0.0', 'apply b 1.0.0', 'apply c 1.0.0']);
  });

  it('a promotion requested on one replica of three and pending an approval, approved by the CLI straight on the database (which then runs it), is started once: no replica starts it too', async () => {
    const s = await setup();
    const replicas = [await s.serve(), await s.serve(), await s.serve()];
    openAll(s, '2.0.0');
    const releaseId = await release(s, replicas[0]!, '2.0.0');
    const dev = await promote(s, replicas[0]!, releaseId, 'dev');
    expect((await until('dev to finish', finished(s, replicas[1]!, dev.id))).state).toBe('succeeded');
    const prod = await promote(s, replicas[0]!, releaseId, 'prod');
    expect(prod.state).toBe('pending');

    const approved = lockstep(s.project.dir, ['approve', prod.id, '--actor', 'bob@example.com'], { LOCKSTEP_STATE: s.state, LOCKSTEP_SERVER_SECRET: SECRET });
    expect(approved.status, approved.stderr).toBe(0);
    const done = await until('prod to finish', finished(s, replicas[2]!, prod.id));
    expect(done.state).toBe('succeeded');
    const kinds = (await s.audit(prod.id)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'promotion.started')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'step.started')).toHaveLength(3);
    expect(s.project.applies().filter((l) => l.endsWith('2.0.0'))).toEqual(['apply a 2.0.0', 'apply b 2.0.0', 'apply c 2.0.0', 'apply a 2.0.0', 'apply b 2.0.0', 'apply c 2.0.0']);
  });

  it('a pending promotion whose soak time passes is started by one replica of three, its gate decisions recorded once', async () => {
    const s = await setup(CONFIG.replace('      approvals: { count: 1, from: [bob@example.com] }', '      soak: 3s'));
    const replicas = [await s.serve(), await s.serve(), await s.serve()];
    openAll(s, '8.0.0');
    const releaseId = await release(s, replicas[0]!, '8.0.0');
    const dev = await promote(s, replicas[0]!, releaseId, 'dev');
    expect((await until('dev to finish', finished(s, replicas[1]!, dev.id))).state).toBe('succeeded');
    const prod = await promote(s, replicas[0]!, releaseId, 'prod');
    expect(prod.state).toBe('pending');
    const done = await until('prod to finish', finished(s, replicas[2]!, prod.id));
    expect(done.state).toBe('succeeded');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const audit = await s.audit(prod.id);
    expect(audit.filter((e) => e.kind === 'promotion.started')).toHaveLength(1);
    expect(audit.filter((e) => e.kind === 'gate.passed' && e.data.gate === 'soak')).toHaveLength(1);
    expect(audit.filter((e) => e.kind === 'step.started')).toHaveLength(3);
  });

  it('an automatic promotion is made once by three replicas woken at once, explained once, with no error noise', async () => {
    const s = await setup(CONFIG.replace('  prod:', '  qa:\n    after: [dev]\n    gates: { auto: true }\n  prod:'));
    const replicas = [await s.serve(), await s.serve(), await s.serve()];
    openAll(s, '5.0.0');
    const dev = await promote(s, replicas[0]!, await release(s, replicas[0]!, '5.0.0'), 'dev');
    expect((await until('dev to finish', finished(s, replicas[1]!, dev.id))).state).toBe('succeeded');
    const qa = await until('the auto-promotion to qa', async () => (await s.promotions('qa'))[0]);
    expect((await until('qa to finish', finished(s, replicas[2]!, qa.id))).state).toBe('succeeded');
    // Give the other replicas every chance to make a second one: a few worker rounds.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await s.promotions('qa')).toHaveLength(1);
    const explained = (await s.audit()).filter((e) => e.kind === 'gate.passed' && e.environment === 'qa' && e.data.gate === 'auto');
    expect(explained).toHaveLength(1);
    const logs = replicas.map((r) => r.stderr());
    expect(logs.filter((l) => /auto-promotion [0-9a-f]{12}/.test(l))).toHaveLength(1);
    for (const l of logs) expect(l).not.toMatch(/busy|already|failed/);
    expect(s.project.applies().filter((l) => l.endsWith('5.0.0'))).toHaveLength(6);
  });

  it('notifications: three replicas send each event once, whichever sends it', async () => {
    const receiver = await new WebhookReceiver().start();
    cleanups.push(() => receiver.close());
    const s = await setup(`${CONFIG}notify:\n  - name: hook\n    url: ${receiver.url('/hook')}\n    format: json\n`);
    const replicas = [await s.serve(), await s.serve(), await s.serve()];
    openAll(s, '7.0.0');
    const releaseId = await release(s, replicas[0]!, '7.0.0');
    const ids: string[] = [];
    for (const r of replicas) {
      const p = await promote(s, r, releaseId, 'dev');
      ids.push(p.id);
      await until('the promotion to finish', finished(s, r, p.id));
    }
    // Every audit entry a json target is sent (all events by default) reaches it; wait until the
    // last promotion's end has, then give the replicas a few more rounds to send anything twice.
    await until('the last promotion.finished to be delivered', () =>
      receiver.acknowledged('/hook').some((r) => r.event === 'promotion.finished' && r.body.includes(ids[2]!)) ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const deliveries = receiver.acknowledged('/hook').map((r) => r.deliveryId);
    expect(deliveries.length).toBeGreaterThanOrEqual(3);
    expect(new Set(deliveries).size).toBe(deliveries.length);
    const finishedEvents = receiver.acknowledged('/hook').filter((r) => r.event === 'promotion.finished');
    expect(finishedEvents).toHaveLength(3);
  });

  it('SIGKILL: another replica takes the promotion over (on one host as soon as the pid is gone; across hosts once the lease runs out, as the SIGSTOP test shows), records the takeover, and carries it on as resume would, each step applied once', async () => {
    const s = await setup();
    const first = await s.serve(['--lease', '2s']);
    const id = (await promote(s, first, await release(s, first, '3.0.0'), 'dev')).id;
    await until('a to be applying', () => (s.project.applies().includes('apply a 3.0.0') ? true : undefined));
    const second = await s.serve(['--lease', '2s']);
    first.child.kill('SIGKILL');
    await first.exited;

    const taken = await until('the takeover', async () => (await s.audit(id)).find((e) => e.kind === 'promotion.taken-over'));
    expect(taken.data).toMatchObject({ previous: { pid: first.child.pid }, state: 'running' });
    expect(typeof taken.data.orphanedMs).toBe('number');
    openAll(s, '3.0.0');
    const done = await until('the promotion to finish', finished(s, second, id));
    expect(done.state).toBe('succeeded');
    expect(s.project.applies()).toEqual(['apply a 3.0.0', 'apply b 3.0.0', 'apply c 3.0.0']);
    const verified = lockstep(s.project.dir, ['audit', 'verify'], { LOCKSTEP_STATE: s.state });
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
  });

  it('SIGSTOP past the lease: another replica takes over; the paused one, resumed, has its late commits refused by the fence and applies nothing more', async () => {
    const s = await setup();
    const first = await s.serve(['--lease', '2s']);
    const id = (await promote(s, first, await release(s, first, '4.0.0'), 'dev')).id;
    await until('a to be applying', () => (s.project.applies().includes('apply a 4.0.0') ? true : undefined));
    const second = await s.serve(['--lease', '2s']);
    first.child.kill('SIGSTOP');
    await until('the takeover', async () => (await s.audit(id)).find((e) => e.kind === 'promotion.taken-over'));
    // The new owner waits for a's command (still running: it was not paused), then runs b.
    s.open('a', '4.0.0');
    await until('b to be applying', () => (s.project.applies().includes('apply b 4.0.0') ? true : undefined));
    const before = (await s.audit(id)).length;

    first.child.kill('SIGCONT');
    await until('the paused replica to find its claim gone', () => (/no longer owned by this process/.test(first.stderr()) ? true : undefined));
    s.open('b', '4.0.0');
    s.open('c', '4.0.0');
    const done = await until('the promotion to finish', finished(s, second, id));
    expect(done.state).toBe('succeeded');
    expect(s.project.applies()).toEqual(['apply a 4.0.0', 'apply b 4.0.0', 'apply c 4.0.0']);
    // Every entry after the resume is the new owner's: the paused one recorded nothing.
    const after = (await s.audit(id)).slice(before);
    expect(after.length).toBeGreaterThan(0);
    const starters = new Set((await s.audit(id)).filter((e) => e.kind === 'step.started').map((e) => e.component));
    expect([...starters].sort()).toEqual(['a', 'b', 'c']);
    expect(first.child.exitCode).toBeNull();
    const verified = lockstep(s.project.dir, ['audit', 'verify'], { LOCKSTEP_STATE: s.state });
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
  });

  it('PostgreSQL unreachable mid-promotion: readyz says not ready, the server stays up, the promotion pauses and carries on once PostgreSQL is back, nothing lost, nothing applied twice', async () => {
    const cluster = await startPgCluster();
    cleanups.push(() => cluster.destroy());
    const s = await setup(CONFIG, cluster.url());
    const server = await s.serve(['--lease', '2s']);
    const id = (await promote(s, server, await release(s, server, '6.0.0'), 'dev')).id;
    await until('a to be applying', () => (s.project.applies().includes('apply a 6.0.0') ? true : undefined));

    cluster.stop();
    const ready = await until('readyz to say not ready', async () => {
      const r = await fetch(`${server.url}/readyz`);
      return r.status === 503 ? ((await r.json()) as { projects: Record<string, { store: string }> }) : undefined;
    });
    expect(ready.projects.shop?.store).toBe('unreachable');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const read = await s.api<{ error: { code: string; message: string } }>(server, 'GET', `/promotions/${id}`);
    expect(read).toMatchObject({ status: 503, json: { error: { code: 'store-unavailable' } } });
    // a finishes while its commit cannot land: the commit waits (retried), it is not a failure.
    s.open('a', '6.0.0');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(server.child.exitCode).toBeNull();

    cluster.start();
    await until('readyz to say ready again', async () => ((await fetch(`${server.url}/readyz`)).status === 200 ? true : undefined));
    s.open('b', '6.0.0');
    s.open('c', '6.0.0');
    const done = await until('the promotion to finish', finished(s, server, id));
    expect(done.state).toBe('succeeded');
    expect(s.project.applies()).toEqual(['apply a 6.0.0', 'apply b 6.0.0', 'apply c 6.0.0']);
    const kinds = (await s.audit(id)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'step.failed')).toEqual([]);
    expect(kinds.filter((k) => k === 'step.succeeded')).toHaveLength(3);
    const verified = lockstep(s.project.dir, ['audit', 'verify'], { LOCKSTEP_STATE: s.state });
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
  });
});
