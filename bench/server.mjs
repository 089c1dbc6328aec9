// Benchmark 7: the team server. A real `lockstep serve` process on loopback, driven over HTTP by this
// process: latency of status reads (GET /environments) under concurrent clients, against GET /healthz
// (no token, no store) under the same load as the baseline; and promote → first step started through
// the API, against promote() called in-process on the same kind of project, both measured here.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, FULL, log, median, must, percentile, removeDir, round, tempDir } from './lib.mjs';

const STEPS = 5;

function writeProject(dir) {
  const lines = ['project: bench', 'environments:', '  dev: {}', '  staging: { after: [dev] }', '  prod: { after: [staging] }', 'components:'];
  for (let i = 0; i < STEPS; i++) lines.push(`  s${i}:`, '    type: command', '    with:', '      apply: ["true"]');
  writeFileSync(join(dir, 'lockstep.yaml'), lines.join('\n') + '\n');
}

/** Starts `lockstep serve` on a free port; resolves with its URL once it says it listens. */
function serve(dir) {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--project', dir, ...(process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  // The server logs a line per request on stderr: read it, as a service manager does, or the pipe fills and the server waits on it.
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

/** `total` requests by `clients` concurrent clients; each request's latency in ms. */
async function load(clients, total, request) {
  const latencies = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        next++;
        const t0 = process.hrtime.bigint();
        const response = await request();
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { p50Ms: round(median(latencies), 2), p99Ms: round(percentile(latencies, 99), 2), perS: round(total / seconds, 0) };
}

/** promote() in-process on a fresh project: ms from the call to the first step running (the baseline). */
async function inProcessFirstStep(count) {
  const { openProject } = await import('../dist/cli/context.js');
  const { createRelease, promote } = await import('../dist/engine/promote.js');
  const dir = tempDir('server-baseline');
  writeProject(dir);
  let firstStepAt;
  const observer = { step: (s) => (s.state === 'running' && firstStepAt === undefined ? (firstStepAt = process.hrtime.bigint()) : undefined) };
  const deps = await openProject({ config: join(dir, 'lockstep.yaml'), state: join(dir, '.lockstep', 'state.db'), actor: 'bench', output: 'json' }, 'create', observer);
  try {
    const latencies = [];
    for (let i = 0; i < count; i++) {
      const { release } = await createRelease(deps, { set: Array.from({ length: STEPS }, (_, s) => `s${s}=${i + 1}`) });
      firstStepAt = undefined;
      const t0 = process.hrtime.bigint();
      await promote(deps, release.id, 'dev');
      latencies.push(Number(firstStepAt - t0) / 1e6);
    }
    return latencies;
  } finally {
    await deps.store.close();
    removeDir(dir);
  }
}

export async function benchServer() {
  const clients = 16;
  const reads = Number(process.env.BENCH_SERVER_READS ?? (FULL ? 20_000 : 4_000));
  const promotions = Number(process.env.BENCH_SERVER_PROMOTIONS ?? (FULL ? 200 : 40));
  const dir = tempDir('server');
  writeProject(dir);
  const token = JSON.parse(must(process.execPath, [CLI, 'token', 'create', '--name', 'bench', '--role', 'admin', '--output', 'json'], { cwd: dir })).token;
  const { child, url } = await serve(dir);
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const api = `${url}/api/v1/projects/bench`;
  try {
    log(`server: ${reads} reads by ${clients} clients, healthz then status`);
    const healthz = await load(clients, reads, () => fetch(`${url}/healthz`));
    const status = await load(clients, reads, () => fetch(`${api}/environments`, { headers }));

    log(`server: ${promotions} promotions through the API, promote → first step started`);
    const firstStep = [];
    for (let i = 0; i < promotions; i++) {
      const set = Array.from({ length: STEPS }, (_, s) => `s${s}=${i + 1}`);
      const { release } = await (await fetch(`${api}/releases`, { method: 'POST', headers, body: JSON.stringify({ set }) })).json();
      const t0 = Date.now();
      const { promotion } = await (await fetch(`${api}/promotions`, { method: 'POST', headers, body: JSON.stringify({ release: release.id, to: 'dev' }) })).json();
      // The step's own record says when it started (the server's clock: this machine's).
      for (;;) {
        const { promotion: p, steps } = await (await fetch(`${api}/promotions/${promotion.id}`, { headers })).json();
        const started = steps.map((s) => s.startedAt).filter(Boolean).sort()[0];
        if (started && ['succeeded', 'failed'].includes(p.state)) {
          firstStep.push(Date.parse(started) - t0);
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    log('server: the same promotions in-process (baseline)');
    const baseline = await inProcessFirstStep(promotions);
    const serverP50 = median(firstStep);
    const baselineP50 = median(baseline);
    return {
      clients,
      reads,
      healthz,
      status,
      statusVsHealthzP50: round(status.p50Ms / healthz.p50Ms, 2),
      promotions,
      firstStepP50Ms: round(serverP50, 1),
      firstStepP99Ms: round(percentile(firstStep, 99), 1),
      inProcessFirstStepP50Ms: round(baselineP50, 1),
      firstStepVsInProcess: round(serverP50 / Math.max(baselineP50, 0.1), 2),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    removeDir(dir);
  }
}
