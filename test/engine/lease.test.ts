import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, InputError } from '../../src/core/errors.js';
import { LEASE_MS, leaseMs, leaseRenewMs } from '../../src/engine/lease.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { gatedProject, until, type GatedProject } from '../helpers/gated-project.js';

// The lease length every replica uses: the default, or LOCKSTEP_LEASE_MS (the chaos test shortens it).

describe('the promotion lease', () => {
  it('is 30 s by default, renewed three times per lease', () => {
    expect(leaseMs({})).toBe(LEASE_MS);
    expect(LEASE_MS).toBe(30_000);
    expect(leaseRenewMs({})).toBe(10_000);
  });

  it('takes LOCKSTEP_LEASE_MS', () => {
    expect(leaseMs({ LOCKSTEP_LEASE_MS: '3000' })).toBe(3000);
    expect(leaseRenewMs({ LOCKSTEP_LEASE_MS: '3000' })).toBe(1000);
  });

  it.each(['3s', '-5', '1.5', '100', 'abc'])('refuses LOCKSTEP_LEASE_MS=%s, naming the variable', (raw) => {
    expect(() => leaseMs({ LOCKSTEP_LEASE_MS: raw })).toThrow(InputError);
    expect(() => leaseMs({ LOCKSTEP_LEASE_MS: raw })).toThrow(/LOCKSTEP_LEASE_MS must be a whole number of milliseconds, at least 300/);
  });
});

describe('a runner whose lease another process took over (a replica paused past its lease)', () => {
  let project: GatedProject | undefined;
  afterEach(() => {
    delete process.env.LOCKSTEP_LEASE_MS;
    project?.cleanup();
    project = undefined;
  });

  it('leaves the step command it waits on running for the new owner, starts nothing more, and commits nothing', async () => {
    const p = (project = gatedProject());
    const deps = await p.deps();
    const { release } = await createRelease(deps, { set: ['a=2.0.0', 'b=2.0.0', 'c=2.0.0'] });
    // Renewed every 200 ms: the runner finds out quickly that its claim is gone.
    process.env.LOCKSTEP_LEASE_MS = '600';
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
