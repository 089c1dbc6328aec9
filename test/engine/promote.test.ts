import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditVerifier, type AuditEntry } from '../../src/core/audit.js';
import { canonicalJson, sha256Hex } from '../../src/core/canonical-json.js';
import type { PlannedStep, PromotionPlan, ReleaseRecord } from '../../src/core/model.js';
import { ConflictError, GateBlocked, InputError } from '../../src/core/errors.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { createRelease, promote, resume, rollbackEnvironment } from '../../src/engine/promote.js';
import { planPromotion } from '../../src/engine/planner.js';
import { cancelPromotion } from '../../src/engine/cancel.js';
import { lockstepAsync } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

const ENVS = `project: shop
environments:
  dev: {}
  staging: { after: [dev] }
  prod: { after: [staging] }
  halted: { onFailure: halt }
`;

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

async function audit(deps: EngineDeps): Promise<AuditEntry[]> {
  return deps.store.auditPage(0, 100_000);
}

async function release(deps: EngineDeps, versions: Record<string, string>): Promise<string> {
  return (await getRelease(deps, versions)).id;
}

async function getRelease(deps: EngineDeps, versions: Record<string, string>): Promise<ReleaseRecord> {
  return (await createRelease(deps, { set: Object.entries(versions).map(([c, v]) => `${c}=${v}`) })).release;
}

/** Start/end times per component, in ms, from the scripts' own timeline. */
function timeline(p: TestProject): Map<string, { start: number; end: number }> {
  const out = new Map<string, { start: number; end: number }>();
  for (const line of readFileSync(join(p.dir, 'timeline.log'), 'utf8').trim().split('\n')) {
    const [what, name, ns] = line.split(' ');
    const t = Number(BigInt(ns ?? '0') / 1_000_000n);
    const entry = out.get(name ?? '') ?? { start: 0, end: 0 };
    if (what === 'start') entry.start = t;
    else entry.end = t;
    out.set(name ?? '', entry);
  }
  return out;
}

