import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/core/errors.js';
import { DEFAULT_LEASE, LEASE_MS, leaseTiming } from '../../src/engine/lease.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { gatedProject, until, type GatedProject } from '../helpers/gated-project.js';

// The lease length: 30 s by default, `lockstep serve --lease` for a server (the chaos test shortens it).

describe('the promotion lease', () => {
  it('is 30 s by default, renewed three times per lease', () => {
    expect(DEFAULT_LEASE).toStrictEqual({ leaseMs: LEASE_MS, renewMs: 10_000 });
    expect(LEASE_MS).toBe(30_000);
  });

  it('is renewed three times per lease whatever its length', () => {
    expect(leaseTiming(3000)).toStrictEqual({ leaseMs: 3000, renewMs: 1000 });
    expect(leaseTiming(1000)).toStrictEqual({ leaseMs: 1000, renewMs: 333 });
  });
});

describe('a runner whose lease another process took over (a replica paused past its lease)', () => {
  let project: GatedProject | undefined;
  afterEach(() => {
    project?.cleanup();
    project = undefined;
  });

  it('leaves the step command it waits on running for the new owner, starts nothing more, and commits nothing', async () => {
    const p = (project = gatedProject());
    // Renewed every 200 ms: the runner finds out quickly that its claim is gone.
    const deps = { ...(await p.deps()), lease: leaseTiming(600) };
    const { release } = await createRelease(deps, { set: ['a=2.0.0', 'b=2.0.0', 'c=2.0.0'] });
    let id: string | undefined;
    const run = promote(deps, release.id, 'dev', { onCreated: (created) => (id = created.id) });
    const outcome = run.then(
      (r) => r,
      (error: unknown) => error,
    );
    await until('a to be applying', () => (p.applies().includes('apply a 2.0.0') ? true : undefined));
    const promotionId = id as string;
    const current = await deps.store.getPromotion(promotionId);
    // What another replica's claim does once the lease has run out: a new token replaces this runner's.
    const thief = { token: 'the-other-replica', host: 'elsewhere', pid: 1, leaseUntil: new Date(Date.now() + 60_000).toISOString() };
    expect(await deps.store.claimPromotion(promotionId, thief, current.owner?.token)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 800));

    // The command is the new owner's now: it must still be running, and finish when let through.
    p.open('a', '2.0.0');
    p.open('b', '2.0.0');
    for (let i = 0; i < 100 && p.running('dev', 'a') === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(p.running('dev', 'a'), 'the command was stopped by the runner that lost its lease').toBe('2.0.0');
    const error = await outcome;
    expect(error).toBeInstanceOf(ConflictError);
    expect(String(error)).toMatch(/no longer owned by this process/);
    // Nothing after the takeover was committed by the old runner, and it started no further step.
    const steps = new Map((await deps.store.listSteps(promotionId)).map((s) => [s.component, s.state]));
    expect(steps.get('a')).toBe('running');
    expect(steps.get('b')).toBe('pending');
    expect((await deps.store.getPromotion(promotionId)).owner?.token).toBe('the-other-replica');
    expect(p.applies()).toEqual(['apply a 2.0.0']);
  }, 60_000);
});
