// Several `lockstep serve` replicas on one PostgreSQL: the chaos run (replicas SIGKILLed and started
// again at random, PostgreSQL restarted under load, a replica paused past its lease) and the
// throughput figures (1 and 3 replicas on PostgreSQL against 1 server on SQLite, on the same DAG).
//
// Every promotion is a release of the six-step DAG below to one of four independent environments,
// requested through the API of a random live replica. Each step's command appends
// "PROMOTION COMPONENT" to started.log when it starts and to applied.log when its side effect is
// done, so counting lines says how often each step of each promotion ran.
//
// The rule the count is held to: every step of every succeeded promotion is in applied.log exactly
// once. The commands say `idempotent: true`, so a step whose apply was cut off before its command
// was recorded is run again without waiting for a person; the run journal (the command runs in a
// session of its own, recorded beside the state) means a command that was running or had finished
// when its replica died is waited for or read back, never run a second time. A second line is a
// finished apply applied again. Promotions left waiting on a person (interrupted) are listed with
// their reason; with idempotent commands there should be none.
//
// Used by `npm run bench` (BENCH_ONLY=replicas) and, at a small size, by test/server/chaos.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The server secret every replica of a run shares (at least 32 characters). */
const SERVER_SECRET = 'chaos-replicas-shared-secret-0123456789abcdef';

const CLI = fileURLToPath(new URL('../bin/lockstep.js', import.meta.url));

export const ENVIRONMENTS = ['eu', 'us', 'ap', 'qa'];

/** The DAG: net → db → (api → web, worker) → edge. */
export const COMPONENTS = { net: [], db: ['net'], api: ['db'], worker: ['db'], web: ['api'], edge: ['web', 'worker'] };

export const CONFIG = [
  'project: chaos',
  'environments:',
  ...ENVIRONMENTS.map((e) => `  ${e}: {}`),
  'components:',
  ...Object.entries(COMPONENTS).flatMap(([name, deps]) => [
    `  ${name}:`,
    '    type: command',
    ...(deps.length > 0 ? [`    dependsOn: [${deps.join(', ')}]`] : []),
    '    with: { apply: ["./step.sh"], idempotent: true }',
  ]),
  '',
].join('\n');

/** STEP_SLEEP seconds (NET_SLEEP for net, when set) between the start and the side effect: a kill can land inside. */
const STEP_SH = `#!/bin/sh
set -eu
echo "$LOCKSTEP_PROMOTION $LOCKSTEP_COMPONENT" >> started.log
s="\${STEP_SLEEP:-0}"
if [ "$LOCKSTEP_COMPONENT" = net ] && [ -n "\${NET_SLEEP:-}" ]; then s="$NET_SLEEP"; fi
if [ "$s" != 0 ]; then sleep "$s"; fi
echo "$LOCKSTEP_PROMOTION $LOCKSTEP_COMPONENT" >> applied.log
`;

const FINAL = ['succeeded', 'failed', 'rejected', 'cancelled'];