describe('promote', () => {
  it('runs independent components in parallel and dependents only after their dependencies', async () => {
    // a, b, c independent; d after a and b; e after d.
    project = testProject(`${ENVS}components:
  a:
${commandComponent()}
  b:
${commandComponent()}
  c:
${commandComponent()}
  d:
${commandComponent({ dependsOn: ['a', 'b'] })}
  e:
${commandComponent({ dependsOn: ['d'] })}
`);
    const deps = await project.deps();
    const id = await release(deps, { a: '1', b: '1', c: '1', d: '1', e: '1' });
    process.env.STEP_SLEEP = '0.3';
    try {
      const result = await promote(deps, id, 'dev');
      expect(result.state).toBe('succeeded');
    } finally {
      delete process.env.STEP_SLEEP;
    }
    const t = timeline(project);
    const a = t.get('a')!, b = t.get('b')!, c = t.get('c')!, d = t.get('d')!, e = t.get('e')!;
    // The three roots overlapped: each started before the others ended.
    expect(Math.max(a.start, b.start, c.start)).toBeLessThan(Math.min(a.end, b.end, c.end));
    // Dependents waited.
    expect(d.start).toBeGreaterThanOrEqual(Math.max(a.end, b.end));
    expect(e.start).toBeGreaterThanOrEqual(d.end);
    for (const n of ['a', 'b', 'c', 'd', 'e']) expect(project.running('dev', n)).toBe('1');
  });

  it('never runs more steps at once than --concurrency', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    project = testProject(`${ENVS}components:\n${names.map((n) => `  ${n}:\n${commandComponent()}`).join('\n')}\n`);
    const deps = await project.deps();
    const id = await release(deps, Object.fromEntries(names.map((n) => [n, '1'])));
    process.env.STEP_SLEEP = '0.2';
    try {
      expect((await promote(deps, id, 'dev', { concurrency: 2 })).state).toBe('succeeded');
    } finally {
      delete process.env.STEP_SLEEP;
    }
    const spans = [...timeline(project).values()];
    const maxOverlap = Math.max(...spans.map((s) => spans.filter((o) => o.start <= s.start && o.end > s.start).length));
    expect(maxOverlap).toBeLessThanOrEqual(2);
    expect(maxOverlap).toBe(2);
  });

  it('passes typed outputs to dependents, and recorded outputs when the producer is unchanged', async () => {
    project = testProject(`${ENVS}components:
  iam:
    type: command
    with:
      apply: ["./iam.sh"]
    outputs:
      role_arn: { type: string, pattern: "^arn:aws:iam::[0-9]{12}:role/.+$" }
  api:
    type: command
    with:
      apply: ["./api.sh", "\${{ version }}"]
      env: { ROLE_ARN: "\${{ components.iam.outputs.role_arn }}" }
`);
    project.write('iam.sh', '#!/bin/sh\nprintf \'{"role_arn":"arn:aws:iam::123456789012:role/shop-%s","extra":1}\' "$LOCKSTEP_ENVIRONMENT" > "$LOCKSTEP_OUTPUTS"\n', true);
    project.write('api.sh', '#!/bin/sh\necho "$1 $ROLE_ARN" >> api.log\n', true);
    const deps = await project.deps();
    await promote(deps, await release(deps, { iam: '1', api: '1' }), 'dev');
    const second = await promote(deps, await release(deps, { iam: '1', api: '2' }), 'dev');
    expect(second.state).toBe('succeeded');
    const steps = await deps.store.listSteps(second.id);
    expect(steps.find((s) => s.component === 'iam')?.state).toBe('unchanged');
    expect(readFileSync(join(project.dir, 'api.log'), 'utf8').trim().split('\n')).toEqual([
      '1 arn:aws:iam::123456789012:role/shop-dev',
      '2 arn:aws:iam::123456789012:role/shop-dev',
    ]);
    // Undeclared outputs are dropped.
    const state = await deps.store.environmentState('dev');
    expect(state.find((s) => s.component === 'iam')?.outputs).toEqual({ role_arn: 'arn:aws:iam::123456789012:role/shop-dev' });
  });

  it('fails a step whose output breaks its declared schema before any dependent runs', async () => {
    project = testProject(`${ENVS}components:
  iam:
    type: command
    with: { apply: ["./iam.sh"] }
    outputs:
      role_arn: { type: string, pattern: "^arn:aws:iam::[0-9]{12}:role/.+$" }
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      env: { ROLE_ARN: "\${{ components.iam.outputs.role_arn }}" }
`);
    project.write('iam.sh', '#!/bin/sh\necho \'{"role_arn":"not-an-arn"}\' > "$LOCKSTEP_OUTPUTS"\n', true);
    const deps = await project.deps();
    const result = await promote(deps, await release(deps, { iam: '1', api: '1' }), 'dev');
    expect(result.state).toBe('failed');
    const steps = await deps.store.listSteps(result.id);
    expect(steps.find((s) => s.component === 'iam')?.error).toMatch(/role_arn "not-an-arn" does not match pattern/);
    expect(steps.find((s) => s.component === 'api')?.state).toBe('skipped');
    expect(project.applies()).toEqual([]);
  });

  it('on failure rolls back every reversible step that changed, dependents first, and names forward-only ones', async () => {
    project = testProject(`${ENVS}components:
  schema:
${commandComponent({ rollback: false })}
  api:
${commandComponent({ dependsOn: ['schema'] })}
  web:
${commandComponent({ dependsOn: ['api'] })}
  billing:
${commandComponent({ dependsOn: ['schema'] })}
`);
    const deps = await project.deps();
    await promote(deps, await release(deps, { schema: '1', api: '1', web: '1', billing: '1' }), 'dev');
    const bad = await promote(deps, await release(deps, { schema: '2', api: '2', web: '2', billing: '2-broken' }), 'dev', { concurrency: 1 });
    expect(bad.state).toBe('failed');
    const steps = new Map((await deps.store.listSteps(bad.id)).map((s) => [s.component, s]));
    expect(steps.get('billing')?.state).toBe('rolled-back');
    expect(steps.get('schema')?.state).toBe('succeeded'); // forward-only: left at the new version
    expect(bad.reason).toMatch(/left at the new version \(forward-only\): .*schema/);
    expect(project.running('dev', 'billing')).toBe('1');
    expect(project.running('dev', 'schema')).toBe('2');
    // Whatever ran of api/web before the failure was rolled back, web before api.
    const events = (await audit(deps)).filter((e) => e.promotionId === bad.id && e.kind === 'step.rolled-back').map((e) => e.component);
    if (events.includes('web') && events.includes('api')) expect(events.indexOf('web')).toBeLessThan(events.indexOf('api'));
    for (const c of ['api', 'web']) {
      const s = steps.get(c);
      if (s?.applyStarted) expect(s.state).toBe('rolled-back');
      else expect(s?.state).toBe('skipped');
      expect(project.running('dev', c)).toBe('1');
    }
    // The recorded state is back at the old versions for what was rolled back.
    const state = new Map((await deps.store.environmentState('dev')).map((s) => [s.component, s.version]));
    expect(state.get('billing')).toBe('1');
    expect(state.get('schema')).toBe('2');
  });

  it('cancelling stops running steps, and the rollback it triggers still runs', async () => {
    project = testProject(`${ENVS}components:\n  api:\n${commandComponent()}\n  web:\n${commandComponent({ dependsOn: ['api'] })}\n`);
    const deps = await project.deps();
    await promote(deps, await release(deps, { api: '1', web: '1' }), 'dev');
    process.env.STEP_SLEEP = '5';
    let result;
    try {
      result = await promote(deps, await release(deps, { api: '2', web: '2' }), 'dev', {
        onRunner: (runner) => setTimeout(() => runner.cancel('cancelled by the test'), 400),
      });
    } finally {
      delete process.env.STEP_SLEEP;
    }
    expect(result.state).toBe('failed');
    const steps = new Map((await deps.store.listSteps(result.id)).map((s) => [s.component, s]));
    expect(steps.get('api')).toMatchObject({ state: 'rolled-back', error: 'cancelled by the test' });
    expect(steps.get('web')?.state).toBe('skipped');
    expect(project.running('dev', 'api')).toBe('1');
    expect(result.reason).toMatch(/^api failed in apply: cancelled by the test; rolled back: api/);
  });

  it('cancelled while no step runs: nothing more starts, the promotion fails with the reason as its first failure', async () => {
    project = testProject(`${ENVS}components:\n  api:\n${commandComponent()}\n  web:\n${commandComponent({ dependsOn: ['api'] })}\n`);
    const deps = await project.deps();
    // Cancelled before its run begins: as a cancel that lands between two steps.
    const result = await promote(deps, await release(deps, { api: '1', web: '1' }), 'dev', {
      onRunner: (runner) => runner.cancel('cancelled by the test'),
    });
    expect(result.state).toBe('failed');
    expect(result.failure).toMatchObject({ phase: 'cancel', error: 'cancelled by the test' });
    expect(result.reason).toBe('cancelled by the test');
    expect((await deps.store.listSteps(result.id)).map((s) => [s.component, s.state])).toEqual([['api', 'skipped'], ['web', 'skipped']]);
    expect(project.applies()).toEqual([]);
  });

  it('a cancel requested while nobody runs the promotion (its process was killed mid-step) is acted on by whoever resumes it: the command left running is stopped, then rolled back', async () => {
    project = testProject(`${ENVS}components:\n  api:\n${commandComponent()}\n`);
    const deps = await project.deps();
    await promote(deps, await release(deps, { api: '1' }), 'dev');
    const two = await release(deps, { api: '2' });
    // The step sleeps far longer than the test: waited for instead of stopped, the test would time out.
    const child = lockstepAsync(project.dir, ['promote', two, '--to', 'dev'], { STEP_SLEEP: '600' });
    let id: string | undefined;
    while (id === undefined) {
      const [p] = await deps.store.listPromotions({ environment: 'dev', states: ['running'] });
      const [step] = p ? await deps.store.listSteps(p.id) : [];
      if (p && step?.phase === 'apply' && project.applies().length === 2) id = p.id;
      else await new Promise((r) => setTimeout(r, 20));
    }
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;

    const asked = await cancelPromotion({ ...deps, actor: 'bob@example.com' }, id, 'too slow');
    expect(asked.state).toBe('running');
    expect((await audit(deps)).filter((e) => e.kind === 'promotion.cancel-requested')).toMatchObject([
      { actor: 'bob@example.com', promotionId: id, data: { reason: 'too slow', owner: { pid: child.pid } } },
    ]);
    const [result] = await resume(deps, id);
    expect(result?.state).toBe('failed');
    expect(result?.reason).toBe('api failed in apply: cancelled by bob@example.com: too slow; rolled back: api');
    expect((await deps.store.listSteps(id))[0]).toMatchObject({ state: 'rolled-back', error: 'cancelled by bob@example.com: too slow' });
    expect(project.running('dev', 'api')).toBe('1');
    const logs = (await deps.store.stepLogs(id, 'api')).map((l) => l.line);
    expect(logs).toContain('stopped 1 process(es) left running before the restart: the promotion was cancelled');
  }, 60_000);

  it('a step whose program cannot even start changed nothing: no rollback, not reported as left behind', async () => {
    project = testProject(`${ENVS}components:\n  api:\n    type: command\n    with: { apply: ["./missing.sh"] }\n`);
    const deps = await project.deps();
    const result = await promote(deps, await release(deps, { api: '1' }), 'dev');
    expect(result.state).toBe('failed');
    const [step] = await deps.store.listSteps(result.id);
    expect(step).toMatchObject({ state: 'failed', applyStarted: false });
    expect(step?.error).toMatch(/not found: \.\/missing\.sh/);
    expect(result.reason).not.toMatch(/left at the new version/);
  });

  it('with onFailure: halt leaves everything as it is', async () => {
    project = testProject(`${ENVS}components:
  api:
${commandComponent()}
  billing:
${commandComponent()}
`);
    const deps = await project.deps();
    await promote(deps, await release(deps, { api: '1', billing: '1' }), 'halted');
    const bad = await promote(deps, await release(deps, { api: '2', billing: '2-broken' }), 'halted');
    expect(bad.state).toBe('failed');
    expect(project.running('halted', 'billing')).toBe('2-broken');
    expect(project.running('halted', 'api')).toBe('2');
    expect((await deps.store.listSteps(bad.id)).map((s) => s.state).sort()).toEqual(['failed', 'succeeded']);
  });

  it('refuses a release that has not succeeded in every `after` environment, naming them', async () => {
    project = testProject(`${ENVS}components:\n  api:\n${commandComponent()}\n`);
    const deps = await project.deps();
    const id = await release(deps, { api: '1' });
    await expect(promote(deps, id, 'staging')).rejects.toThrow(GateBlocked);
    await expect(promote(deps, id, 'prod')).rejects.toThrow(/not succeeded in staging/);
    await promote(deps, id, 'dev');
    expect((await promote(deps, id, 'staging')).state).toBe('succeeded');
    expect(await deps.store.listPromotions({ environment: 'prod' })).toEqual([]);
  });

  it('refuses a second promotion to a busy environment, naming the running one', async () => {
    project = testProject(`${ENVS}components:\n  api:\n${commandComponent()}\n`);
    const deps = await project.deps({ actor: 'alice@example.com' });
    const other = await project.deps({ actor: 'bob@example.com' }); // a second connection, as another process would have
    const id = await release(deps, { api: '1' });
    process.env.STEP_SLEEP = '0.5';
    try {
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const first = promote(deps, id, 'dev', { onCreated: () => started() });
      await running;
      const error = await promote(other, id, 'dev').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toMatch(/environment dev is busy: promotion [0-9a-f]{12} .*started by alice@example.com at \d{4}-/);
      expect((await first).state).toBe('succeeded');
    } finally {
      delete process.env.STEP_SLEEP;
    }
  });

  it('plans per component: current → target, apply or unchanged, reversibility, dependencies and levels', async () => {
    project = testProject(`${ENVS}components:
  schema:
${commandComponent({ rollback: false })}
  api:
${commandComponent({ dependsOn: ['schema'] })}
`);
    const deps = await project.deps();
    await promote(deps, await release(deps, { schema: '1', api: '1' }), 'dev');
    const r = await deps.store.getRelease(await release(deps, { schema: '2', api: '1' }));
    const { plan } = await planPromotion(deps, r, 'dev');
    expect(plan.levels).toEqual([['schema'], ['api']]);
    const [schema, api] = plan.steps;
    expect(schema).toMatchObject({ component: 'schema', fromVersion: '1', toVersion: '2', action: 'apply', reversible: false, level: 0 });
    expect(api).toMatchObject({ component: 'api', fromVersion: '1', toVersion: '1', action: 'unchanged', dependsOn: ['schema'], level: 1 });
    expect(plan.irreversible).toBe(true);
    expect(plan.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rollback --env promotes the release that ran before, recorded as a rollback', async () => {
    project = testProject(`${ENVS}components:\n  api:\n${commandComponent()}\n`);
    const deps = await project.deps();
    const r1 = await release(deps, { api: '1' });
    const r2 = await release(deps, { api: '2' });
    const p1 = await promote(deps, r1, 'dev');
    const p2 = await promote(deps, r2, 'dev');
    const rb = await rollbackEnvironment(deps, 'dev');
    expect(rb).toMatchObject({ kind: 'rollback', releaseId: r1, state: 'succeeded', rollbackOf: p2.id });
    expect(p1.releaseId).toBe(r1);
    expect(project.running('dev', 'api')).toBe('1');
  });

  it('keeps secrets out of the store, the audit log and error messages', async () => {
    project = testProject(`${ENVS}components:
  api:
    type: command
    with:
      apply: ["./leak.sh", "\${{ secrets.DB_PASSWORD }}"]
`);
    project.write('leak.sh', '#!/bin/sh\necho "connecting with $1"\necho "{\\"dsn\\": \\"postgres://u:$1@db\\"}" > "$LOCKSTEP_OUTPUTS"\necho "failed with password $1" >&2\nexit 3\n', true);
    const secret = 's3cr3t-Value-42';
    const lines: string[] = [];
    const deps = await project.deps({ env: { DB_PASSWORD: secret }, observer: { log: (_c, l) => lines.push(l) } });
    const result = await promote(deps, await release(deps, { api: '1' }), 'dev');
    expect(result.state).toBe('failed');
    expect(lines.join('\n')).toContain('connecting with ***');
    const logs = await deps.store.stepLogs(result.id, 'api');
    expect(logs.map((l) => l.line).sort()).toEqual(['connecting with ***', 'failed with password ***']);
    const everything = JSON.stringify([await audit(deps), await deps.store.listSteps(result.id), result, logs]);
    expect(everything).toContain('failed with password ***');
    expect(everything).not.toContain(secret);
    const db = readFileSync(join(project.dir, '.lockstep', 'state.db'));
    expect(db.includes(Buffer.from(secret))).toBe(false);
  });

  it('an unset secret is an error at plan time naming it, and nothing is recorded', async () => {
    project = testProject(`${ENVS}components:
  api:
    type: command
    with: { apply: ["./deploy.sh", "\${{ secrets.API_TOKEN }}"] }
`);
    const deps = await project.deps();
    const id = await release(deps, { api: '1' });
    const before = (await audit(deps)).length;
    await expect(promote(deps, id, 'dev')).rejects.toThrow(InputError);
    await expect(promote(deps, id, 'dev')).rejects.toThrow(/API_TOKEN is not set/);
    expect((await audit(deps)).length).toBe(before);
    expect(await deps.store.listPromotions()).toEqual([]);
  });

  it('writes an intact audit chain covering the whole promotion', async () => {
    project = testProject(`${ENVS}components:\n  api:\n${commandComponent()}\n  web:\n${commandComponent({ dependsOn: ['api'] })}\n`);
    const deps = await project.deps();
    const p = await promote(deps, await release(deps, { api: '1', web: '1' }), 'dev');
    const entries = await audit(deps);
    const v = new AuditVerifier();
    for (const e of entries) v.push(e);
    expect(v.result().ok).toBe(true);
    expect(entries.filter((e) => e.promotionId === p.id).map((e) => `${e.kind}${e.component ? ' ' + e.component : ''}`)).toEqual([
      'promotion.requested',
      'promotion.started',
      'step.started api',
      'step.succeeded api',
      'step.started web',
      'step.succeeded web',
      'promotion.finished',
    ]);
    expect(entries.map((e) => e.kind)).toContain('config.loaded');
    expect(entries.every((e) => e.actor === 'tester@example.com')).toBe(true);
  });
});

