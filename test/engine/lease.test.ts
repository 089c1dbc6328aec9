import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { LEASE_MS, leaseMs, leaseRenewMs } from '../../src/engine/lease.js';

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
