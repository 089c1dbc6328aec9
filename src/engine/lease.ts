import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { PromotionOwner, PromotionRecord } from '../core/model.js';

/** How long a claim on a promotion holds without renewal, and how often it is renewed. */
export const LEASE_MS = 30_000;
export const LEASE_RENEW_MS = 10_000;

export function newOwner(now: Date): PromotionOwner {
  return { token: randomUUID(), host: hostname(), pid: process.pid, leaseUntil: new Date(now.getTime() + LEASE_MS).toISOString() };
}

export function renewed(owner: PromotionOwner, now: Date): PromotionOwner {
  return { ...owner, leaseUntil: new Date(now.getTime() + LEASE_MS).toISOString() };
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
