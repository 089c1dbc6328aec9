import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { hashToken, sameTokenHash, tokenState, tokenView, TOKEN_PATTERN, type TokenRecord } from '../../src/core/tokens.js';

describe('token text and hashes', () => {
  it('hashes a token as the SHA-256 hex of its text', () => {
    expect(hashToken('lst_abc')).toBe(sha256Hex('lst_abc'));
    expect(hashToken('lst_abc')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('compares hashes exactly, and refuses anything that is not a 32-byte hash', () => {
    const a = hashToken('one');
    expect(sameTokenHash(a, a)).toBe(true);
    expect(sameTokenHash(a, hashToken('two'))).toBe(false);
    expect(sameTokenHash(a, a.toUpperCase())).toBe(true); // hex is hex
    expect(sameTokenHash('', '')).toBe(false);
    expect(sameTokenHash(a.slice(0, 62), a.slice(0, 62))).toBe(false);
  });

  it('knows the shape of a token: lst_ and 43 base64url characters', () => {
    expect(TOKEN_PATTERN.test(`lst_${Buffer.alloc(32, 255).toString('base64url')}`)).toBe(true);
    expect(TOKEN_PATTERN.test(`lst_${Buffer.alloc(32).toString('base64')}`)).toBe(false); // padding
    expect(TOKEN_PATTERN.test(`xyz_${Buffer.alloc(32).toString('base64url')}`)).toBe(false);
  });
});

describe('token state', () => {
  const record: TokenRecord = { name: 'ci', identity: 'ci', hash: hashToken('t'), createdAt: '2026-01-01T00:00:00.000Z', createdBy: 'a' };

  it('is active until it expires, expired from that instant on, and revoked beats expired', () => {
    const expiring = { ...record, expiresAt: '2026-02-01T00:00:00.000Z' };
    expect(tokenState(expiring, '2026-01-31T23:59:59.999Z')).toBe('active');
    expect(tokenState(expiring, '2026-02-01T00:00:00.000Z')).toBe('expired');
    expect(tokenState({ ...expiring, revokedAt: '2026-01-15T00:00:00.000Z' }, '2026-03-01T00:00:00.000Z')).toBe('revoked');
    expect(tokenState(record, '2099-01-01T00:00:00.000Z')).toBe('active');
  });

  it('a view never holds the hash', () => {
    const view = tokenView(record, '2026-01-02T00:00:00.000Z');
    expect('hash' in view).toBe(false);
    expect(view.state).toBe('active');
  });
});
