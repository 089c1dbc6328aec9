import { hkdfSync } from 'node:crypto';
import { InputError } from '../core/errors.js';
import type { SecretSource } from './secrets.js';

/**
 * The secret every server replica on a shared (PostgreSQL) state is given, in the environment or the
 * secrets file. The keys that must be the same on every replica are derived from it, so that no key
 * has to be copied between machines and none is ever written to the database: the fingerprint key
 * (sensitive inputs' fingerprints, engine/fingerprint-key.ts) and the key browser sessions are
 * sealed with (server/oidc/session-key.ts).
 */
export const SERVER_SECRET = 'LOCKSTEP_SERVER_SECRET';

/** Long enough that the keys derived from it cannot be guessed. */
const MIN_LENGTH = 32;

export type DerivedKey = 'fingerprint' | 'session';

/** The server secret, if set; InputError (never quoting it) when it is too short to derive keys from. */
export function serverSecret(secrets: SecretSource): string | undefined {
  const value = secrets.get(SERVER_SECRET);
  if (value === undefined || value === '') return undefined;
  if (value.length < MIN_LENGTH)
    throw new InputError(
      `${SERVER_SECRET} is ${value.length} characters long: it needs at least ${MIN_LENGTH} (for example: openssl rand -hex 32)`,
      SERVER_SECRET,
    );
  return value;
}

/** A 32-byte key for one purpose, the same wherever the same secret is given (HKDF-SHA-256). */
export function deriveKey(secret: string, purpose: DerivedKey): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'lockstep', `lockstep ${purpose} key v1`, 32));
}
