import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readFileSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { serverOidc } from '../../src/server/oidc/server-oidc.js';
import { asPerson, Browser } from '../helpers/browser.js';
import { lockstep, lockstepAsync } from '../helpers/cli.js';
import { startTestProvider, WEB_CLIENT_SECRET } from '../helpers/oidc-provider.js';
import {
  browserSignIn,
  oidcBlock,
  PEOPLE,
  signInConfig,
  startSignInServer,
  type SignInServer,
} from '../helpers/oidc-server.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Browser sign-in against a real OpenID provider (oidc-provider) on loopback, over real HTTP: the
// authorization code flow with PKCE through the provider's own login and consent pages, the
// session cookie, and the CSRF token that state-changing requests with it need.

let running: SignInServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** The Set-Cookie header that set `name` last, split into its attributes (lower-cased names). */
function cookieFlags(browser: Browser, name: string): Map<string, string> {
  const header = [...browser.setCookies].reverse().find((c) => c.header.startsWith(`${name}=`))?.header ?? '';
  return new Map(
    header
      .split(';')
      .slice(1)
      .map((a) => {
        const [k = '', v = ''] = a.trim().split('=');
        return [k.toLowerCase(), v];
      }),
  );
}

describe('browser sign-in', () => {
  it('signs alice in through the whole redirect flow: a sealed HttpOnly, SameSite=Lax session cookie of bounded life, and who she is', async () => {
    running = await startSignInServer();
    const { browser, landed, csrf } = await browserSignIn(running.url, 'alice');
    expect(landed).toBe(`${running.url}/api/v1/session`);
    const session = JSON.parse((await browser.request(`${running.url}/api/v1/session`)).text) as Record<
      string,
      unknown
    >;
    expect(session).toMatchObject({
      name: 'alice@example.com',
      via: 'oidc',
      issuer: running.provider.issuer,
      subject: 'alice',
      groups: ['sre'],
      csrfToken: csrf,
    });
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const flags = cookieFlags(browser, 'lockstep_session');
    expect(flags.has('httponly')).toBe(true);
    expect(flags.get('samesite')).toBe('Lax');
    expect(flags.get('path')).toBe('/');
    // Plain http on loopback: a Secure cookie would never be sent back.
    expect(flags.has('secure')).toBe(false);
    expect(Number(flags.get('max-age'))).toBe(12 * 3600);
    // The cookie is sealed: nothing of alice is readable in it.
    const sealed = browser.cookie(running.url, 'lockstep_session') ?? '';
    expect(sealed.split('.')).toHaveLength(5);
    expect(Buffer.from(sealed.split('.')[3] ?? '', 'base64url').toString('latin1')).not.toContain('alice');
    // The sign-in's own cookie (state, nonce, verifier) is gone once it is done.
    expect(browser.cookie(running.url, 'lockstep_sign_in')).toBeUndefined();
    expect(cookieFlags(browser, 'lockstep_sign_in').get('path')).toBe('/auth');
  }, 30_000);

  it('a cookie alone reads; a state-changing request with it needs the CSRF token of its session, a bearer token does not', async () => {
    running = await startSignInServer();
    const bob = await browserSignIn(running.url, 'bob');
    const alice = await browserSignIn(running.url, 'alice');
    const releases = `${running.url}/api/v1/projects/shop/releases`;
    const post = (browser: Browser, headers: Record<string, string>) =>
      browser.request(releases, {
        method: 'POST',
        body: JSON.stringify({ set: ['api=1.0.0'] }),
        headers: { 'Content-Type': 'application/json', ...headers },
      });
    expect((await bob.browser.request(releases)).status).toBe(200);
    const without = await post(bob.browser, {});
    expect(without.status).toBe(403);
    expect(without.text).toContain('X-CSRF-Token');
    // Another session's token is not this one's.
    expect((await post(bob.browser, { 'X-CSRF-Token': alice.csrf })).status).toBe(403);
    const changed = `${bob.csrf.slice(0, -1)}${bob.csrf.endsWith('A') ? 'B' : 'A'}`;
    expect((await post(bob.browser, { 'X-CSRF-Token': changed })).status).toBe(403);
    const made = await post(bob.browser, { 'X-CSRF-Token': bob.csrf });
    expect(made.status, made.text).toBe(201);
    // Nothing was made by the refused requests.
    expect(await running.handle.store.listReleases()).toHaveLength(1);
    // Without a cookie or a token: 401, pointing at the sign-in.
    const nobody = await new Browser().request(releases);
    expect(nobody.status).toBe(401);
    expect(nobody.text).toContain('/auth/login');
  }, 30_000);

  it('signing out removes the cookie; it needs the CSRF token too', async () => {
    running = await startSignInServer();
    const { browser, csrf } = await browserSignIn(running.url, 'alice');
    expect((await browser.request(`${running.url}/auth/logout`, { method: 'POST' })).status).toBe(403);
    expect(browser.cookie(running.url, 'lockstep_session')).toBeDefined();
    const out = await browser.request(`${running.url}/auth/logout`, {
      method: 'POST',
      headers: { 'X-CSRF-Token': csrf },
    });
    expect(out.status, out.text).toBe(200);
    expect(browser.cookie(running.url, 'lockstep_session')).toBeUndefined();
    expect((await browser.request(`${running.url}/api/v1/session`)).status).toBe(401);
  }, 30_000);

  it('a session survives a restart of the server (sealed with the key file in the state, made owner-only)', async () => {
    running = await startSignInServer();
    const { browser } = await browserSignIn(running.url, 'alice');
    expect(statSync(running.keyFile).mode & 0o777).toBe(0o600);
    const cookie = browser.cookie(running.url, 'lockstep_session') ?? '';
    await running.restart();
    const again = await fetch(`${running.url}/api/v1/session`, { headers: { Cookie: `lockstep_session=${cookie}` } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ name: 'alice@example.com' });
    // The key is in the file, not in the database.
    const key = readFileSync(running.keyFile, 'utf8').trim();
    expect(readFileSync(join(running.project.dir, '.lockstep', 'state.db')).includes(key)).toBe(false);
  }, 30_000);

  it('behind a TLS proxy (X-Forwarded-Proto: https) the session cookie is Secure and __Host- prefixed', async () => {
    running = await startSignInServer();
    const browser = new Browser();
    const end = await browser.navigate(`${running.url}/auth/login`, asPerson('alice'));
    // The callback came without the header (the test's browser talks to the server directly), so sign in again through "the proxy".
    expect(end.status).toBe(404);
    const start = await browser.request(`${running.url}/auth/login`, { headers: { 'X-Forwarded-Proto': 'https' } });
    expect(cookieFlags(browser, 'lockstep_sign_in').has('secure')).toBe(true);
    const provider = await browser.navigate(start.headers.get('Location') ?? '', asPerson('alice'), {
      stopAt: running.url,
    });
    const callback = await browser.request(provider.url, { headers: { 'X-Forwarded-Proto': 'https' } });
    expect(callback.status, callback.text).toBe(302);
    const flags = cookieFlags(browser, '__Host-lockstep_session');
    expect(flags.has('secure')).toBe(true);
    expect(flags.has('httponly')).toBe(true);
    expect(flags.get('path')).toBe('/');
  }, 30_000);

  it('behind a proxy with server.url set, the redirect URI is built on it (its path kept) and cookies are Secure', async () => {
    running = await startSignInServer((issuer) =>
      signInConfig(issuer).replace('server:\n', 'server:\n  url: https://lockstep.example.com/tools/\n'),
    );
    const start = await fetch(`${running.url}/auth/login`, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const asked = new URL(start.headers.get('Location') ?? '');
    expect(asked.origin).toBe(running.provider.issuer);
    expect(asked.searchParams.get('redirect_uri')).toBe('https://lockstep.example.com/tools/auth/callback');
    expect(asked.searchParams.get('code_challenge_method')).toBe('S256');
    expect(start.headers.getSetCookie().join('\n')).toMatch(/^lockstep_sign_in=[^;]+;.*Secure/);
  }, 30_000);

  it('refuses a callback that no sign-in of this browser began, or whose state was changed, and never sends anyone off-site', async () => {
    running = await startSignInServer();
    // No sign-in cookie: a 400 naming the cookie.
    const stray = await new Browser().request(`${running.url}/auth/callback?code=abc&state=def`);
    expect(stray.status).toBe(400);
    expect(JSON.parse(stray.text)).toMatchObject({ error: { field: 'header.cookie' } });
    // A changed state: 401, and no session.
    const browser = new Browser();
    const start = await browser.request(`${running.url}/auth/login`);
    const provider = await browser.navigate(start.headers.get('Location') ?? '', asPerson('alice'), {
      stopAt: running.url,
    });
    const tampered = new URL(provider.url);
    tampered.searchParams.set('state', 'someone-elses-state');
    const refused = await browser.request(tampered.href);
    expect(refused.status, refused.text).toBe(401);
    expect(browser.cookie(running.url, 'lockstep_session')).toBeUndefined();
    // The provider said no (the person cancelled): 401 with its error code, and no session.
    const denied = new Browser();
    const asked = new URL((await denied.request(`${running.url}/auth/login`)).headers.get('Location') ?? '');
    const answer = new URLSearchParams({
      error: 'access_denied',
      state: asked.searchParams.get('state') ?? '',
      iss: running.provider.issuer,
    });
    const cancelled = await denied.request(`${running.url}/auth/callback?${answer.toString()}`);
    expect(cancelled.status, cancelled.text).toBe(401);
    expect(cancelled.text).toContain('access_denied');
    expect(denied.cookie(running.url, 'lockstep_session')).toBeUndefined();
    // returnTo elsewhere is ignored: the sign-in ends on this server.
    for (const elsewhere of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const signedIn = await new Browser().navigate(
        `${running.url}/auth/login?returnTo=${encodeURIComponent(elsewhere)}`,
        asPerson('alice'),
      );
      expect(signedIn.url).toBe(`${running.url}/`);
    }
  }, 30_000);

  it('refuses a person whose provider says their email is not verified: no session', async () => {
    running = await startSignInServer();
    const browser = new Browser();
    const end = await browser.navigate(`${running.url}/auth/login`, asPerson('mallory'));
    expect(end.status, end.text).toBe(401);
    expect(end.text).toContain('not verified');
    expect(browser.cookie(running.url, 'lockstep_session')).toBeUndefined();
  }, 30_000);

  it('keeps the client secret, the session cookie and the provider codes out of the log, the audit log and every answer', async () => {
    running = await startSignInServer();
    const { browser, csrf } = await browserSignIn(running.url, 'bob');
    const r = await browser.request(`${running.url}/api/v1/projects/shop/releases`, {
      method: 'POST',
      body: JSON.stringify({ set: ['api=2.0.0'] }),
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    });
    expect(r.status).toBe(201);
    const cookie = browser.cookie(running.url, 'lockstep_session') ?? '';
    const config = (await browser.request(`${running.url}/api/v1/projects/shop/config`)).text;
    const audit = JSON.stringify(await running.handle.store.auditPage(null, 10_000));
    const log = running.lines.join('\n');
    for (const [what, text] of [
      ['config', config],
      ['audit', audit],
      ['log', log],
    ] as const) {
      expect(text, what).not.toContain(WEB_CLIENT_SECRET);
      expect(text, what).not.toContain(cookie);
      expect(text, what).not.toContain(csrf);
    }
    expect(log).toContain('bob@example.com signed in');
    expect(audit).toContain('"via":"oidc"');
  }, 30_000);
});

describe('one identity provider per server', () => {
  const made: TestProject[] = [];
  const handles: ProjectHandle[] = [];
  afterEach(async () => {
    for (const h of handles.splice(0)) await h.close();
    for (const p of made.splice(0)) p.cleanup();
  });
  async function open(name: string, oidc: string): Promise<ProjectHandle> {
    const project = testProject(
      `project: ${name}\n${oidc}environments:\n  dev: {}\ncomponents:\n  api:\n${commandComponent()}\n`,
    );
    made.push(project);
    project.write('secrets.env', 'OIDC_CLIENT_SECRET=from-the-secrets-file\n');
    const handle = await openProjectHandle({
      config: join(project.dir, 'lockstep.yaml'),
      secretsFile: join(project.dir, 'secrets.env'),
    });
    handles.push(handle);
    return handle;
  }

  it('projects that set server.oidc must agree; one that leaves it out is served with it', async () => {
    const shop = await open('shop', oidcBlock('https://login.example.com'));
    const payments = await open('payments', oidcBlock('https://login.example.com'));
    const plain = await open('plain', '');
    expect(serverOidc([plain, shop, payments])).toMatchObject({
      config: { issuer: 'https://login.example.com' },
      clientSecret: 'from-the-secrets-file',
    });
    expect(serverOidc([plain])).toBeUndefined();
    const other = await open('other', oidcBlock('https://login.other.example'));
    expect(() => serverOidc([shop, plain, other])).toThrow(
      `server.oidc differs between ${shop.loaded.file} and ${other.loaded.file}`,
    );
  });

  it('refuses to start when the client secret it names is not set', async () => {
    const shop = await open(
      'shop',
      oidcBlock('https://login.example.com').replace('OIDC_CLIENT_SECRET', 'NOT_SET_ANYWHERE_X'),
    );
    expect(() => serverOidc([shop])).toThrow(/names the secret NOT_SET_ANYWHERE_X, which is not set/);
  });
});

describe('lockstep serve with server.oidc, as a user runs it', () => {
  const made: TestProject[] = [];
  afterEach(() => {
    for (const p of made.splice(0)) p.cleanup();
  });

  it('signs people in with the provider its config names; the session key is made 0600 beside the state; the secret is printed nowhere', async () => {
    const started = await startTestProvider(PEOPLE);
    const project = testProject(signInConfig(started.issuer));
    made.push(project);
    const child = lockstepAsync(project.dir, ['serve', '--listen', '127.0.0.1:0'], {
      OIDC_CLIENT_SECRET: WEB_CLIENT_SECRET,
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const [first] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const url = /^listening on (\S+)$/.exec(first)?.[1] ?? '';
    expect(url, stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const provider = await started.attach(`${url}/auth/callback`);
    try {
      const { browser } = await browserSignIn(url, 'alice');
      expect(JSON.parse((await browser.request(`${url}/api/v1/session`)).text)).toMatchObject({
        name: 'alice@example.com',
        issuer: started.issuer,
      });
      expect(statSync(join(project.dir, '.lockstep', 'session.key')).mode & 0o777).toBe(0o600);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      await provider.close();
    }
    expect(stderr).toContain(`people sign in with ${started.issuer}`);
    expect(stderr).not.toContain(WEB_CLIENT_SECRET);
    // The access log names the callback, never its code or state.
    expect(stderr).toMatch(/GET \/auth\/callback 302/);
    expect(stderr).not.toMatch(/code=|state=|lockstep_session=/);
  }, 60_000);

  it('refuses to start (exit 2) when two projects name different providers, or the client secret is not set', () => {
    const shop = testProject(
      `project: shop\n${oidcBlock('https://login.example.com')}environments:\n  dev: {}\ncomponents:\n  api:\n${commandComponent()}\n`,
    );
    const payments = testProject(
      `project: payments\n${oidcBlock('https://sso.example.org')}environments:\n  dev: {}\ncomponents:\n  api:\n${commandComponent()}\n`,
    );
    made.push(shop, payments);
    const env = { OIDC_CLIENT_SECRET: 'x' };
    const differ = lockstep(
      shop.dir,
      ['serve', '--listen', '127.0.0.1:0', '--project', '.', '--project', payments.dir],
      env,
    );
    expect(differ.status, differ.stderr).toBe(2);
    expect(differ.stderr).toContain(
      `server.oidc differs between ${join(shop.dir, 'lockstep.yaml')} and ${join(payments.dir, 'lockstep.yaml')}`,
    );
    const unset = lockstep(shop.dir, ['serve', '--listen', '127.0.0.1:0'], { OIDC_CLIENT_SECRET: '' });
    expect(unset.status, unset.stderr).toBe(2);
    expect(unset.stderr).toContain('names the secret OIDC_CLIENT_SECRET, which is not set');
  }, 60_000);
});
