import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { InputError } from '../core/errors.js';
import type { PromotionOwner, PromotionRecord } from '../core/model.js';

/** How long a claim on a promotion holds without renewal by default; it is renewed three times per lease. */
export const LEASE_MS = 30_000;

/**
 * The lease in force: LOCKSTEP_LEASE_MS when set (a whole number of milliseconds, at least 300), else
 * LEASE_MS. Every process sharing a store must use the same value: a shorter lease elsewhere would take
 * over promotions this process still runs. Tests and the chaos benchmark shorten it so that a paused
 * replica loses its promotions within seconds. Throws InputError naming the variable when it is malformed.
 */
export function leaseMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LOCKSTEP_LEASE_MS;
  if (raw === undefined || raw === '') return LEASE_MS;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < 300) {
    throw new InputError(`LOCKSTEP_LEASE_MS must be a whole number of milliseconds, at least 300, not ${JSON.stringify(raw)}`, 'LOCKSTEP_LEASE_MS');
  }
  return value;
}

/** How often a claim is renewed: three times per lease, so one failed renewal loses nothing. */
export function leaseRenewMs(env: NodeJS.ProcessEnv = process.env): number {
  return Math.floor(leaseMs(env) / 3);
}

export function newOwner(now: Date): PromotionOwner {
  return { token: randomUUID(), host: hostname(), pid: process.pid, leaseUntil: new Date(now.getTime() + leaseMs()).toISOString() };
}

export function renewed(owner: PromotionOwner, now: Date): PromotionOwner {
  return { ...owner, leaseUntil: new Date(now.getTime() + leaseMs()).toISOString() };
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
