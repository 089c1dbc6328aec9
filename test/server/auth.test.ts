import { describe, expect, it } from 'vitest';
import { sha256hex, tokenAuthenticator, type TokenLookup, type TokenRecordLike } from '../../src/server/auth.js';

// tokenAuthenticator against an in-memory token table: the Store port gains findTokenByHash with
// the token work; the authenticator only needs that one method.
function table(records: TokenRecordLike[]): TokenLookup & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    findTokenByHash: (hash) => {
      asked.push(hash);
      return Promise.resolve(records.find((r) => r.hash === hash));
    },
  };
}

const NOW = new Date('2026-12-07T10:00:00Z');

describe('tokenAuthenticator', () => {
  it('finds a token by the SHA-256 of what was sent and gives the identity it acts for, naming the token, never its secret', async () => {
    const store = table([
      {
        name: 'alice-ci',
        identity: 'alice@example.com',
        role: 'releaser',
        environments: ['dev'],
        hash: sha256hex('s3cret-token'),
      },
    ]);
    const identity = await tokenAuthenticator(store, () => NOW)('s3cret-token');
    expect(identity).toEqual({
      name: 'alice@example.com',
      via: { kind: 'token', token: 'alice-ci' },
      role: 'releaser',
      environments: ['dev'],
    });
    expect(store.asked).toEqual([sha256hex('s3cret-token')]);
    expect(store.asked[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(identity)).not.toContain('s3cret-token');
  });

  it('refuses an unknown, a revoked and an expired token; one expiring later is accepted', async () => {
    const store = table([
      { name: 'revoked', identity: 'a@example.com', hash: sha256hex('r'), revokedAt: '2026-12-01T00:00:00Z' },
      { name: 'expired', identity: 'b@example.com', hash: sha256hex('e'), expiresAt: '2026-12-07T09:59:59Z' },
      { name: 'later', identity: 'c@example.com', hash: sha256hex('l'), expiresAt: '2026-12-07T10:00:01Z' },
    ]);
    const authenticate = tokenAuthenticator(store, () => NOW);
    expect(await authenticate('unknown')).toBeUndefined();
    expect(await authenticate('r')).toBeUndefined();
    expect(await authenticate('e')).toBeUndefined();
    expect((await authenticate('l'))?.name).toBe('c@example.com');
  });
});
