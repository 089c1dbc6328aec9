// Benchmark 3: engine throughput. Many promotions of 5 zero-work steps, back to back, in one process
// through the built engine (no CLI start-up per promotion), timing promote() to the first step started.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FULL, log, median, percentile, removeDir, round, tempDir } from './lib.mjs';

const STEPS = 5;

export async function benchThroughput() {
  const count = Number(process.env.BENCH_PROMOTIONS ?? (FULL ? 1000 : 200));
  const { openProject } = await import('../dist/cli/context.js');
  const { createRelease, promote } = await import('../dist/engine/promote.js');
  const dir = tempDir('throughput');
  const lines = ['project: bench', 'environments:', '  dev: {}', 'components:'];
  for (let i = 0; i < STEPS; i++) lines.push(`  s${i}:`, '    type: command', '    with:', '      apply: ["true"]');
  writeFileSync(join(dir, 'lockstep.yaml'), lines.join('\n') + '\n');

  let firstStepAt;
  const observer = {
    step(step) {
      if (step.state === 'running' && firstStepAt === undefined) firstStepAt = process.hrtime.bigint();
    },
  };
  const deps = await openProject(
    { config: join(dir, 'lockstep.yaml'), state: join(dir, 'state.db'), actor: 'bench', output: 'json' },
    'create',
    observer,
  );
  try {
    log(`throughput: creating ${count} releases`);
    const releases = [];
    for (let i = 0; i < count; i++) {
      const set = Array.from({ length: STEPS }, (_, s) => `s${s}=${i + 1}`);
      releases.push((await createRelease(deps, { set })).release.id);
    }
    log(`throughput: ${count} promotions of ${STEPS} steps`);
    const latencies = [];
    const durations = [];
    const started = process.hrtime.bigint();
    for (const id of releases) {
      firstStepAt = undefined;
      const t0 = process.hrtime.bigint();
      const record = await promote(deps, id, 'dev', { concurrency: 8 });
      const t1 = process.hrtime.bigint();
      if (record.state !== 'succeeded') throw new Error(`promotion ${record.id} ended ${record.state}`);
      if (firstStepAt !== undefined) latencies.push(Number(firstStepAt - t0) / 1e6);
      durations.push(Number(t1 - t0) / 1e6);
    }
    const totalS = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      promotions: count,
      stepsEach: STEPS,
      totalS: round(totalS, 2),
      promotionsPerS: round(count / totalS, 2),
      firstStepP50Ms: round(median(latencies), 1),
      firstStepP99Ms: round(percentile(latencies, 99), 1),
      promotionP50Ms: round(median(durations), 1),
      promotionP99Ms: round(percentile(durations, 99), 1),
      latencySamples: latencies.length,
    };
  } finally {
    await deps.store.close();
    removeDir(dir);
  }
}