describe('resume', () => {
  it('after a restart with a step already failed, starts no new step and rolls back what changed', async () => {
    project = testProject(`${ENVS}components:\n  a:\n${commandComponent()}\n  b:\n${commandComponent()}\n`);
    const deps = await project.deps();
    await promote(deps, await release(deps, { a: '1', b: '1' }), 'dev');
    // The state a process leaves when it dies right after recording a's failure: a failed (it had
    // started applying and the system runs 2), b still pending, the promotion still running.
    const r2 = await release(deps, { a: '2', b: '2' });
    const planned = await planPromotion(deps, await deps.store.getRelease(r2), 'dev');
    const current = new Map(planned.current.map((c) => [c.component, c]));
    const id = 'f'.repeat(32);
    const now = new Date().toISOString();
    await deps.store.commit({
      createPromotion: {
        lock: true,
        record: {
          id, project: 'shop', releaseId: r2, environment: 'dev', kind: 'promotion', state: 'running',
          requestedBy: 'tester@example.com', requestedAt: now, startedAt: now, configDigest: deps.loaded.digest,
          plan: planned.plan, concurrency: 8, onFailure: 'rollback',
        },
      },
      steps: ['a', 'b'].map((c) => {
        const cur = current.get(c)!;
        return {
          promotionId: id, component: c, environment: 'dev', state: c === 'a' ? 'failed' : 'pending', action: 'apply',
          fromVersion: '1', toVersion: '2', reversible: true, applyStarted: c === 'a', attempts: c === 'a' ? 1 : 0,
          idempotencyKey: `${id}:${c}`, error: c === 'a' ? 'verify failed' : undefined,
          previous: { version: cur.version, releaseId: cur.releaseId, configDigest: cur.configDigest, outputs: cur.outputs },
        } as const;
      }),
      audit: [],
    });
    project.write('systems/dev/a', '2\n');
    const [result] = await resume(deps, undefined);
    expect(result?.state).toBe('failed');
    const steps = new Map((await deps.store.listSteps(id)).map((s) => [s.component, s.state]));
    expect(steps.get('a')).toBe('rolled-back');
    expect(steps.get('b')).toBe('skipped');
    expect(project.running('dev', 'a')).toBe('1');
    expect(project.applies().filter((l) => l.includes(' b 2 '))).toEqual([]);
  });
});

