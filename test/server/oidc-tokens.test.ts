import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerTokens, startSignInServer, type SignInServer } from '../helpers/oidc-server.js';

// The provider's own tokens as bearer tokens, against a real OpenID provider on loopback: an ID
// token and a JWT access token are accepted; a forged, expired, not-yet-valid, wrong-audience or
// wrong-issuer token, one without an email, or one signed with a shared secret, is a 401 that
// quotes no part of it, and never a 5xx.

let running: SignInServer;
beforeAll(async () => {
  running = await startSignInServer();
});
afterAll(async () => {
  await running.close();
});

async function get(
  path: string,
  token: string,
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const response = await fetch(`${running.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

describe("the provider's tokens as bearer tokens", () => {
  it('an admin signed in with the provider makes an API token: the audit entry names the admin by issuer and subject', async () => {
    const { idToken } = await providerTokens(running.provider.issuer, 'admin');
    const made = await fetch(`${running.url}/api/v1/projects/shop/tokens`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${idToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'deploy-bot', role: 'releaser' }),
    });
    expect(made.status, await made.clone().text()).toBe(201);
    const audit = await running.handle.store.auditPage(null, 10_000);
    expect(audit.find((e) => e.kind === 'token.created')).toMatchObject({
      actor: 'admin@example.com',
      data: {
        name: 'deploy-bot',
        identity: 'authenticated',
        via: 'oidc',
        issuer: running.provider.issuer,
        subject: 'admin',
      },
    });
    expect(JSON.stringify(audit)).not.toContain(idToken.split('.')[2]);
  }, 30_000);

  it('accepts an ID token and a JWT access token: the person by email, proven by issuer and subject, with the groups claim', async () => {
    const { idToken, accessToken } = await providerTokens(running.provider.issuer, 'bob');
    // What the provider issued: an ID token for the CLI's client, an access token for Lockstep's audience.
    expect(decodeJwt(idToken).aud).toBe('lockstep-cli');
    expect(decodeJwt(accessToken).aud).toBe('lockstep');
    for (const token of [idToken, accessToken]) {
      const session = await get('/api/v1/session', token);
      expect(session.status, session.text).toBe(200);
      expect(session.body).toEqual({
        name: 'bob@example.com',
        via: 'oidc',
        issuer: running.provider.issuer,
        subject: 'bob',
        groups: ['sre', 'release-managers'],
      });
      // A bearer needs no CSRF token, and roles come from access: (bob is a release manager by the provider's word).
      const created = await fetch(`${running.url}/api/v1/projects/shop/releases`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ set: [`api=${token === idToken ? '1.0.0' : '1.0.1'}`] }),
      });
      expect(created.status, await created.text()).toBe(201);
    }
  }, 30_000);

  it('refuses forged, expired, not yet valid, wrong-audience, wrong-issuer, emailless, unverified and shared-secret tokens with 401, quoting none of them', async () => {
    const { issuer } = running.provider;
    const now = Math.floor(Date.now() / 1000);
    const good = {
      iss: issuer,
      aud: 'lockstep',
      sub: 'alice',
      email: 'alice@example.com',
      groups: ['sre'],
      iat: now,
      exp: now + 600,
    };
    // The control: the same claims signed with the provider's key pass.
    expect((await get('/api/v1/session', await running.provider.sign(good))).status).toBe(200);
    const hs256 = await sharedSecretToken(good);
    const cases: [string, string, RegExp][] = [
      ['forged', await running.provider.sign(good, { forged: true }), /signature is not the provider's/],
      ['expired', await running.provider.sign({ ...good, iat: now - 7200, exp: now - 3600 }), /expired/],
      ['not yet valid', await running.provider.sign({ ...good, nbf: now + 3600 }), /not valid yet/],
      ['wrong audience', await running.provider.sign({ ...good, aud: 'another-app' }), /another audience/],
      ['wrong issuer', await running.provider.sign({ ...good, iss: 'http://127.0.0.1:1' }), /another provider/],
      ['no email', await running.provider.sign({ ...good, email: undefined }), /no email claim/],
      ['unverified email', await running.provider.sign({ ...good, email_verified: false }), /not verified/],
      ['no expiry', await running.provider.sign({ ...good, exp: undefined }), /exp/],
      ['shared secret', hs256, /algorithm|signature/],
      ['unsigned', unsignedToken(good), /not a signed token|algorithm|signature/],
      ['not a token at all', 'abc.def.ghi', /not a signed token/],
    ];
    for (const [what, token, reason] of cases) {
      for (const path of ['/api/v1/session', '/api/v1/projects/shop/releases']) {
        const r = await get(path, token);
        expect(r.status, `${what} ${path}: ${r.text}`).toBe(401);
        expect(String((r.body.error as { message: string }).message), what).toMatch(reason);
        expect(r.text, what).not.toContain(token.split('.')[1] ?? token);
      }
    }
    expect(running.lines.join('\n')).not.toMatch(/eyJ/);
  }, 30_000);
});

/** The same claims signed HS256 with the web client's secret: a provider may do that for its client, but it is no person's proof here. */
async function sharedSecretToken(claims: Record<string, unknown>): Promise<string> {
  const { SignJWT } = await import('jose');
  const { WEB_CLIENT_SECRET } = await import('../helpers/oidc-provider.js');
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: 'test-signing-key' })
    .sign(new TextEncoder().encode(WEB_CLIENT_SECRET));
}

function unsignedToken(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.${Buffer.from('x').toString('base64url')}`;
}

describe('when the identity provider cannot be reached', () => {
  it('a session cookie and a token whose keys were fetched before still work; otherwise 503, never 401 or 500', async () => {
    const s = await startSignInServer();
    try {
      const { browserSignIn } = await import('../helpers/oidc-server.js');
      const { browser } = await browserSignIn(s.url, 'alice');
      const { idToken } = await providerTokens(s.provider.issuer, 'alice');
      const before = await fetch(`${s.url}/api/v1/session`, { headers: { Authorization: `Bearer ${idToken}` } });
      expect(before.status).toBe(200);
      await s.provider.close();
      // The session is sealed here, and the provider's keys are cached: neither needs the provider now.
      expect((await browser.request(`${s.url}/api/v1/session`)).status).toBe(200);
      expect((await fetch(`${s.url}/api/v1/session`, { headers: { Authorization: `Bearer ${idToken}` } })).status).toBe(
        200,
      );
      // A new sign-in needs the provider.
      await s.restart();
      const login = await fetch(`${s.url}/auth/login`, { redirect: 'manual' });
      expect(login.status).toBe(503);
      expect(login.headers.get('Retry-After')).toBe('5');
      expect(((await login.json()) as { error: { message: string } }).error.message).toContain('cannot be reached');
      const bearer = await fetch(`${s.url}/api/v1/session`, { headers: { Authorization: `Bearer ${idToken}` } });
      expect(bearer.status).toBe(503);
      expect(s.lines.join('\n')).toContain(`oidc: cannot discover the provider ${s.provider.issuer}`);
    } finally {
      await s.close();
    }
  }, 60_000);
});
