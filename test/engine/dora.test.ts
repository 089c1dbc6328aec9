import { afterEach, describe, expect, it } from 'vitest';
import type { ComponentDora, EnvironmentDora } from '../../src/core/dora.js';
import { InputError } from '../../src/core/errors.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { doraMetrics } from '../../src/engine/dora.js';
import { createRelease, promote, rollbackEnvironment } from '../../src/engine/promote.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// DORA metrics from a scripted history: real promotions (real SQLite, real deploy and check
// scripts) under a clock the test sets, so every recorded time is known and each figure below is
// computed by hand in the comments. check.sh fails a version ending in -broken: its promotion fails
// and (onFailure: rollback) puts the previous version back.

/** A clock the test sets: every time the engine records is one of these. */
class TestClock {
  private time = new Date(0);
  now(): Date {
    return new Date(this.time);
  }
  set(iso: string): void {
    this.time = new Date(iso);
  }
}

const CONFIG = `project: shop
environments:
  prod: {}
components:
  api:
${commandComponent()}
  web:
${commandComponent()}
`;

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

const HOUR = 3600;

async function release(deps: EngineDeps, clock: TestClock, at: string, versions: Record<string, string>, labels?: Record<string, string>): Promise<string> {
  clock.set(at);
  return (await createRelease(deps, { set: Object.entries(versions).map(([c, v]) => `${c}=${v}`), labels })).release.id;
}

async function promoteAt(deps: EngineDeps, clock: TestClock, at: string, releaseId: string, expected: string): Promise<void> {
  clock.set(at);
  expect((await promote(deps, releaseId, 'prod')).state).toBe(expected);
}

function env(result: { environments: EnvironmentDora[] }, name: string): EnvironmentDora {
  const e = result.environments.find((x) => x.environment === name);
  if (e === undefined) throw new Error(`no ${name}`);
  return e;
}

function component(e: EnvironmentDora, name: string): ComponentDora {
  const c = e.components.find((x) => x.component === name);
  if (c === undefined) throw new Error(`no ${name}`);
  return c;
}

