// Exactly-once after SIGKILL: eight `command` components (with outputs and without, idempotent and
// not), `lockstep promote` killed with its whole process group at a seeded random moment, then
// `lockstep resume` (itself sometimes killed) until the promotion is done. Each apply appends its
// component's name to applies.log once its side effect really happens (after a sleep), so the count
// per component says how often it was applied: it must be exactly 1, and every output must reach
// its dependents. A pass/fail figure over many seeds, not a timing.
//
// Used by `npm run bench` (BENCH_EXACTLY_ONCE_SEEDS seeds, 50 by default) and, for a handful of
// seeds, by test/cli/exactly-once.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../bin/lockstep.js', import.meta.url));

export const COMPONENTS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

/** Six roots run at once; g needs b's output, h needs c's; b and c are idempotent and not. */
export const CONFIG = `project: exactly
environments:
  dev: {}
components:
  a:
    type: command
    with: { apply: ["./apply.sh", "-"], idempotent: true }
  b:
    type: command
    outputs: { url: { type: string } }
    with: { apply: ["./apply.sh", "out"], idempotent: true }
  c:
    type: command
    outputs: { url: { type: string } }
    with: { apply: ["./apply.sh", "out"] }
  d:
    type: command
    with: { apply: ["./apply.sh", "-"] }
  e:
    type: command
    outputs: { url: { type: string } }
    with: { apply: ["./apply.sh", "out"], idempotent: true }
  f:
    type: command
    with: { apply: ["./apply.sh", "-"] }
  g:
    type: command
    with: { apply: ["./apply.sh", "-", "\${{ components.b.outputs.url }}"] }
  h:
    type: command
    outputs: { url: { type: string } }
    with: { apply: ["./apply.sh", "out", "\${{ components.c.outputs.url }}"], idempotent: true }
`;

/** The side effect comes after a sleep, the outputs after another: a kill can land before, between or after. */
const APPLY_SH = `#!/bin/sh
set -eu
echo "$LOCKSTEP_COMPONENT" >> started.log
sleep "\${SLEEP_BEFORE:-0.3}"
echo "$LOCKSTEP_COMPONENT" >> applies.log
if [ -n "\${2:-}" ]; then mkdir -p received; printf '%s\\n' "$2" > "received/$LOCKSTEP_COMPONENT"; fi
sleep "\${SLEEP_AFTER:-0.2}"
if [ "$1" = out ]; then printf '{"url": "https://%s.example/%s"}' "$LOCKSTEP_COMPONENT" "$LOCKSTEP_VERSION" > "$LOCKSTEP_OUTPUTS"; fi
echo "applied $LOCKSTEP_COMPONENT $LOCKSTEP_VERSION"
`;

/** What each dependent must have received. */
export const EXPECTED_RECEIVED = { g: 'https://b.example/2', h: 'https://c.example/2' };

/** A deterministic pseudo-random sequence, so a failure can be reproduced from its seed. */
function random(seed) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

function run(dir, args, env) {
  const r = spawnSync(process.execPath, [env.LOCKSTEP_BENCH_CLI ?? CLI, ...args], { cwd: dir, encoding: 'utf8', env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts the CLI in its own process group and SIGKILLs the whole group `afterMs` after the next
 * command starts (a line more in started.log), or after `afterMs` from the launch when `fromLaunch`;
 * resolves true when the kill landed.
 */
function runAndKill(dir, args, env, afterMs, fromLaunch) {
  const startedLines = () => (existsSync(join(dir, 'started.log')) ? readFileSync(join(dir, 'started.log'), 'utf8').split('\n').length : 0);
  const before = startedLines();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [env.LOCKSTEP_BENCH_CLI ?? CLI, ...args], { cwd: dir, env, detached: true, stdio: 'ignore' });
    const kill = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // It had exited.
      }
    };
    let timer;
    let poll;
    if (fromLaunch) timer = setTimeout(kill, afterMs);
    else {
      poll = setInterval(() => {
        if (startedLines() === before) return;
        clearInterval(poll);
        timer = setTimeout(kill, afterMs);
      }, 20);
    }
    child.on('exit', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve(code === null);
    });
  });
}

/**
 * One seeded scenario in a fresh project. Resolves with what happened; `problems` is empty when every
 * component was applied exactly once, the promotion succeeded and the outputs reached the dependents.
 */