describe('typed handoffs at run time', () => {
  it('re-applies an unchanged consumer when an output it consumes changed in the same promotion', async () => {
    project = testProject(`${ENVS}components:
  infra:
    type: command
    with: { apply: ["./infra.sh", "\${{ version }}"] }
    outputs:
      url: { type: string }
  api:
    type: command
    with:
      apply: ["./api.sh", "\${{ version }}"]
      env: { URL: "\${{ components.infra.outputs.url }}" }
  web:
    type: command
    with: { apply: ["./api.sh", "\${{ version }}"] }
`);
    project.write('infra.sh', '#!/bin/sh\nprintf \'{"url":"https://infra-%s.example.com"}\' "$1" > "$LOCKSTEP_OUTPUTS"\n', true);
    project.write('api.sh', '#!/bin/sh\necho "$LOCKSTEP_COMPONENT $1 ${URL:-}" >> api.log\n', true);
    const deps = await project.deps();
    await promote(deps, await release(deps, { infra: '1', api: '1', web: '1' }), 'dev');
    const p2 = await promote(deps, await release(deps, { infra: '2', api: '1', web: '1' }), 'dev');
    expect(p2.state).toBe('succeeded');
    const steps = new Map((await deps.store.listSteps(p2.id)).map((s) => [s.component, s]));
    expect(steps.get('api')).toMatchObject({ state: 'succeeded', action: 'apply' });
    expect(steps.get('web')?.state).toBe('unchanged');
    expect(readFileSync(join(project.dir, 'api.log'), 'utf8').trim().split('\n')).toEqual([
      expect.stringMatching(/^(api 1 https:\/\/infra-1\.example\.com|web 1 )$/),
      expect.stringMatching(/^(api 1 https:\/\/infra-1\.example\.com|web 1 )$/),
      'api 1 https://infra-2.example.com',
    ]);
    // Same output value again: nothing to do for api.
    const p3 = await promote(deps, await release(deps, { infra: '2', api: '1', web: '2' }), 'dev');
    expect((await deps.store.listSteps(p3.id)).find((s) => s.component === 'api')?.state).toBe('unchanged');
  });
});

