import { timingSafeEqual } from 'node:crypto';
import type { Role } from './access.js';
import { sha256Hex } from './canonical-json.js';

/**
 * API tokens: what the store keeps of one, and the pure parts of handling its text. A token's text
 * is shown once when it is made and never kept: the store holds its SHA-256, so a copy of the state
 * gives nobody a usable token. (Making the random text is the engine's: see engine/tokens.ts.)
 */

/** Every token's text starts so, which lets secret scanners and people recognise one. */
export const TOKEN_PREFIX = 'lst_';

/** `lst_` and 32 random bytes in base64url (43 characters, no padding). */
export const TOKEN_PATTERN = /^lst_[A-Za-z0-9_-]{43}$/;

/** Token names: what `token revoke NAME` and the audit log call a token. */
export const TOKEN_NAME_PATTERN = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
export const TOKEN_NAME_RULE = 'a token name is 1 to 64 characters: a-z, 0-9, and . _ @ - after the first';

/** A token as the store keeps it. Never holds the token's text. */
export interface TokenRecord {
  /** Unique among tokens not revoked; a revoked token's name may be given again. */
  name: string;
  /** Whom the token acts for (`--for`): the actor of everything done with it. */
  identity: string;
  /** Narrows what the identity may do (core/access.ts). */
  role?: Role;
  /** Narrows it to these environments. */
  environments?: string[];
  /** SHA-256 hex of the token's text. */
  hash: string;
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
}

/** A token as it may be shown: everything but the hash. */
export type TokenView = Omit<TokenRecord, 'hash'> & { state: TokenState };

export type TokenState = 'active' | 'expired' | 'revoked';

/** SHA-256 hex of a token's text: what the store keeps and looks tokens up by. Pure. */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

/**
 * Whether two token hashes (hex) are equal, in time that does not depend on where they differ. The
 * store finds a token by its hash; this confirms the match without a timing side channel. Pure.
 */
export function sameTokenHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === 32 && right.length === 32 && timingSafeEqual(left, right);
}

/** Revoked beats expired: a token revoked before it expired says so. `now` is ISO-8601 UTC. Pure. */
export function tokenState(record: Pick<TokenRecord, 'expiresAt' | 'revokedAt'>, now: string): TokenState {
  if (record.revokedAt !== undefined) return 'revoked';
  if (record.expiresAt !== undefined && record.expiresAt <= now) return 'expired';
  return 'active';
}

/** The record without its hash, with its state at `now`. Pure. */
export function tokenView(record: TokenRecord, now: string): TokenView {
  const { hash: _hash, ...rest } = record;
  return { ...rest, state: tokenState(record, now) };
}