/** A deterministic pseudo-random sequence, so a run can be repeated from its seed. */
export function random(seed) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cli(dir, args, env = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, LOCKSTEP_ACTOR: 'chaos@example.com', ...env }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`lockstep ${args[0]} ${args[1] ?? ''} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A project directory for `state` (a PostgreSQL URL, or undefined for SQLite beside the config) and an admin token. */
export function makeProject(state) {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-replicas-'));
  writeFileSync(join(dir, 'lockstep.yaml'), CONFIG);
  writeFileSync(join(dir, 'step.sh'), STEP_SH);
  chmodSync(join(dir, 'step.sh'), 0o755);
  const stateArgs = state === undefined ? [] : ['--state', state];
  // Made here, before any replica starts: the state (and its schema) exists once, made by one process.
  const token = JSON.parse(cli(dir, ['token', 'create', '--name', 'chaos', '--role', 'admin', '--output', 'json', ...stateArgs])).token;
  return { dir, state, stateArgs, token, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One `lockstep serve` process; its log lines are kept with the time they arrived. */
async function startReplica(project, name, env, args) {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--project', project.dir, '--no-access-log', ...args, ...project.stateArgs], {
    cwd: project.dir,
    // Replicas on a PostgreSQL state share one server secret (docs/replicas.md#shared-keys).
    env: { ...process.env, LOCKSTEP_SERVER_SECRET: SERVER_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  createInterface({ input: child.stderr }).on('line', (line) => log.push({ at: Date.now(), line }));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const first = await Promise.race([
    new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    exited.then(({ code }) => `exited with ${code} before listening`),
  ]);
  const url = /^listening on (http:\/\/\S+)$/.exec(first)?.[1];
  if (!url) throw new Error(`replica ${name} did not start: ${first}\n${log.map((l) => l.line).join('\n')}`);
  return { name, child, pid: child.pid, url, log, exited, startedAt: Date.now() };
}

/**
 * `count` replicas of one project. Replicas are named r0, r1…; each start is a new process (a new
 * pid, a new port); every process ever started stays in `processes` (its log is read at the end).
 */
export class Replicas {
  /** `args`: more `lockstep serve` options, the same for every replica (`--lease`). */
  constructor(project, count, env = {}, args = []) {
    this.project = project;
    this.count = count;
    this.env = env;
    this.args = args;
    this.live = new Map();
    this.processes = [];
    this.paused = new Set();
  }

  async startAll() {
    for (let i = 0; i < this.count; i++) await this.start(`r${i}`);
  }

  async start(name) {
    const replica = await startReplica(this.project, name, this.env, this.args);
    this.live.set(name, replica);
    this.processes.push(replica);
    return replica;
  }

  /** A replica that answers requests (not paused), chosen with `next`, other than `not`. */
  pick(next, not) {
    const candidates = [...this.live.values()].filter((r) => !this.paused.has(r.name) && r.name !== not);
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(next() * candidates.length)];
  }

  async kill(name) {
    const replica = this.live.get(name);
    if (!replica) return undefined;
    this.live.delete(name);
    replica.child.kill('SIGKILL');
    await replica.exited;
    return replica;
  }

  async stopAll() {
    for (const name of [...this.live.keys()]) {
      const r = this.live.get(name);
      if (this.paused.has(name)) r.child.kill('SIGCONT');
      await this.kill(name);
    }
  }
}

/** Every error answer a replica gave but 409 (busy), with its path and error code: a replica whose store is unreachable says 503. */
export const errorAnswers = [];

/** One HTTP request to a replica; throws on a network failure or a timeout (the replica may be dead or paused). */
async function api(project, replica, method, path, body) {
  const response = await fetch(`${replica.url}/api/v1/projects/chaos${path}`, {
    method,
    headers: { Authorization: `Bearer ${project.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = { text };
  }
  if (response.status >= 400 && response.status !== 409) errorAnswers.push({ replica: replica.name, method, path: path.replace(/[0-9a-f]{32,}/g, ':id'), status: response.status, code: json?.error?.code, message: json?.error?.message ?? json?.text });
  return { status: response.status, json };
}

/** A read through `replica` that must answer 200; anything else throws, so that another replica is asked. */
async function read(project, replica, path) {
  const answer = await api(project, replica, 'GET', path);
  if (answer.status !== 200) throw new Error(`GET ${path}: HTTP ${answer.status}`);
  return answer.json;
}

/** Calls `request(replica)` on random live replicas until one answers (a dead or paused one is skipped). */
async function anyReplica(replicas, next, request, deadline) {
  for (;;) {
    const replica = replicas.pick(next);
    if (replica !== undefined) {
      try {
        return await request(replica);
      } catch {
        // Killed or paused under the request: another one answers.
      }
    }
    if (Date.now() > deadline) throw new Error('no replica answered before the deadline');
    await sleep(100);
  }
}

/**
 * Requests `perEnvironment` promotions to each environment, one after the other in each environment
 * (an environment runs one promotion at a time), all environments at once; each request goes to a
 * random live replica. Returns what became of each promotion requested.
 */
