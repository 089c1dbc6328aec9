// Benchmark 4: the audit log. Append rate through the real store (one durable commit per entry, and
// batched), then `lockstep audit verify` over 100,000 (and, with BENCH_FULL=1, 1,000,000) entries
// against sha256sum over the exported bytes: the hashing limit.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FULL, RUNS, lockstep, log, median, removeDir, round, tempDir, timed } from './lib.mjs';

const BATCH = 5_000;

function event(i) {
  return {
    kind: i % 2 === 0 ? 'step.started' : 'step.succeeded',
    time: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    actor: 'bench@example.com',
    project: 'bench',
    environment: 'prod',
    releaseId: 'a'.repeat(64),
    promotionId: 'b'.repeat(64),
    component: `c${i % 50}`,
    data: { attempt: 1, phase: 'apply', toVersion: `1.0.${i}` },
  };
}

async function appendRate(SqliteStore, dir) {
  const store = SqliteStore.open(join(dir, 'append.db'));
  await store.migrate();
  try {
    const single = FULL ? 2_000 : 500;
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < single; i++) await store.commit({ audit: [event(i)] });
    const singleS = Number(process.hrtime.bigint() - t0) / 1e9;
    const batched = 50_000;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < batched; i += BATCH)
      await store.commit({ audit: Array.from({ length: BATCH }, (_, k) => event(single + i + k)) });
    const batchedS = Number(process.hrtime.bigint() - t0) / 1e9;
    return {
      durableCommitPerEntry: {
        entries: single,
        perS: round(single / singleS, 0),
        msEach: round((singleS * 1000) / single, 3),
      },
      batchedCommits: { entries: batched, batchSize: BATCH, perS: round(batched / batchedS, 0) },
    };
  } finally {
    await store.close();
  }
}

async function verifyCase(SqliteStore, dir, entries) {
  const db = join(dir, `audit-${entries}.db`);
  const store = SqliteStore.open(db);
  await store.migrate();
  log(`audit: generating ${entries} entries`);
  for (let i = 0; i < entries; i += BATCH) {
    await store.commit({ audit: Array.from({ length: Math.min(BATCH, entries - i) }, (_, k) => event(i + k)) });
  }
  await store.close();
  const exported = join(dir, `audit-${entries}.jsonl`);
  await lockstep(['--state', db, 'audit', 'export', '--out', exported], { cwd: dir });
  const bytes = statSync(exported).size;
  const verify = [];
  const sha = [];
  for (let run = 0; run < RUNS; run++) {
    verify.push(
      (await lockstep(['--state', db, 'audit', 'verify', '--output', 'json'], { cwd: dir, memory: true })).seconds,
    );
    sha.push((await timed('sha256sum', [exported])).seconds);
  }
  const v = median(verify);
  const s = median(sha);
  return {
    entries,
    exportedMB: round(bytes / 1e6, 1),
    verifyS: round(v, 3),
    sha256sumS: round(s, 3),
    vsSha256sum: round(v / s, 1),
    verifyEntriesPerS: round(entries / v, 0),
    all: { verify: verify.map((x) => round(x, 3)), sha256sum: sha.map((x) => round(x, 3)) },
  };
}

export async function benchAudit() {
  const { SqliteStore } = await import('../dist/store/sqlite/sqlite-store.js');
  const dir = tempDir('audit');
  // The CLI looks for a config beside the state; an empty project keeps it from failing on that.
  writeFileSync(join(dir, 'lockstep.yaml'), 'project: bench\nenvironments:\n  dev: {}\ncomponents: {}\n');
  try {
    log('audit: append rate');
    const append = await appendRate(SqliteStore, dir);
    const sizes = FULL || process.env.BENCH_AUDIT_MILLION === '1' ? [100_000, 1_000_000] : [100_000];
    const verify = [];
    for (const n of sizes) {
      verify.push(await verifyCase(SqliteStore, dir, n));
      log(`  -> ${JSON.stringify(verify.at(-1))}`);
    }
    return { append, verify };
  } finally {
    removeDir(dir);
  }
}
