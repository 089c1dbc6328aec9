import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosRun, COMPONENTS, CONFIG, partitionRun } from '../../bench/replicas.mjs';
import { requireBuild } from '../helpers/cli.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

// The chaos test at CI size (docs/chaos.md; `npm run bench` runs it larger): three `lockstep serve`
// replicas (the built CLI, real HTTP) on a throwaway PostgreSQL cluster of their own, promotions of a
// six-step DAG of real commands over four environments, requested through random replicas, while a
// replica is SIGKILLed every few seconds and started again and PostgreSQL is restarted halfway. Then
// a replica paused (SIGSTOP) past its lease mid-step and resumed. Nothing here measures time: the
// takeover times are reported, not asserted.

let cluster: PgCluster;
beforeAll(async () => {
  requireBuild();
  cluster = await startPgCluster();
}, 120_000);
afterAll(() => cluster?.destroy());

const STEPS = Object.keys(COMPONENTS);

describe('chaos: replicas on one PostgreSQL', () => {
  it('runs the project docs/chaos.md shows', () => {
    const doc = readFileSync(new URL('../../docs/chaos.md', import.meta.url), 'utf8');
    const shown = /```yaml\n {3}# lockstep\.yaml\n([\s\S]*?) {3}```/.exec(doc)?.[1]?.replace(/^ {3}/gm, '');
    expect(shown).toBe(CONFIG);
  });

  it('replicas SIGKILLed every few seconds and PostgreSQL restarted under load: every promotion finishes, every step applied exactly once, the audit chain intact', async () => {
    const r = await chaosRun({ state: cluster.url('chaos'), seed: 11, promotions: 24, killEveryMs: 1500, stepSleep: 0.3, restartPostgres: () => cluster.restart() });
    const summary = `${r.seconds} s, ${r.kills.length} kills, takeovers ${JSON.stringify(r.takeoverMs)} ms\n${r.problems.join('\n')}\n${r.logs.map((l) => `--- ${l.name} (${l.pid})\n${l.lines.slice(-20).join('\n')}`).join('\n')}`;
    expect(r.problems.join('\n'), summary).toBe('');
    expect(r.promotions).toBe(24);
    // With idempotent commands and the run journal, no promotion needs a person (docs/chaos.md).
    expect(r.waitingOnPerson).toEqual([]);
    expect(r.succeeded).toBe(24);
    expect(r.stepsApplied).toBe(24 * STEPS.length);
    expect(r.postgresRestart).toBeDefined();
    // While PostgreSQL restarts a replica may say 503 (not ready); no other error answer is expected.
    expect(r.errorAnswers.filter((a) => a.status !== 503), summary).toEqual([]);
    expect(r.auditVerify.ok).toBe(true);
    expect(r.auditVerify.entries).toBe(r.auditEntries);
    // The kills landed on work in progress, and each promotion the dead replica owned was taken over.
    // (Each environment's six promotions take at least 6 × 5 levels × 0.3 s; a kill comes every
    // 0.75 to 2.25 s plus the restart, so at least three land whatever the machine's speed.)
    expect(r.kills.length, summary).toBeGreaterThanOrEqual(3);
    const owned = r.kills.flatMap((k) => k.takeovers);
    expect(owned.length, summary).toBeGreaterThan(0);
    expect(owned.filter((t) => t.ms === undefined)).toEqual([]);
  }, 300_000);

  it('a replica paused (SIGSTOP) past its lease mid-step, then resumed: another takes its promotion over, the late commits are refused, nothing is applied twice', async () => {
    const r = await partitionRun({ state: cluster.url('partition'), leaseMs: 2000, netSleep: 6 });
    const logs = `--- paused\n${r.pausedLog.join('\n')}\n--- taker\n${r.takerLog.join('\n')}`;
    expect(r.ownerBefore.pid).toBe(r.pausedPid);
    // Taken over by the other replica (the paused one's pid still exists: only the lease ran out).
    expect(r.takenOver?.owner.pid, logs).toBe(r.takerPid);
    expect(r.takenOver?.owner.token).not.toBe(r.ownerBefore.token);
    expect(r.pausedAlive).toBe(true);
    // The step cut off mid-apply was waited for by the new owner, not run again nor stopped.
    expect(r.promotion.state, logs).toBe('succeeded');
    expect(r.steps.map((s) => [s.component, s.state, s.attempts])).toEqual(STEPS.map((c) => [c, 'succeeded', 1]));
    expect(Object.values(r.applied)).toEqual(STEPS.map(() => 1));
    expect(Object.values(r.started)).toEqual(STEPS.map(() => 1));
    const resumed = r.audit.filter((e) => e.kind === 'promotion.resumed');
    expect(resumed).toEqual([expect.objectContaining({ actor: 'lockstep:server', data: { recovered: [expect.objectContaining({ component: 'net', decision: 'resume-apply' })] } })]);
    // Once resumed, the paused replica tried to carry on: the fence refused it.
    expect(r.pausedLog.join('\n')).toMatch(/is no longer owned by this process \(another process took it over\)/);
    expect(r.audit.filter((e) => e.kind === 'step.succeeded').every((e) => e.actor === 'lockstep:server')).toBe(true);
    expect(r.auditVerify.status, r.auditVerify.output).toBe(0);
  }, 180_000);
});