describe('consumers planned against their producers\' planned outputs', () => {
  it('applies an unchanged consumer only when a value it consumes changes or is unknown, and records what it was applied with', async () => {
    project = testProject(`${ENVS}components:
  infra:
    type: command
    with:
      plan: ["./infra-plan.sh", "\${{ version }}"]
      apply: ["./infra.sh", "\${{ version }}"]
    outputs:
      url: { type: string }
  api:
    type: command
    with:
      apply: ["./api.sh", "\${{ version }}"]
      env: { URL: "\${{ components.infra.outputs.url }}" }
`);
    // The URL follows the major version (1.x → infra-1); the plan script predicts it unless told not to.
    const url = 'printf \'{"url":"https://infra-%s.example.com"}\' "${1%%.*}" > "$LOCKSTEP_OUTPUTS"';
    project.write('infra.sh', `#!/bin/sh\n${url}\n`, true);
    project.write('infra-plan.sh', `#!/bin/sh\n[ -f no-prediction ] || ${url}\n`, true);
    project.write('api.sh', '#!/bin/sh\necho "$LOCKSTEP_COMPONENT $1 ${URL:-}" >> api.log\n', true);
    const deps = await project.deps();
    await promote(deps, await release(deps, { infra: '1.0', api: '1' }), 'dev');
    expect((await deps.store.environmentState('dev')).find((s) => s.component === 'api')?.inputs).toEqual({
      'infra.outputs.url': `sha256:${sha256Hex(canonicalJson('https://infra-1.example.com'))}`,
    });

    const stepOf = (plan: PromotionPlan, c: string): PlannedStep | undefined => plan.steps.find((s) => s.component === c);
    // Same URL predicted: api is left alone.
    const same = (await planPromotion(deps, await getRelease(deps, { infra: '1.1', api: '1' }), 'dev')).plan;
    expect(stepOf(same, 'api')).toMatchObject({ action: 'unchanged', inputs: [{ producer: 'infra', output: 'url', state: 'known', value: 'https://infra-1.example.com' }] });
    // Another URL predicted: api is applied, and says why.
    const changed = (await planPromotion(deps, await getRelease(deps, { infra: '2.0', api: '1' }), 'dev')).plan;
    expect(stepOf(changed, 'api')).toMatchObject({ action: 'apply', reason: 'infra.outputs.url changes (same version and configuration)' });
    expect(changed.unknowns).toBeUndefined();
    // Nothing predicted: the URL is known only after infra applies, so api is applied in case it changes.
    project.write('no-prediction', '');
    const unknown = (await planPromotion(deps, await getRelease(deps, { infra: '1.1', api: '1' }), 'dev')).plan;
    expect(stepOf(unknown, 'api')).toMatchObject({ action: 'apply', inputs: [{ producer: 'infra', output: 'url', state: 'unknown' }] });
    expect(stepOf(unknown, 'api')?.reason).toContain('infra.outputs.url is known only after infra applies');
    expect(unknown.unknowns).toEqual([{ consumer: 'api', field: 'with.env.URL', producer: 'infra', output: 'url' }]);
    // The digest covers the unknowns: the same plan with every value known is another plan.
    expect(unknown.digest).not.toBe(same.digest);
  });
});

