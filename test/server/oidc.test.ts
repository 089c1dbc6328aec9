import { afterEach, describe, expect, it } from 'vitest';
import { browserSignIn, startSignInServer, type SignInServer } from '../helpers/oidc-server.js';

// Browser sign-in against a real OpenID provider (oidc-provider) on loopback, over real HTTP: the
// authorization code flow with PKCE through the provider's own login and consent pages, the
// session cookie, and the CSRF token that state-changing requests with it need.

let running: SignInServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('browser sign-in', () => {
  it('signs alice in through the whole redirect flow: a sealed HttpOnly, SameSite=Lax session cookie, and who she is', async () => {
    running = await startSignInServer();
    const { browser, landed, csrf } = await browserSignIn(running.url, 'alice');
    expect(landed).toBe(`${running.url}/api/v1/session`);
    const session = JSON.parse((await browser.request(`${running.url}/api/v1/session`)).text) as Record<string, unknown>;
    expect(session).toMatchObject({ name: 'alice@example.com', via: 'oidc', issuer: running.provider.issuer, subject: 'alice', groups: ['sre'] });
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    console.log(browser.setCookies);
  }, 30_000);
});
