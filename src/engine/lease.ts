import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { PromotionOwner, PromotionRecord } from '../core/model.js';

/** How long a claim on a promotion holds without renewal, and how often it is renewed. */
export const LEASE_MS = 30_000;
export const LEASE_RENEW_MS = 10_000;

/**
 * How long a claim holds and how often it is renewed. A shorter lease means a dead server's
 * promotions are taken over sooner, and a server that cannot reach the store (or is paused) for
 * longer than the lease loses its promotions to another (its later commits are then fenced off).
 */
export interface LeaseTiming {
  leaseMs: number;
  renewMs: number;
}

export const DEFAULT_LEASE: LeaseTiming = { leaseMs: LEASE_MS, renewMs: LEASE_RENEW_MS };

/** The shortest lease `lockstep serve --lease` takes: renewals (a third of it) must not outrun a commit. */
export const MIN_LEASE_MS = 1_000;

/** A lease of `leaseMs`, renewed three times per lease, so two renewals may fail before it runs out. */
export function leaseTiming(leaseMs: number): LeaseTiming {
  return { leaseMs, renewMs: Math.max(1, Math.floor(leaseMs / 3)) };
}

export function newOwner(now: Date, lease: LeaseTiming = DEFAULT_LEASE): PromotionOwner {
  return {
    token: randomUUID(),
    host: hostname(),
    pid: process.pid,
    leaseUntil: new Date(now.getTime() + lease.leaseMs).toISOString(),
    renewedAt: now.toISOString(),
  };
}

export function renewed(owner: PromotionOwner, now: Date, lease: LeaseTiming = DEFAULT_LEASE): PromotionOwner {
  return { ...owner, leaseUntil: new Date(now.getTime() + lease.leaseMs).toISOString(), renewedAt: now.toISOString() };
}

/**
 * A promotion's owner is gone when its lease expired, or, on this host, when its process no longer
 * exists (so `resume` right after a kill does not wait for the lease).
 */
export function ownerIsGone(promotion: PromotionRecord, now: Date): boolean {
  const owner = promotion.owner;
  if (!owner) return true;
  if (Date.parse(owner.leaseUntil) < now.getTime()) return true;
  if (owner.host === hostname()) return !processAlive(owner.pid);
  return false;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