describe('when the adapter finds the system already at the target', () => {
  it('records the component at the target version, though nothing was applied', async () => {
    // dev and staging share one SQLite database: after dev migrated it, staging's plan finds it
    // already at the target version.
    project = testProject(`project: shop
environments:
  dev: {}
  staging: {}
components:
  schema:
    type: sql-migrations
    with: { url: "sqlite:shared.db", dir: migrations }
`);
    project.write('migrations/1_orders.up.sql', 'CREATE TABLE orders (id INTEGER PRIMARY KEY);\n');
    project.write('migrations/1_orders.down.sql', 'DROP TABLE orders;\n');
    const deps = await project.deps();
    const id = await release(deps, { schema: '1' });
    expect((await promote(deps, id, 'dev')).state).toBe('succeeded');
    const staging = await promote(deps, id, 'staging');
    expect(staging.state).toBe('succeeded');
    expect((await deps.store.listSteps(staging.id))[0]?.state).toBe('unchanged');
    expect((await deps.store.environmentState('staging')).map((s) => [s.component, s.version])).toEqual([['schema', '1']]);
  });
});

describe('late-bound templates', () => {
  it("leaves an http poll URL's ${{ response.* }} for the adapter, and validates the rest", async () => {
    const config = (root: string): string => `project: shop
environments:
  dev: { vars: { ci: "http://127.0.0.1:9" } }
components:
  job:
    type: http
    with:
      request: { method: POST, url: "\${{ env.vars.ci }}/runs" }
      poll: { url: "\${{ env.vars.ci }}/runs/\${{ ${root}.id }}", success: "response.done" }
`;
    project = testProject(config('response'));
    const deps = await project.deps();
    const { renderSpec, componentScope, componentsScope } = await import('../../src/engine/render.js');
    const { Redactor } = await import('../../src/core/redact.js');
    const r = await deps.store.getRelease(await release(deps, { job: '1' }));
    const scope = componentScope({
      environment: 'dev', vars: { ci: 'http://127.0.0.1:9' }, release: r, component: 'job', previousVersion: undefined,
      components: componentsScope(deps.loaded.config, r, () => undefined), secrets: deps.secrets, redactor: new Redactor(),
    });
    const spec = renderSpec(deps.adapters.get('http')!, 'job', deps.loaded.config.components.job!.with, scope) as { poll: { url: string } };
    expect(spec.poll.url).toBe('http://127.0.0.1:9/runs/${{ response.id }}');
    // Anything else in that field is still a config reference, checked by validate.
    const { loadConfig } = await import('../../src/core/config/load-config.js');
    expect(() => loadConfig(config('responze'), 'lockstep.yaml', deps.adapters)).toThrow(/responze/);
  });
});