async function drive(project, replicas, next, perEnvironment, deadline, onRequested, pollMs = 150) {
  const promotions = [];
  let version = 0;
  await Promise.all(
    ENVIRONMENTS.map(async (environment) => {
      for (let i = 0; i < perEnvironment; i++) {
        const v = `${++version}.0.0`;
        const set = Object.keys(COMPONENTS).map((c) => `${c}=${v}`);
        const release = await anyReplica(replicas, next, async (r) => {
          const created = await api(project, r, 'POST', '/releases', { set });
          if (created.status !== 201) throw new Error(`release: ${created.status}`);
          return created.json.release.id;
        }, deadline);
        let promotion;
        while (promotion === undefined) {
          const replica = replicas.pick(next);
          if (replica === undefined) {
            await sleep(100);
            continue;
          }
          const requestedAt = Date.now();
          try {
            const answer = await api(project, replica, 'POST', '/promotions', { release, to: environment });
            if (answer.status === 202) promotion = { id: answer.json.promotion.id, environment, release, requestedOn: replica.name, requestedAt };
            // 409: busy (with this very promotion, when an earlier answer was lost); 5xx: the replica
            // could not reach the store (PostgreSQL restarting). Both: look it up, then ask again.
            else if (answer.status !== 409 && answer.status < 500) throw new Error(`promotion of ${release} to ${environment}: HTTP ${answer.status} ${JSON.stringify(answer.json)}`);
          } catch (error) {
            if (error instanceof Error && error.message.startsWith('promotion of')) throw error;
            // The replica died under the request: the promotion may be recorded all the same.
          }
          if (promotion === undefined) {
            const recorded = await anyReplica(replicas, next, (r) => read(project, r, `/promotions?env=${environment}&limit=20`), deadline);
            const mine = recorded.find((p) => p.releaseId === release);
            if (mine) promotion = { id: mine.id, environment, release, requestedOn: replica.name, requestedAt };
            else await sleep(200);
          }
          if (Date.now() > deadline) throw new Error(`could not request a promotion to ${environment} before the deadline`);
        }
        onRequested?.(promotion);
        for (;;) {
          const json = await anyReplica(replicas, next, (r) => read(project, r, `/promotions/${promotion.id}`), deadline);
          promotion.state = json.promotion.state;
          promotion.reason = json.promotion.reason;
          promotion.steps = json.steps;
          promotion.record = json.promotion;
          if (FINAL.includes(promotion.state)) break;
          // Waits on a person: nothing more can go to this environment until someone decides.
          if (promotion.state === 'interrupted') break;
          if (Date.now() > deadline) break;
          await sleep(pollMs);
        }
        promotions.push(promotion);
        if (promotion.state === 'interrupted' || !FINAL.includes(promotion.state)) return;
      }
    }),
  );
  return promotions;
}

