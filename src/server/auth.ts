import { createHash } from 'node:crypto';
import type { Identity, Role } from '../core/access.js';

/**
 * A stored API token, as the token commands record it: only the SHA-256 of the token is kept.
 * (The Store port gains `findTokenByHash` with the token work; until then the server is typed by the
 * subset it uses, as Kysely types a driver's client.)
 */
export interface TokenRecordLike {
  name: string;
  /** Whom the token acts for: the actor. */
  identity: string;
  role?: Role;
  environments?: string[];
  hash: string;
  expiresAt?: string;
  revokedAt?: string;
}

export interface TokenLookup {
  findTokenByHash(hash: string): Promise<TokenRecordLike | undefined>;
}

export function sha256hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Authenticates a bearer token against the stored tokens: found by the hash of what was sent (so the
 * lookup itself compares hashes, never the token), refused when revoked or expired. The identity
 * names the token, never its secret.
 */
export function tokenAuthenticator(
  store: TokenLookup,
  now: () => Date = () => new Date(),
): (bearer: string) => Promise<Identity | undefined> {
  return async (bearer) => {
    const record = await store.findTokenByHash(sha256hex(bearer));
    if (record === undefined) return undefined;
    if (record.revokedAt !== undefined) return undefined;
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now().getTime()) return undefined;
    return {
      name: record.identity,
      via: { kind: 'token', token: record.name },
      ...(record.role !== undefined ? { role: record.role } : {}),
      ...(record.environments !== undefined ? { environments: record.environments } : {}),
    };
  };
}
