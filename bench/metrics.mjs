// Benchmark: `lockstep metrics` over a long history. A real SQLite state holding N promotions into
// prod of C components each (every 7th failed, every 11th a rollback), written through the store as
// the engine writes them; then `lockstep metrics --since 10000d -o json` (the whole history) against
// `lockstep status -o json` on the same state: the baseline is a read command's start-up, config and
// store opening, so the ratio shows what reading and computing the history adds.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FULL, RUNS, lockstep, log, median, removeDir, round, tempDir } from './lib.mjs';

const COMPONENTS = 20;

function records(i, components) {
  const at = Date.UTC(2026, 0, 1) + i * 3_600_000;
  const iso = (ms) => new Date(ms).toISOString();
  const versions = Object.fromEntries(components.map((c, j) => [c, String(Math.floor(i / (j + 1)))]));
  const releaseId = i.toString(16).padStart(64, '0');
  const promotionId = `a${i.toString(16).padStart(63, '0')}`;
  const failed = i % 7 === 3;
  const kind = i % 11 === 5 ? 'rollback' : 'promotion';
  const release = { id: releaseId, project: 'bench', versions, labels: {}, createdAt: iso(at - 1_800_000), createdBy: 'bench@example.com' };
  const promotion = {
    id: promotionId,
    project: 'bench',
    releaseId,
    environment: 'prod',
    kind,
    state: failed ? 'failed' : 'succeeded',
    requestedBy: 'bench@example.com',
    requestedAt: iso(at),
    startedAt: iso(at),
    finishedAt: iso(at + 60_000),
    configDigest: 'd',
    plan: { releaseId, environment: 'prod', steps: [], levels: [], gates: [], irreversible: false, digest: 'p' },
    concurrency: 8,
    onFailure: 'rollback',
  };
  const steps = components.map((c, j) => {
    const applied = i % (j + 1) === 0;
    return {
      promotionId,
      component: c,
      environment: 'prod',
      state: failed && j === 0 ? 'rolled-back' : applied ? 'succeeded' : 'unchanged',
      action: applied ? 'apply' : 'unchanged',
      toVersion: versions[c],
      reversible: true,
      applyStarted: applied,
      attempts: 1,
      idempotencyKey: `${promotionId}:${c}`,
    };
  });
  return { release, promotion, steps };
}

async function metricsCase(SqliteStore, dir, promotions) {
  const state = join(dir, `metrics-${promotions}.db`);
  const store = SqliteStore.open(state);
  await store.migrate();
  const components = Array.from({ length: COMPONENTS }, (_, j) => `c${j}`);
  log(`metrics: writing ${promotions} promotions of ${COMPONENTS} components`);
  for (let i = 0; i < promotions; i++) {
    const { release, promotion, steps } = records(i, components);
    await store.commit({ release, createPromotion: { record: promotion, lock: false }, steps, audit: [] });
  }
  await store.close();
  const metrics = [];
  const status = [];
  for (let run = 0; run < RUNS; run++) {
    metrics.push((await lockstep(['--state', state, 'metrics', '--since', '10000d', '-o', 'json'], { cwd: dir, memory: true })).seconds);
    status.push((await lockstep(['--state', state, 'status', '-o', 'json'], { cwd: dir })).seconds);
  }
  const m = median(metrics);
  const s = median(status);
  return { promotions, components: COMPONENTS, metricsS: round(m, 3), statusS: round(s, 3), vsStatus: round(m / s, 1) };
}

export async function benchMetrics() {
  const { SqliteStore } = await import('../dist/store/sqlite/sqlite-store.js');
  const dir = tempDir('metrics');
  writeFileSync(
    join(dir, 'lockstep.yaml'),
    `project: bench\nenvironments:\n  prod: {}\ncomponents:\n${Array.from({ length: COMPONENTS }, (_, j) => `  c${j}:\n    type: command\n    with: { apply: ["true"] }\n`).join('')}`,
  );
  try {
    const sizes = FULL ? [1_000, 10_000] : [1_000];
    const cases = [];
    for (const n of sizes) {
      cases.push(await metricsCase(SqliteStore, dir, n));
      log(`  -> ${JSON.stringify(cases.at(-1))}`);
    }
    return cases;
  } finally {
    removeDir(dir);
  }
}
