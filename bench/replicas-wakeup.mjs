// Benchmark: replicas woken by LISTEN/NOTIFY. Two real `lockstep serve` processes on one PostgreSQL
// state (a fresh schema of the machine's server, dropped afterwards), driven over HTTP:
// - approve → start: a promotion requested on replica A and pending an approval is approved on
//   replica B; ms from the approval's audit entry to the promotion's start entry (target: 100 ms);
// - cross-replica event stream: ms from a commit made through A (its response) to the entry arriving
//   on B's event stream, against the same on A's own stream measured in the same run (the baseline),
//   and against the 200 ms the stream polled before;
// - hand-back → carried on elsewhere: replica A is stopped (SIGTERM) while a promotion's first step
//   runs; ms from A's hand-back entry to B's first entry for it, against the worker's 1 s round, which is
//   what B would wait for without a notice.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, FULL, log, median, must, percentile, removeDir, round, tempDir } from './lib.mjs';

const POSTGRES_URL = process.env.LOCKSTEP_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function serve(dir, env) {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--no-access-log'], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.once('exit', (code) => reject(new Error(`lockstep serve exited ${code} before listening`)));
  });
}

function token(dir, env, name, role) {
  const out = must(process.execPath, [CLI, 'token', 'create', '--name', name, '--for', `${name}@example.com`, '--role', role, '-o', 'json'], { cwd: dir, env: { ...process.env, ...env, LOCKSTEP_ACTOR: 'admin@example.com' } });
  return JSON.parse(out).token;
}