function lines(file) {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

function countLines(file) {
  const counts = new Map();
  for (const line of lines(file)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

/** Every entry of the audit log, through the API of a live replica. */
async function auditEntries(project, replicas, next) {
  const text = await anyReplica(replicas, next, async (r) => {
    const response = await fetch(`${r.url}/api/v1/projects/chaos/audit/export`, { headers: { Authorization: `Bearer ${project.token}` }, signal: AbortSignal.timeout(60_000) });
    if (!response.ok) throw new Error(`audit export: ${response.status}`);
    return response.text();
  }, Date.now() + 60_000);
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/**
 * What the run left behind, checked: every promotion ended (or waits on a person), every step of a
 * succeeded promotion applied exactly once and none started twice, `lockstep audit verify` intact.
 * `problems` is empty when all holds.
 */
async function check(project, replicas, next, promotions, expected) {
  const problems = [];
  const applied = countLines(join(project.dir, 'applied.log'));
  const started = countLines(join(project.dir, 'started.log'));
  const waiting = [];
  let stepsApplied = 0;
  if (promotions.length !== expected) problems.push(`${promotions.length} promotions requested, ${expected} planned`);
  for (const p of promotions) {
    if (p.state === 'interrupted') waiting.push({ id: p.id, environment: p.environment, reason: p.reason });
    else if (p.state !== 'succeeded') problems.push(`promotion ${p.id.slice(0, 12)} (${p.environment}) ended ${p.state}: ${p.reason ?? ''}`);
    for (const c of Object.keys(COMPONENTS)) {
      const key = `${p.id} ${c}`;
      const n = applied.get(key) ?? 0;
      const step = p.steps?.find((s) => s.component === c);
      if (p.state === 'succeeded' && n !== 1) problems.push(`${c} of ${p.id.slice(0, 12)} (${p.environment}) applied ${n} times`);
      if (p.state === 'succeeded' && step?.state !== 'succeeded') problems.push(`${c} of ${p.id.slice(0, 12)} recorded ${step?.state}`);
      if (n > 1) problems.push(`${c} of ${p.id.slice(0, 12)} applied ${n} times`);
      if ((started.get(key) ?? 0) > 1) problems.push(`${c} of ${p.id.slice(0, 12)} started ${started.get(key)} times`);
      stepsApplied += n;
    }
  }
  const known = new Set(promotions.map((p) => p.id));
  for (const key of applied.keys()) if (!known.has(key.split(' ')[0])) problems.push(`a step of a promotion nobody requested was applied: ${key}`);
  const verify = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--output', 'json', ...project.stateArgs], { cwd: project.dir, encoding: 'utf8', env: { ...process.env, LOCKSTEP_ACTOR: 'chaos@example.com' } });
  let audit;
  try {
    audit = JSON.parse(verify.stdout);
  } catch {
    audit = { raw: verify.stdout + verify.stderr };
  }
  if (verify.status !== 0) problems.push(`lockstep audit verify exited ${verify.status}: ${verify.stdout}${verify.stderr}`);
  const entries = await auditEntries(project, replicas, next);
  return { problems, waiting, stepsApplied, audit, entries };
}

/**
 * Takeover after each kill: for every promotion the killed replica owned when it died, the time from
 * the kill to the moment another replica said it takes it over (its log line "promotion ID … was
 * left running by a process that is gone: resuming it", timed as it arrived), or to the first
 * `promotion.resumed` audit entry of that promotion after the kill, whichever came first. (A
 * promotion killed between two steps has no step to recover, so no audit entry of its own: the log
 * line is the one record of the takeover there.)
 */
function takeovers(kills, entries, processes, promotions) {
  // The victim's promotions were listed just before the kill: one that ended in between had nothing
  // left to take over (its recorded end is before the kill).
  const finishedAt = new Map(promotions.map((p) => [p.id, p.record?.finishedAt === undefined ? Infinity : Date.parse(p.record.finishedAt)]));
  const seen = [];
  for (const e of entries) if (e.kind === 'promotion.resumed') seen.push({ promotion: e.promotionId, at: Date.parse(e.time), by: 'audit' });
  for (const r of processes) {
    for (const { at, line } of r.log) {
      const m = /promotion ([0-9a-f]{12}) \(\S+\) was left \S+ by a process that is gone: resuming it/.exec(line);
      if (m) seen.push({ short: m[1], at, by: r.name });
    }
  }
  seen.sort((x, y) => x.at - y.at);
  return kills.map((k) => ({
    ...k,
    endedBeforeKill: k.owned.filter((id) => (finishedAt.get(id) ?? Infinity) < k.at),
    takeovers: k.owned.filter((id) => !((finishedAt.get(id) ?? Infinity) < k.at)).map((id) => {
      const first = seen.find((s) => (s.promotion === id || s.short === id.slice(0, 12)) && s.at >= k.at);
      return { promotion: id, ms: first === undefined ? undefined : first.at - k.at, by: first?.by };
    }),
  }));
}

/**
 * The next replica to kill, and the running promotions it owns (asked of the replicas, by pid): a
 * random one of those that run a promotion now, or of all when none does, so that most kills land
 * on work in progress.
 */
async function chooseVictim(project, replicas, next) {
  let running = [];
  try {
    const asked = replicas.pick(next);
    if (asked !== undefined) running = await read(project, asked, '/promotions?state=running&limit=100');
  } catch {
    // The replica asked died: a victim is chosen all the same.
  }
  const live = [...replicas.live.values()].filter((r) => !replicas.paused.has(r.name));
  const busy = live.filter((r) => running.some((p) => p.owner?.pid === r.pid));
  const from = busy.length > 0 ? busy : live;
  const victim = from[Math.floor(next() * from.length)];
  return victim === undefined ? undefined : { victim, owned: running.filter((p) => p.owner?.pid === victim.pid).map((p) => p.id) };
}

/**
 * The chaos run. `replicas` replicas on the PostgreSQL at `state`, `promotions` promotions (spread
 * evenly over the environments), a replica SIGKILLed every killEveryMs (± half) and started again
 * restartAfterMs later; `restartPostgres` (a function) is called once, when half the promotions are
 * requested. Resolves with the figures and the problems found.
 */
export async function chaosRun(options) {
  const { state, seed = 1, replicas: count = 3, promotions: total = 24, killEveryMs = 3000, restartAfterMs = 500, stepSleep = 0.2, leaseMs = 3000, restartPostgres, timeoutMs = 600_000 } = options;
  const next = random(seed);
  const project = makeProject(state);
  const replicas = new Replicas(project, count, { STEP_SLEEP: String(stepSleep) }, ['--lease', `${leaseMs}ms`]);
  const kills = [];
  errorAnswers.length = 0;
  let postgresRestart;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let driving = true;
  try {
    await replicas.startAll();
    const perEnvironment = Math.ceil(total / ENVIRONMENTS.length);
    let requested = 0;
    const chaos = (async () => {
      while (driving) {
        await sleep(killEveryMs * (0.5 + next()));
        if (!driving) break;
        if (replicas.live.size < 2) continue;
        const chosen = await chooseVictim(project, replicas, next);
        if (chosen === undefined) continue;
        const { victim, owned } = chosen;
        const at = Date.now();
        await replicas.kill(victim.name);
        kills.push({ replica: victim.name, pid: victim.pid, at, owned });
        await sleep(restartAfterMs);
        await replicas.start(victim.name);
      }
    })();
    const onRequested = () => {
      requested++;
      if (restartPostgres && postgresRestart === undefined && requested >= (perEnvironment * ENVIRONMENTS.length) / 2) {
        const t0 = Date.now();
        postgresRestart = { at: t0 };
        restartPostgres();
        postgresRestart.seconds = (Date.now() - t0) / 1000;
      }
    };
    const promotions = await drive(project, replicas, next, perEnvironment, deadline, onRequested);
    driving = false;
    await chaos;
    const seconds = (Date.now() - started) / 1000;
    const checked = await check(project, replicas, next, promotions, perEnvironment * ENVIRONMENTS.length);
    const perKill = takeovers(kills, checked.entries, replicas.processes, promotions);
    for (const k of perKill) for (const t of k.takeovers) if (t.ms === undefined) checked.problems.push(`promotion ${t.promotion.slice(0, 12)}, owned by killed ${k.replica} (pid ${k.pid}), was never taken over`);
    const times = perKill.flatMap((k) => k.takeovers.map((t) => t.ms)).filter((ms) => ms !== undefined);
    return {
      seed,
      replicas: count,
      promotions: promotions.length,
      succeeded: promotions.filter((p) => p.state === 'succeeded').length,
      waitingOnPerson: checked.waiting,
      stepsApplied: checked.stepsApplied,
      kills: perKill,
      takeoverMs: times,
      postgresRestart,
      errorAnswers: [...errorAnswers],
      auditVerify: checked.audit,
      auditEntries: checked.entries.length,
      seconds,
      problems: checked.problems,
      logs: replicas.processes.map((r) => ({ name: r.name, pid: r.pid, lines: r.log.map((l) => l.line) })),
      dir: project.dir,
    };
  } finally {
    driving = false;
    await replicas.stopAll();
    if (!options.keep) project.cleanup();
  }
}

/**
 * The partition: a replica that runs a promotion (a step's command mid-apply) is paused with SIGSTOP
 * past its lease, another replica takes the promotion over, then the paused one is resumed
 * (SIGCONT). Resolves with what the record says: the promotion's steps, the audit entries, the
 * applied counts, and the owner tokens before and after.
 */
export async function partitionRun(options) {
  const { state, leaseMs = 2000, netSleep = 6 } = options;
  const next = random(options.seed ?? 7);
  const project = makeProject(state);
  const replicas = new Replicas(project, 2, { STEP_SLEEP: '0.05', NET_SLEEP: String(netSleep) }, ['--lease', `${leaseMs}ms`]);
  try {
    await replicas.startAll();
    const a = replicas.live.get('r0');
    const b = replicas.live.get('r1');
    const set = Object.keys(COMPONENTS).map((c) => `${c}=1.0.0`);
    const release = (await api(project, a, 'POST', '/releases', { set })).json.release.id;
    const requested = await api(project, a, 'POST', '/promotions', { release, to: 'eu' });
    if (requested.status !== 202) throw new Error(`promotion: ${requested.status} ${JSON.stringify(requested.json)}`);
    const id = requested.json.promotion.id;
    // Paused while net's command runs (netSleep seconds: longer than the lease and the pause), so the
    // replica is cut off mid-apply and resumed while the new owner still waits for that command.
    for (let i = 0; i < 400 && !lines(join(project.dir, 'started.log')).length; i++) await sleep(25);
    const before = (await api(project, b, 'GET', `/promotions/${id}`)).json.promotion.owner;
    a.child.kill('SIGSTOP');
    replicas.paused.add('r0');
    const pausedAt = Date.now();
    // Past the lease: the other replica's worker sees it expired and takes the promotion over.
    let takenOver;
    for (let i = 0; i < 600; i++) {
      const owner = (await api(project, b, 'GET', `/promotions/${id}`)).json.promotion.owner;
      if (owner !== undefined && owner.token !== before.token) {
        takenOver = { owner, ms: Date.now() - pausedAt };
        break;
      }
      await sleep(50);
    }
    // Held a little longer, so the taken-over step is running again under its new owner, then resumed.
    await sleep(leaseMs / 2);
    a.child.kill('SIGCONT');
    replicas.paused.delete('r0');
    const resumedAt = Date.now();
    let final;
    for (let i = 0; i < 1200; i++) {
      final = (await api(project, b, 'GET', `/promotions/${id}`)).json;
      if (FINAL.includes(final.promotion.state) || final.promotion.state === 'interrupted') break;
      await sleep(100);
    }
    // Time for the resumed replica to try its late commits (a renewal every lease/3, its step's end).
    await sleep(leaseMs);
    const entries = (await auditEntries(project, replicas, next)).filter((e) => e.promotionId === id);
    const verify = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--output', 'json', ...project.stateArgs], { cwd: project.dir, encoding: 'utf8', env: { ...process.env, LOCKSTEP_ACTOR: 'chaos@example.com' } });
    return {
      id,
      pausedPid: a.pid,
      takerPid: b.pid,
      ownerBefore: before,
      takenOver,
      resumedAt,
      promotion: final.promotion,
      steps: final.steps,
      applied: Object.fromEntries(countLines(join(project.dir, 'applied.log'))),
      started: Object.fromEntries(countLines(join(project.dir, 'started.log'))),
      audit: entries.map((e) => ({ kind: e.kind, component: e.component, actor: e.actor, data: e.data, time: e.time })),
      auditVerify: { status: verify.status, output: verify.stdout + verify.stderr },
      pausedLog: a.log.map((l) => l.line),
      takerLog: b.log.map((l) => l.line),
      pausedAlive: a.child.exitCode === null && a.child.signalCode === null,
    };
  } finally {
    await replicas.stopAll();
    if (!options.keep) project.cleanup();
  }
}

/**
 * Throughput without faults: `promotions` promotions of the DAG (commands that do nothing), spread over
 * the environments, requested through random replicas of `count`. The clock runs from the first
 * request to the last promotion's end as the records say (finishedAt). Each environment runs one
 * promotion at a time, so at most four run at once.
 */
export async function throughputRun({ state, replicas: count, promotions: total, seed = 3 }) {
  const next = random(seed);
  const project = makeProject(state);
  const replicas = new Replicas(project, count, { STEP_SLEEP: '0' });
  try {
    await replicas.startAll();
    const perEnvironment = Math.ceil(total / ENVIRONMENTS.length);
    const t0 = Date.now();
    const promotions = await drive(project, replicas, next, perEnvironment, t0 + 900_000, undefined, 20);
    const failed = promotions.filter((p) => p.state !== 'succeeded');
    if (failed.length > 0) throw new Error(`${failed.length} promotions did not succeed: ${failed.map((p) => `${p.state}: ${p.reason}`).join('; ').slice(0, 500)}`);
    const end = Math.max(...promotions.map((p) => Date.parse(p.record.finishedAt)));
    const seconds = (end - t0) / 1000;
    return { replicas: count, store: state === undefined ? 'sqlite' : 'postgres', promotions: promotions.length, steps: promotions.length * Object.keys(COMPONENTS).length, seconds: Math.round(seconds * 100) / 100, promotionsPerS: Math.round((promotions.length / seconds) * 100) / 100, stepsPerS: Math.round(((promotions.length * Object.keys(COMPONENTS).length) / seconds) * 10) / 10 };
  } finally {
    await replicas.stopAll();
    project.cleanup();
  }
}

/** CONFIG with one more environment whose promotions wait for one approval. */
const GATED_CONFIG = CONFIG.replace('components:\n', '  gated:\n    gates:\n      approvals: { count: 1, from: [bob@example.com] }\ncomponents:\n');

/**
 * Promote → first step started on another replica than the one asked: a promotion to `gated` is
 * requested through replica A (it waits for an approval, so A runs nothing), then approved through
 * replica B; the time is from the approval's request to the first step's recorded start (startedAt,
 * the same machine's clock). Which replica ran it is read from the promotion's owner while it runs.
 * With one replica, A and B are the same server: the baseline.
 */
export async function handOverRun({ state, replicas: count, samples }) {
  const project = makeProject(state);
  writeFileSync(join(project.dir, 'lockstep.yaml'), GATED_CONFIG);
  // The approver: separation of duties keeps the requester (the admin token's actor) from approving.
  const approver = JSON.parse(cli(project.dir, ['token', 'create', '--name', 'approver', '--for', 'bob@example.com', '--role', 'approver', '--output', 'json', ...project.stateArgs])).token;
  const replicas = new Replicas(project, count, { STEP_SLEEP: '0.2' });
  const latencies = [];
  const ranOn = { asked: 0, approver: 0, other: 0, unknown: 0 };
  try {
    await replicas.startAll();
    const a = replicas.live.get('r0');
    const b = replicas.live.get(count > 1 ? 'r1' : 'r0');
    for (let i = 0; i < samples; i++) {
      const v = `${i + 1}.0.0`;
      const set = Object.keys(COMPONENTS).map((c) => `${c}=${v}`);
      const release = (await api(project, a, 'POST', '/releases', { set })).json.release.id;
      const requested = await api(project, a, 'POST', '/promotions', { release, to: 'gated' });
      if (requested.json?.promotion?.state !== 'pending') throw new Error(`expected a pending promotion, got ${requested.status} ${JSON.stringify(requested.json).slice(0, 300)}`);
      const id = requested.json.promotion.id;
      const t0 = Date.now();
      const approved = await fetch(`${b.url}/api/v1/projects/chaos/promotions/${id}/approve`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${approver}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ comment: 'bench' }),
      });
      if (!approved.ok) throw new Error(`approve: ${approved.status} ${await approved.text()}`);
      let owner;
      for (;;) {
        const { json } = await api(project, a, 'GET', `/promotions/${id}`);
        owner ??= json.promotion.owner?.pid;
        const started = json.steps.map((st) => st.startedAt).filter(Boolean).sort()[0];
        if (started && FINAL.includes(json.promotion.state)) {
          latencies.push(Date.parse(started) - t0);
          break;
        }
        await sleep(10);
      }
      if (owner === undefined) ranOn.unknown++;
      else if (owner === b.pid && b !== a) ranOn.approver++;
      else if (owner === a.pid) ranOn.asked++;
      else ranOn.other++;
    }
    return { latencies, ranOn };
  } finally {
    await replicas.stopAll();
    project.cleanup();
  }
}

/** `npm run bench` (BENCH_ONLY=replicas): the figures of docs/performance.md, benchmark 10. */
export async function benchReplicas() {
  const { FULL, RUNS, log, median, percentile, round } = await import('./lib.mjs');
  const { startPgCluster } = await import('./pg-cluster.mjs');
  const promotions = Number(process.env.BENCH_REPLICAS_PROMOTIONS ?? (FULL ? 200 : 40));
  const samples = Number(process.env.BENCH_REPLICAS_SAMPLES ?? (FULL ? 100 : 30));
  const chaosPromotions = Number(process.env.BENCH_CHAOS_PROMOTIONS ?? (FULL ? 300 : 100));
  const cluster = await startPgCluster();
  try {
    // Interleaved rounds (SQLite, 1 replica, 3 replicas, and again), medians reported: noise on a
    // shared machine hits every setup alike.
    const setups = [
      ['sqlite1', () => undefined, 1],
      ['postgres1', (pass) => cluster.url(`bench_p1_${pass}`), 1],
      ['postgres3', (pass) => cluster.url(`bench_p3_${pass}`), 3],
    ];
    const runs = Object.fromEntries(setups.map(([name]) => [name, []]));
    for (let pass = 1; pass <= RUNS; pass++) {
      for (const [name, state, count] of setups) {
        log(`replicas: round ${pass} of ${RUNS}: ${promotions} promotions of the six-step DAG, ${name}`);
        runs[name].push(await throughputRun({ state: state(pass), replicas: count, promotions }));
      }
    }
    const throughput = {};
    for (const [name, list] of Object.entries(runs)) {
      const middle = [...list].sort((x, y) => x.stepsPerS - y.stepsPerS)[Math.floor(list.length / 2)];
      throughput[name] = { ...middle, runs: list.map((r) => r.stepsPerS) };
    }
    const base = throughput.sqlite1;
    for (const t of Object.values(throughput)) t.vsSqlite = round(t.stepsPerS / base.stepsPerS, 2);

    const handOver = {};
    for (const [name, state, count] of [
      ['sqlite1', undefined, 1],
      ['postgres3', cluster.url('bench_h3'), 3],
    ]) {
      log(`replicas: ${samples} promotions requested on one replica, approved on ${count > 1 ? 'another' : 'the same'} (${name})`);
      const r = await handOverRun({ state, replicas: count, samples });
      handOver[name] = { samples, p50Ms: round(median(r.latencies), 1), p99Ms: round(percentile(r.latencies, 99), 1), ranOn: r.ranOn };
    }
    handOver.postgres3.vsSqlite = round(handOver.postgres3.p50Ms / handOver.sqlite1.p50Ms, 2);

    log(`replicas: the chaos run, ${chaosPromotions} promotions, 3 replicas, a SIGKILL every ~3 s, PostgreSQL restarted halfway`);
    const chaos = await chaosRun({ state: cluster.url('bench_chaos'), seed: 101, promotions: chaosPromotions, killEveryMs: 3000, stepSleep: 0.2, restartPostgres: () => cluster.restart(), timeoutMs: 1_800_000 });
    for (const line of chaos.problems) log(`replicas: chaos problem: ${line}`);
    log('replicas: a replica paused past its 3 s lease mid-step');
    const partition = await partitionRun({ state: cluster.url('bench_partition'), leaseMs: 3000, netSleep: 8 });
    const applied = Object.values(partition.applied);
    return {
      promotions,
      throughput,
      handOver,
      chaos: {
        promotions: chaos.promotions,
        succeeded: chaos.succeeded,
        waitingOnPerson: chaos.waitingOnPerson,
        stepsApplied: chaos.stepsApplied,
        kills: chaos.kills.length,
        killsOnWork: chaos.kills.filter((k) => k.owned.length > 0).length,
        takeovers: chaos.takeoverMs.length,
        takeoverP50Ms: chaos.takeoverMs.length ? round(median(chaos.takeoverMs), 0) : undefined,
        takeoverMaxMs: chaos.takeoverMs.length ? Math.max(...chaos.takeoverMs) : undefined,
        takeoverMs: chaos.takeoverMs,
        postgresRestartSeconds: chaos.postgresRestart?.seconds,
        errorAnswers: chaos.errorAnswers,
        auditOk: chaos.auditVerify.ok === true,
        auditEntries: chaos.auditEntries,
        seconds: round(chaos.seconds, 1),
        problems: chaos.problems,
      },
      partition: {
        leaseMs: 3000,
        takeoverMs: partition.takenOver?.ms,
        state: partition.promotion.state,
        appliedOnce: applied.length === Object.keys(COMPONENTS).length && applied.every((n) => n === 1),
        lateCommitRefused: partition.pausedLog.some((l) => l.includes('is no longer owned by this process')),
      },
    };
  } finally {
    cluster.destroy();
  }
}
