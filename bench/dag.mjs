// Benchmark 1: DAG overhead. A layered DAG of `command` components, each step one real process,
// run by `lockstep promote`, by GNU make -j8 over the same graph, and by a sequential script.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FULL, RUNS, lockstep, log, median, must, removeDir, round, tempDir, timed, CLI } from './lib.mjs';

const WIDTH = 20;
const CONCURRENCY = 8;
const STEP_SECONDS = 0.05;

/** Component i in layer L depends on two components of layer L-1 (i and i+1 modulo the width). */
function graph(count) {
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const layer = Math.floor(i / WIDTH);
    const slot = i % WIDTH;
    const deps = [];
    if (layer > 0) {
      const previousStart = (layer - 1) * WIDTH;
      deps.push(`c${previousStart + slot}`);
      const second = previousStart + ((slot + 1) % WIDTH);
      if (second !== previousStart + slot) deps.push(`c${second}`);
    }
    nodes.push({ name: `c${i}`, layer, deps });
  }
  return nodes;
}

function writeProject(dir, nodes, argv) {
  const lines = ['project: bench', 'environments:', '  dev: {}', 'components:'];
  for (const node of nodes) {
    lines.push(`  ${node.name}:`, '    type: command');
    if (node.deps.length > 0) lines.push(`    dependsOn: [${node.deps.join(', ')}]`);
    lines.push(`    with:`, `      apply: ${JSON.stringify(argv)}`);
  }
  writeFileSync(join(dir, 'lockstep.yaml'), lines.join('\n') + '\n');

  // make and sh get the program's full path: `true` is a shell builtin, which would spare them the
  // process start every lockstep step pays.
  const shellArgv = [argv[0] === 'true' ? '/bin/true' : `/bin/${argv[0]}`, ...argv.slice(1)];

  const make = ['.PHONY: all ' + nodes.map((n) => n.name).join(' '), `all: ${nodes.map((n) => n.name).join(' ')}`];
  for (const node of nodes) make.push(`${node.name}: ${node.deps.join(' ')}`, `\t@${shellArgv.join(' ')}`);
  writeFileSync(join(dir, 'Makefile'), make.join('\n') + '\n');

  writeFileSync(join(dir, 'sequential.sh'), nodes.map(() => shellArgv.join(' ')).join('\n') + '\n');
}

/** A fresh state database with one release, so each promote run starts from the same point. */
function prepareState(dir, nodes, run) {
  const state = join(dir, `state-${run}.db`);
  const sets = nodes.flatMap((n) => ['--set', `${n.name}=1`]);
  const out = must(
    process.execPath,
    [CLI, '--state', state, 'release', 'create', ...sets, '-m', 'bench', '--output', 'json'],
    {
      cwd: dir,
    },
  );
  return { state, releaseId: JSON.parse(out).release.id };
}

async function measure(count, work) {
  const nodes = graph(count);
  const dir = tempDir(`dag-${count}-${work}`);
  const argv = work === 'sleep' ? ['sleep', String(STEP_SECONDS)] : ['true'];
  writeProject(dir, nodes, argv);
  const lockstepTimes = [];
  const makeTimes = [];
  const seqTimes = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const { state, releaseId } = prepareState(dir, nodes, run);
      // Interleaved, so noise on the shared machine hits every contender alike.
      const promote = await lockstep(
        [
          '--state',
          state,
          'promote',
          releaseId,
          '--to',
          'dev',
          '--concurrency',
          String(CONCURRENCY),
          '--output',
          'json',
        ],
        { cwd: dir },
      );
      lockstepTimes.push(promote.seconds);
      makeTimes.push((await timed('make', ['-s', `-j${CONCURRENCY}`, '-f', 'Makefile', 'all'], { cwd: dir })).seconds);
      // The sequential script's time is N × the step plus a fork each: one run is enough by default.
      if (run === 0 || FULL) seqTimes.push((await timed('sh', ['sequential.sh'], { cwd: dir })).seconds);
    }
  } finally {
    removeDir(dir);
  }
  const layers = Math.ceil(count / WIDTH);
  const stepSeconds = work === 'sleep' ? STEP_SECONDS : 0;
  // With 8 slots no executor can beat either the longest chain or the total work shared by 8.
  const lowerBound = Math.max(layers * stepSeconds, (count * stepSeconds) / CONCURRENCY);
  const l = median(lockstepTimes);
  const m = median(makeTimes);
  const s = median(seqTimes);
  return {
    components: count,
    work: argv.join(' '),
    runs: RUNS,
    lowerBoundS: round(lowerBound, 3),
    lockstepS: round(l, 3),
    makeS: round(m, 3),
    sequentialS: round(s, 3),
    vsMake: round(l / m, 2),
    speedupVsSequential: round(s / l, 2),
    // Time above make's, spread over the steps: what the orchestrator costs per step.
    overheadPerStepVsMakeMs: round(((l - m) * 1000) / count, 2),
    // Wall time per step with zero-work steps, process start included (the engine's full cost).
    wallPerStepMs: round((l * 1000) / count, 2),
    all: {
      lockstep: lockstepTimes.map((v) => round(v, 3)),
      make: makeTimes.map((v) => round(v, 3)),
      sequential: seqTimes.map((v) => round(v, 3)),
    },
  };
}

export async function benchDag() {
  const sizes = FULL ? [50, 200, 1000] : [50, 200, 1000];
  const results = [];
  for (const work of ['sleep', 'true']) {
    for (const count of sizes) {
      log(`dag: ${count} components, ${work}`);
      results.push(await measure(count, work));
      log(`  -> ${JSON.stringify(results.at(-1))}`);
    }
  }
  // The slope between sizes: the cost of one more step, without the fixed start-up (node, config, plan).
  for (const result of results) {
    const smaller = results.filter((r) => r.work === result.work && r.components < result.components).at(-1);
    if (smaller) {
      result.marginalMsPerStep = round(
        ((result.lockstepS - smaller.lockstepS) * 1000) / (result.components - smaller.components),
        2,
      );
      result.marginalMakeMsPerStep = round(
        ((result.makeS - smaller.makeS) * 1000) / (result.components - smaller.components),
        2,
      );
    }
  }
  return results;
}
