import { createHmac } from 'node:crypto';
import { canonicalJson, sha256Hex } from './canonical-json.js';

/**
 * A fingerprint of a value one component hands to another: equal values give equal fingerprints, so
 * a later plan can tell whether a consumer would receive something new. A sensitive value is never
 * stored, and a plain hash of a short secret can be reversed by guessing; it is fingerprinted with a
 * key kept outside the database (HMAC-SHA-256). Without a key, a sensitive value has no fingerprint.
 * Pure.
 */
export function inputFingerprint(value: unknown, sensitive: boolean, key: Uint8Array | undefined): string | undefined {
  const text = canonicalJson(value ?? null);
  if (!sensitive) return `sha256:${sha256Hex(text)}`;
  return key === undefined ? undefined : `hmac-sha256:${createHmac('sha256', key).update(text).digest('hex')}`;
}