describe('metrics: DORA from a scripted history', () => {
  it('computes every figure of a history of successes, failures, a rollback and restores, per environment and per component', async () => {
    project = testProject(CONFIG);
    const clock = new TestClock();
    const deps = await project.deps({ clock });

    // P0, before the window (it opens 2026-10-31T00:00Z): counted nowhere, but it is what P2 falls back to.
    const r0 = await release(deps, clock, '2026-10-20T00:00:00Z', { api: '0', web: '0' });
    await promoteAt(deps, clock, '2026-10-30T23:59:59Z', r0, 'succeeded');
    // P1: api 0 → 1 (web unchanged). Lead time from R1's creation: 2h.
    const r1 = await release(deps, clock, '2026-11-01T00:00:00Z', { api: '1', web: '0' });
    await promoteAt(deps, clock, '2026-11-01T02:00:00Z', r1, 'succeeded');
    // P2: api 2-broken fails its check and is rolled back: a failed change; prod failing from 11-03 04:00.
    const r2 = await release(deps, clock, '2026-11-03T00:00:00Z', { api: '2-broken', web: '0' });
    await promoteAt(deps, clock, '2026-11-03T04:00:00Z', r2, 'failed');
    // P3: fix forward, api → 3 and web 0 → 1: restores prod after 2h (rework). Lead time 1h.
    const r3 = await release(deps, clock, '2026-11-03T05:00:00Z', { api: '3', web: '1' });
    await promoteAt(deps, clock, '2026-11-03T06:00:00Z', r3, 'succeeded');
    // P4: api → 4 succeeds (lead time 10h) but is rolled back by P5: a failed change; failing from 11-05 10:00.
    const r4 = await release(deps, clock, '2026-11-05T00:00:00Z', { api: '4', web: '1' });
    await promoteAt(deps, clock, '2026-11-05T10:00:00Z', r4, 'succeeded');
    // P5: the rollback to R3 (api 4 → 3, web unchanged): restores after 1h (rework); a rollback is no change.
    clock.set('2026-11-05T11:00:00Z');
    const back = await rollbackEnvironment(deps, 'prod');
    expect([back.kind, back.state]).toEqual(['rollback', 'succeeded']);
    // P6: api → 5, from a commit made 2026-11-09T00:00Z (the committed-at label): lead time 36h.
    const r5 = await release(deps, clock, '2026-11-10T00:00:00Z', { api: '5', web: '1' }, { 'committed-at': '2026-11-09T00:00:00Z' });
    await promoteAt(deps, clock, '2026-11-10T12:00:00Z', r5, 'succeeded');
    // P7: api 6-broken fails: a failed change, and prod is failing from 11-20 01:00 to the window's end.
    const r6 = await release(deps, clock, '2026-11-20T00:00:00Z', { api: '6-broken', web: '1' });
    await promoteAt(deps, clock, '2026-11-20T01:00:00Z', r6, 'failed');

    clock.set('2026-11-30T00:00:00Z');
    const result = await doraMetrics(deps, { since: '30d' });
    expect(result.window).toEqual({ from: '2026-10-31T00:00:00.000Z', to: '2026-11-30T00:00:00.000Z', days: 30 });
    expect(result.percentiles).toBe('nearest-rank');
    const prod = env(result, 'prod');

    // Deployments (succeeded promotions of either kind) in the window: P1, P3, P4, P5, P6 = 5; 5 / 30 days.
    expect(prod.deploymentFrequency.count).toBe(5);
    expect(prod.deploymentFrequency.perDay).toBeCloseTo(5 / 30, 10);
    // Lead time, at each release's first success: R1 2h, R3 1h, R4 10h, R5 36h (from committed-at).
    // Sorted [1h, 2h, 10h, 36h]; nearest-rank median: rank ⌈0.5·4⌉ = 2 → 2h; p90: rank ⌈0.9·4⌉ = 4 → 36h.
    expect(prod.leadTime).toEqual({ count: 4, medianSeconds: 2 * HOUR, p90Seconds: 36 * HOUR });
    // Changes (kind promotion, started, ended): P1, P2, P3, P4, P6, P7 = 6; failed: P2, P4 (rolled back), P7 = 3.
    expect(prod.changes).toEqual({ count: 6, failed: 3 });
    expect(prod.changeFailureRate).toBe(0.5);
    // Restores: P2 → P3 2h, P4 → P5 1h. Sorted [1h, 2h]: median rank 1 → 1h; p90 rank ⌈1.8⌉ = 2 → 2h. P7 is not restored.
    expect(prod.timeToRestore).toEqual({ count: 2, medianSeconds: 1 * HOUR, p90Seconds: 2 * HOUR, failingSince: '2026-11-20T01:00:00.000Z' });
    // Rework: the restoring deployments P3 and P5, of 5.
    expect(prod.rework).toEqual({ count: 2 });
    expect(prod.reworkRate).toBe(0.4);

    // api changed in every promotion but P0, so its figures are the environment's.
    const api = component(prod, 'api');
    expect(api.deploymentFrequency.count).toBe(5);
    expect(api.leadTime).toEqual({ count: 4, medianSeconds: 2 * HOUR, p90Seconds: 36 * HOUR });
    expect(api.changes).toEqual({ count: 6, failed: 3 });
    expect(api.timeToRestore).toEqual({ count: 2, medianSeconds: 1 * HOUR, p90Seconds: 2 * HOUR, failingSince: '2026-11-20T01:00:00.000Z' });
    expect(api.reworkRate).toBe(0.4);

    // web changed once (P3, 0 → 1: lead time from R3, the first release holding web 1: 1h); it was
    // unchanged in the failures and in the rollback, so nothing of it failed or was restored.
    const web = component(prod, 'web');
    expect(web.deploymentFrequency.count).toBe(1);
    expect(web.deploymentFrequency.perDay).toBeCloseTo(1 / 30, 10);
    expect(web.leadTime).toEqual({ count: 1, medianSeconds: 1 * HOUR, p90Seconds: 1 * HOUR });
    expect(web.changes).toEqual({ count: 1, failed: 0 });
    expect(web.changeFailureRate).toBe(0);
    expect(web.timeToRestore).toEqual({ count: 0, medianSeconds: null, p90Seconds: null, failingSince: null });
    expect(web.rework).toEqual({ count: 0 });
    expect(web.reworkRate).toBe(0);

    // A window of the last 10 days (from 11-20T00:00) holds only P7: one failed change, no deployment.
    const late = env(await doraMetrics(deps, { since: '10d', component: 'api' }), 'prod');
    expect(late.deploymentFrequency).toEqual({ count: 0, perDay: 0 });
    expect(late.leadTime).toEqual({ count: 0, medianSeconds: null, p90Seconds: null });
    expect(late.changes).toEqual({ count: 1, failed: 1 });
    expect(late.changeFailureRate).toBe(1);
    expect(late.timeToRestore).toEqual({ count: 0, medianSeconds: null, p90Seconds: null, failingSince: '2026-11-20T01:00:00.000Z' });
    expect(late.reworkRate).toBeNull();
    expect(late.components.map((c) => c.component)).toEqual(['api']);

    // A window of 26 days (from 11-04T00:00) leaves out P1–P3; P4–P7 remain: deployments P4, P5, P6 = 3;
    // changes P4, P6, P7 with P4 and P7 failed = 2/3; lead times R4 10h, R5 36h → median rank 1 = 10h,
    // p90 rank 2 = 36h; restore P4 → P5 1h; rework P5 = 1/3.
    const mid = env(await doraMetrics(deps, { since: '26d', environment: 'prod' }), 'prod');
    expect(mid.deploymentFrequency.count).toBe(3);
    expect(mid.deploymentFrequency.perDay).toBeCloseTo(3 / 26, 10);
    expect(mid.changes).toEqual({ count: 3, failed: 2 });
    expect(mid.changeFailureRate).toBeCloseTo(2 / 3, 10);
    expect(mid.leadTime).toEqual({ count: 2, medianSeconds: 10 * HOUR, p90Seconds: 36 * HOUR });
    expect(mid.timeToRestore.medianSeconds).toBe(1 * HOUR);
    expect(mid.reworkRate).toBeCloseTo(1 / 3, 10);
  });

  it('an empty record gives nulls, and a single deployment gives its own figures', async () => {
    project = testProject(CONFIG);
    const clock = new TestClock();
    const deps = await project.deps({ clock });
    clock.set('2026-11-30T00:00:00Z');
    const empty = env(await doraMetrics(deps), 'prod');
    expect(empty).toEqual({
      environment: 'prod',
      deploymentFrequency: { count: 0, perDay: 0 },
      leadTime: { count: 0, medianSeconds: null, p90Seconds: null },
      changeFailureRate: null,
      changes: { count: 0, failed: 0 },
      timeToRestore: { count: 0, medianSeconds: null, p90Seconds: null, failingSince: null },
      reworkRate: null,
      rework: { count: 0 },
      components: expect.any(Array) as unknown,
    });
    expect(empty.components.map((c) => c.reworkRate)).toEqual([null, null]);

    // One deployment 90 minutes after its release: lead time 5400 s both as median and p90.
    const r1 = await release(deps, clock, '2026-12-01T00:00:00Z', { api: '1', web: '1' });
    await promoteAt(deps, clock, '2026-12-01T01:30:00Z', r1, 'succeeded');
    clock.set('2026-12-02T00:00:00Z');
    const one = env(await doraMetrics(deps, { since: '1d' }), 'prod');
    expect(one.deploymentFrequency).toEqual({ count: 1, perDay: 1 });
    expect(one.leadTime).toEqual({ count: 1, medianSeconds: 5400, p90Seconds: 5400 });
    expect(one.changeFailureRate).toBe(0);
    expect(one.timeToRestore.medianSeconds).toBeNull();
    expect(one.reworkRate).toBe(0);
    // The window's start is included: from 2026-12-01T01:30:00Z exactly (22h30m back) it still counts.
    expect(env(await doraMetrics(deps, { since: '22h30m' }), 'prod').deploymentFrequency.count).toBe(1);
    expect(env(await doraMetrics(deps, { since: '22h29m' }), 'prod').deploymentFrequency.count).toBe(0);
  });

  it('a promotion that failed before anything applied changed nothing: no change, no failure, nothing to restore', async () => {
    // api's plan command fails, during the run only, for a version ending in -noplan: its step fails
    // in its plan phase, before apply.
    project = testProject(`project: shop
environments:
  prod: {}
components:
  api:
${commandComponent({ extra: '      plan: ["./plan.sh", "${{ version }}"]' })}
`);
    project.write('plan.sh', '#!/bin/sh\ncase "$1" in *-noplan) [ -n "$LOCKSTEP_PROMOTION" ] && { echo "cannot plan $1" >&2; exit 1; } ;; esac\necho "deploy $1"\n', true);
    const clock = new TestClock();
    const deps = await project.deps({ clock });
    const r1 = await release(deps, clock, '2026-12-01T00:00:00Z', { api: '1' });
    await promoteAt(deps, clock, '2026-12-01T01:00:00Z', r1, 'succeeded');
    const r2 = await release(deps, clock, '2026-12-01T02:00:00Z', { api: '2-noplan' });
    await promoteAt(deps, clock, '2026-12-01T03:00:00Z', r2, 'failed');
    const [failed] = await deps.store.listPromotions({ environment: 'prod', limit: 1 });
    expect((await deps.store.listSteps(failed?.id ?? '')).map((s) => [s.state, s.phase, s.applyStarted])).toEqual([['failed', 'plan', false]]);

    clock.set('2026-12-02T00:00:00Z');
    const prod = env(await doraMetrics(deps, { since: '1d' }), 'prod');
    expect(prod.deploymentFrequency.count).toBe(1);
    expect(prod.changes).toEqual({ count: 1, failed: 0 });
    expect(prod.changeFailureRate).toBe(0);
    expect(prod.timeToRestore.failingSince).toBeNull();
    expect(component(prod, 'api').changes).toEqual({ count: 1, failed: 0 });
  });

  it('refuses an unknown environment or component and a --since that is no duration, naming the flag', async () => {
    project = testProject(CONFIG);
    const deps = await project.deps();
    for (const [query, field] of [
      [{ environment: 'nope' }, '--env'],
      [{ component: 'nope' }, '--component'],
      [{ since: '90 days' }, '--since'],
      [{ since: '0d' }, '--since'],
    ] as const) {
      const error = await doraMetrics(deps, query).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).field).toBe(field);
    }
  });
});
