// `npm run bench`: runs every benchmark, writes bench/results/latest.json and latest.md.
// Benchmarks report; they never fail the build, so a benchmark that throws is recorded and skipped.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { FULL, ROOT, RUNS, log } from './lib.mjs';
import { renderMarkdown } from './report.mjs';

const BENCHMARKS = [
  ['startup', async () => (await import('./startup.mjs')).benchStartup()],
  ['dag', async () => (await import('./dag.mjs')).benchDag()],
  ['throughput', async () => (await import('./throughput.mjs')).benchThroughput()],
  ['audit', async () => (await import('./audit.mjs')).benchAudit()],
  ['validatePlan', async () => (await import('./validate-plan.mjs')).benchValidatePlan()],
  ['gitops', async () => (await import('./gitops.mjs')).benchGitops()],
  ['exactlyOnce', async () => (await import('./exactly-once.mjs')).benchExactlyOnce()],
  ['server', async () => (await import('./server.mjs')).benchServer()],
  ['metrics', async () => (await import('./metrics.mjs')).benchMetrics()],
  ['replicasWakeup', async () => (await import('./replicas-wakeup.mjs')).benchReplicasWakeup()],
  ['replicas', async () => (await import('./replicas.mjs')).benchReplicas()],
  ['ui', async () => (await import('./ui.mjs')).benchUi()],
];

const only = process.env.BENCH_ONLY?.split(',');
const started = Date.now();
const results = {
  startedAt: new Date(started).toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  full: FULL,
  runs: RUNS,
  benchmarks: {},
};
for (const [name, run] of BENCHMARKS) {
  if (only !== undefined && !only.includes(name)) continue;
  const t0 = Date.now();
  try {
    results.benchmarks[name] = { result: await run(), seconds: Math.round((Date.now() - t0) / 100) / 10 };
  } catch (error) {
    log(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    results.benchmarks[name] = {
      error: String(error instanceof Error ? error.message : error),
      seconds: Math.round((Date.now() - t0) / 100) / 10,
    };
  }
}
results.totalSeconds = Math.round((Date.now() - started) / 1000);

const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
writeFileSync(join(out, 'latest.md'), renderMarkdown(results));
log(`done in ${results.totalSeconds} s: bench/results/latest.json, bench/results/latest.md`);
process.stdout.write(renderMarkdown(results));
