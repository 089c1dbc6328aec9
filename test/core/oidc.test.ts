import { describe, expect, it } from 'vitest';
import {
  acceptedAudiences,
  isLoopbackUrl,
  personFromClaims,
  sameOidcConfig,
  type OidcConfig,
} from '../../src/core/oidc.js';

const CONFIG: OidcConfig = {
  issuer: 'https://login.example.com',
  clientId: 'lockstep',
  audience: [],
  scopes: ['openid', 'email'],
  groupsClaim: 'roles',
  emailClaim: 'upn',
  sessionLifetime: '8h',
};

describe('a person from a verified token', () => {
  it('reads the configured claims: the email claim names them, the groups claim is a list or one name', () => {
    expect(
      personFromClaims(CONFIG, { sub: 'u1', upn: ' Alice@Example.com ', roles: ['sre', 'sre', 3, '', 'dev'] }),
    ).toEqual({
      ok: true,
      person: { issuer: CONFIG.issuer, subject: 'u1', email: 'Alice@Example.com', groups: ['sre', 'dev'] },
    });
    expect(personFromClaims(CONFIG, { sub: 'u1', upn: 'a@example.com', roles: 'sre' })).toMatchObject({
      person: { groups: ['sre'] },
    });
    expect(personFromClaims(CONFIG, { sub: 'u1', upn: 'a@example.com', roles: { sre: true } })).toMatchObject({
      person: { groups: [] },
    });
  });

  it('refuses a token without sub or the email claim, or whose email the provider has not verified, quoting no value', () => {
    expect(personFromClaims(CONFIG, { upn: 'a@example.com' })).toEqual({
      ok: false,
      reason: 'the token has no sub claim',
    });
    expect(personFromClaims(CONFIG, { sub: 'u1', email: 'a@example.com' })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('no upn claim') as string,
    });
    const unverified = personFromClaims(CONFIG, {
      sub: 'u1',
      upn: 'secret-looking@example.com',
      email_verified: false,
    });
    expect(unverified.ok).toBe(false);
    expect(JSON.stringify(unverified)).not.toContain('secret-looking');
  });
});

describe('oidc settings', () => {
  it('accepts the web client, the CLI client and any configured audience', () => {
    expect(acceptedAudiences(CONFIG)).toEqual(['lockstep']);
    expect(acceptedAudiences({ ...CONFIG, cliClientId: 'lockstep-cli', audience: ['api://lockstep'] })).toEqual([
      'lockstep',
      'lockstep-cli',
      'api://lockstep',
    ]);
  });

  it('compares settings by value, whatever the order of their fields', () => {
    const reordered = Object.fromEntries(Object.entries(CONFIG).reverse()) as unknown as OidcConfig;
    expect(sameOidcConfig(CONFIG, reordered)).toBe(true);
    expect(sameOidcConfig(CONFIG, { ...CONFIG, clientId: 'other' })).toBe(false);
  });

  it('knows loopback hosts', () => {
    for (const url of ['http://127.0.0.1:8080', 'http://127.9.9.9', 'http://localhost', 'http://[::1]:1'])
      expect(isLoopbackUrl(new URL(url)), url).toBe(true);
    for (const url of ['http://login.example.com', 'http://127.0.0.1.nip.io', 'http://10.0.0.1'])
      expect(isLoopbackUrl(new URL(url)), url).toBe(false);
  });
});