export async function killScenario(seed, options = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-exactly-once-'));
  const env = { ...process.env, LOCKSTEP_ACTOR: 'tester@example.com', CI: 'true' };
  const next = random(seed);
  const problems = [];
  let kills = 0;
  let rounds = 0;
  try {
    writeFileSync(join(dir, 'lockstep.yaml'), CONFIG);
    writeFileSync(join(dir, 'apply.sh'), APPLY_SH);
    chmodSync(join(dir, 'apply.sh'), 0o755);
    const created = run(dir, ['release', 'create', ...COMPONENTS.flatMap((c) => ['--set', `${c}=2`]), '--output', 'json'], env);
    if (created.status !== 0) throw new Error(`release create: ${created.stderr}`);
    const release = JSON.parse(created.stdout).release.id.slice(0, 10);

    // Mostly while commands run (a kill at the first command's start, up to 1.2 s after it: the
    // commands take 0.5 s), sometimes anywhere from the launch. The first kill always lands while the
    // six roots run (the promotion lasts two waves of commands, over a second), so every seed kills
    // at least once whatever the machine's speed; the later ones may land after the process ended.
    const killAt = () => (next() < 0.8 ? [next() * 1200, false] : [next() * 2500, true]);
    if (await runAndKill(dir, ['promote', release, '--to', 'dev'], env, next() * 600, false)) kills++;
    let finalState = 'unknown';
    for (; rounds < 30; rounds++) {
      const [promotion] = JSON.parse(run(dir, ['history', '--env', 'dev', '--output', 'json'], env).stdout);
      // Killed before the promotion was recorded: nothing happened, so promote again.
      let args = ['promote', release, '--to', 'dev'];
      if (promotion) {
        finalState = promotion.state;
        if (promotion.state === 'succeeded' || promotion.state === 'failed') break;
        // A person checks each interrupted step (its command never ran, or its outcome is unknown) and retries it.
        const interrupted = promotion.steps.filter((s) => s.state === 'interrupted').map((s) => s.component);
        args = ['resume', promotion.id.slice(0, 10), ...interrupted.flatMap((c) => ['--retry-step', c])];
        if (interrupted.length === 0) args = ['resume'];
      }
      if (rounds < 3 && next() < 0.6) {
        if (await runAndKill(dir, args, env, ...killAt())) kills++;
      } else {
        const r = run(dir, args, env);
        if (![0, 1].includes(r.status)) problems.push(`${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
      }
    }
    if (finalState !== 'succeeded') problems.push(`the promotion ended ${finalState} after ${rounds} rounds`);

    const applies = existsSync(join(dir, 'applies.log')) ? readFileSync(join(dir, 'applies.log'), 'utf8').trim().split('\n') : [];
    const counts = Object.fromEntries(COMPONENTS.map((c) => [c, applies.filter((l) => l === c).length]));
    for (const [c, n] of Object.entries(counts)) if (n !== 1) problems.push(`${c} was applied ${n} times`);
    const received = {};
    for (const [c, want] of Object.entries(EXPECTED_RECEIVED)) {
      const file = join(dir, 'received', c);
      received[c] = existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
      if (received[c] !== want) problems.push(`${c} received ${received[c]} instead of ${want}`);
    }
    const runs = join(dir, '.lockstep', 'runs');
    const leftover = existsSync(runs) ? readdirSync(runs) : [];
    if (finalState === 'succeeded' && leftover.length > 0) problems.push(`process records left after the promotion: ${leftover.join(', ')}`);
    return { seed, kills, rounds, counts, received, problems, dir };
  } finally {
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** `npm run bench`: the scenario over many seeds; reports how often each component was applied. */
export async function benchExactlyOnce() {
  const { log } = await import('./lib.mjs');
  const seeds = Number(process.env.BENCH_EXACTLY_ONCE_SEEDS ?? 50);
  const first = Number(process.env.BENCH_EXACTLY_ONCE_FIRST_SEED ?? 1);
  const appliesPerComponent = Object.fromEntries(COMPONENTS.map((c) => [c, {}]));
  const failed = [];
  let kills = 0;
  let notExactlyOnce = 0;
  for (let seed = first; seed < first + seeds; seed++) {
    const r = await killScenario(seed);
    kills += r.kills;
    for (const [c, n] of Object.entries(r.counts)) appliesPerComponent[c][n] = (appliesPerComponent[c][n] ?? 0) + 1;
    if (r.problems.length > 0) failed.push({ seed, problems: r.problems });
    if (Object.values(r.counts).some((n) => n !== 1)) notExactlyOnce++;
    log(`exactly-once: seed ${seed}: ${r.kills} kill(s), ${r.problems.length === 0 ? 'ok' : r.problems.join('; ')}`);
  }
  return { seeds, passed: seeds - failed.length, notExactlyOnce, failed, kills, appliesPerComponent };
}