async function call(server, bearer, method, path, body) {
  const response = await fetch(`${server.url}/api/v1/projects/bench${path}`, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Follows a server's event stream (audit entries); calls `onEntry(entry, arrivedAtMs)` for each. */
function follow(server, bearer, signal, onEntry) {
  void (async () => {
    const response = await fetch(`${server.url}/api/v1/projects/bench/events?after=now&kinds=audit`, { headers: { Authorization: `Bearer ${bearer}` }, signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const now = performance.timeOrigin + performance.now();
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
        buffer = buffer.slice(end + 2);
        if (data !== undefined) onEntry(JSON.parse(data), now);
      }
    }
  })().catch(() => undefined);
}

async function waitFor(probe) {
  for (let i = 0; i < 600; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('gave up waiting');
}

export async function benchReplicasWakeup() {
  const count = FULL ? 100 : 20;
  const pg = (await import('pg')).default;
  const schema = `lockstep_bench_${randomBytes(5).toString('hex')}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('schema', schema);
  const env = { LOCKSTEP_STATE: url.toString(), LOCKSTEP_SERVER_SECRET: randomBytes(32).toString('hex') };
  const dir = tempDir('replicas-wakeup');
  writeFileSync(
    join(dir, 'lockstep.yaml'),
    `project: bench
environments:
  dev: {}
  prod:
    gates:
      approvals: { count: 1, from: [bob@example.com] }
components:
  api:
    type: command
    with:
      apply: ["true"]
  slow:
    type: command
    with:
      apply: ["sleep", "0.3"]
  next:
    type: command
    dependsOn: [slow]
    with:
      apply: ["true"]
`,
  );
  const alice = token(dir, env, 'alice', 'releaser');
  const bob = token(dir, env, 'bob', 'approver');
  const servers = [];
  const abort = new AbortController();
  try {
    const a = await serve(dir, env);
    servers.push(a);
    const b = await serve(dir, env);
    servers.push(b);

    // Approve on B → the promotion starts: both times are the audit entries' own.
    const startMs = [];
    for (let i = 0; i < count; i++) {
      const { release } = await call(a, alice, 'POST', '/releases', { set: [`api=1.0.${i}`, `slow=1.0.${i}`, `next=1.0.${i}`] });
      const { promotion } = await call(a, alice, 'POST', '/promotions', { release: release.id, to: 'prod' });
      if (promotion.state !== 'pending') throw new Error(`expected a pending promotion, got ${promotion.state}`);
      await call(b, bob, 'POST', `/promotions/${promotion.id}/approve`, { comment: 'bench' });
      await waitFor(async () => ((await call(a, alice, 'GET', `/promotions/${promotion.id}`)).promotion.finishedAt === undefined ? undefined : true));
      const audit = await auditOf(pg, schema, promotion.id);
      const approved = audit.find((e) => e.kind === 'approval.given');
      const started = audit.find((e) => e.kind === 'promotion.started');
      if (!approved || !started) throw new Error('missing approval.given or promotion.started');
      startMs.push(Date.parse(started.time) - Date.parse(approved.time));
    }
    log(`replicas: approve on B → started, p50 ${round(median(startMs), 1)} ms`);

    // A commit through A, seen on A's own stream and on B's.
    const seen = { a: new Map(), b: new Map() };
    follow(a, alice, abort.signal, (entry, at) => entry.kind === 'release.created' && seen.a.set(entry.releaseId, at));
    follow(b, alice, abort.signal, (entry, at) => entry.kind === 'release.created' && seen.b.set(entry.releaseId, at));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const onA = [];
    const onB = [];
    for (let i = 0; i < count; i++) {
      const { release } = await call(a, alice, 'POST', '/releases', { set: [`api=2.0.${i}`, `slow=2.0.${i}`, `next=2.0.${i}`] });
      const answered = performance.timeOrigin + performance.now();
      const [atA, atB] = await waitFor(() => (seen.a.has(release.id) && seen.b.has(release.id) ? [seen.a.get(release.id), seen.b.get(release.id)] : undefined));
      onA.push(Math.max(0, atA - answered));
      onB.push(Math.max(0, atB - answered));
    }
    // Hand-back on A's shutdown → B carries it on.
    const handBackMs = [];
    const rounds = FULL ? 20 : 5;
    let owner = a;
    for (let i = 0; i < rounds; i++) {
      const { release } = await call(b, alice, 'POST', '/releases', { set: [`api=3.0.${i}`, `slow=3.0.${i}`, `next=3.0.${i}`] });
      const { promotion } = await call(owner, alice, 'POST', '/promotions', { release: release.id, to: 'dev' });
      owner.child.kill('SIGTERM');
      await new Promise((resolve) => owner.child.once('exit', resolve));
      await waitFor(async () => ((await call(b, alice, 'GET', `/promotions/${promotion.id}`)).promotion.finishedAt === undefined ? undefined : true));
      const audit = await auditOf(pg, schema, promotion.id);
      // The entry after the hand-back is the next owner's first (B's worker claims it and goes on).
      const at = audit.findIndex((e) => e.kind === 'promotion.handed-back');
      const handed = audit[at];
      const resumed = at >= 0 ? audit[at + 1] : undefined;
      if (handed && resumed) handBackMs.push(Date.parse(resumed.time) - Date.parse(handed.time));
      owner = await serve(dir, env);
      servers.push(owner);
    }
    const result = {
      handBackToResumedP50Ms: handBackMs.length > 0 ? round(median(handBackMs), 1) : null,
      handBackToResumedMaxMs: handBackMs.length > 0 ? round(Math.max(...handBackMs), 1) : null,
      handBacks: handBackMs.length,
      workerRoundMs: 1000,
      promotions: count,
      approveOnBToStartP50Ms: round(median(startMs), 1),
      approveOnBToStartP99Ms: round(percentile(startMs, 99), 1),
      approveToStartTargetMs: 100,
      streamOnOwnReplicaP50Ms: round(median(onA), 1),
      streamOnOtherReplicaP50Ms: round(median(onB), 1),
      streamOnOtherReplicaP99Ms: round(percentile(onB, 99), 1),
      streamPollBeforeMs: 200,
      otherOverOwnRatio: round(median(onB) / Math.max(median(onA), 0.1), 2),
    };
    log(`replicas: ${JSON.stringify(result)}`);
    return result;
  } finally {
    abort.abort();
    for (const s of servers) s.child.kill('SIGKILL');
    removeDir(dir);
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}

async function auditOf(pg, schema, promotionId) {
  const client = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT kind, time FROM audit_log WHERE promotion_id = $1 ORDER BY seq', [promotionId]);
    return rows;
  } finally {
    await client.end();
  }
}
