import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReleaseRecord } from '../../src/core/model.js';
import { asPerson, Browser } from '../helpers/browser.js';
import { lockstepAsync, lockstepAwait } from '../helpers/cli.js';
import { startSignInServer, type SignInServer } from '../helpers/oidc-server.js';

// `lockstep login` against a real OpenID provider on loopback (oidc-provider), the built CLI run as a
// user runs it: the device flow (the test plays the person, confirming the code on the provider's
// pages), the loopback redirect, the credentials file (0600 in a 0700 directory), commands acting
// as the person without LOCKSTEP_TOKEN, the refresh when the token expired, and logout.

let running: SignInServer | undefined;
let home: string | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  if (home !== undefined) rmSync(home, { recursive: true, force: true });
  home = undefined;
});

interface Stored {
  version: number;
  servers: Record<
    string,
    { issuer: string; clientId: string; token: string; expiresAt: string; refreshToken?: string; name: string }
  >;
}

function env(): NodeJS.ProcessEnv {
  home ??= mkdtempSync(join(tmpdir(), 'lockstep-home-'));
  return { XDG_CONFIG_HOME: join(home, 'config'), LOCKSTEP_TOKEN: '', LOCKSTEP_SERVER: '', LOCKSTEP_PROJECT: 'shop' };
}

function credentials(): Stored {
  return JSON.parse(readFileSync(join(home ?? '', 'config', 'lockstep', 'credentials.json'), 'utf8')) as Stored;
}

/** Reads the child's stderr until `pattern` matches it; the match. */
function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) resolve(match);
    });
    child.on('close', () => reject(new Error(`the CLI ended before printing ${String(pattern)}: ${seen}`)));
  });
}

function ended(child: ChildProcess): Promise<{ status: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

describe('lockstep login', () => {
  it('signs in with the device flow, keeps the login 0600, acts as the person without LOCKSTEP_TOKEN, refreshes it, and logout forgets it', async () => {
    running = await startSignInServer();
    const s = running;
    const cwd = s.project.dir;
    const child = lockstepAsync(cwd, ['login', '--server', s.url], env());
    const done = ended(child);
    const [, uri, code] = await waitForOutput(child, /open (\S+) and enter the code (\S+)/);
    expect(uri).toBe(`${s.provider.issuer}/device`);
    // The person, in a browser: enters the code, confirms, signs in at the provider, consents.
    const person = asPerson('bob');
    const page = await new Browser().navigate(uri ?? '', (prompt) =>
      prompt === '' ? { user_code: code ?? '' } : person(prompt),
    );
    expect(page.status, page.text).toBe(200);
    expect(page.text).toMatch(/Sign-in Success|success/i);
    const result = await done;
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`signed in to ${s.url} as bob@example.com`);

    const file = join(home ?? '', 'config', 'lockstep', 'credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(file, '..')).mode & 0o777).toBe(0o700);
    const stored = credentials().servers[s.url];
    expect(stored).toMatchObject({ issuer: s.provider.issuer, clientId: 'lockstep-cli', name: 'bob@example.com' });
    expect(stored?.refreshToken).toBeDefined();
    // Nothing the provider gave is printed.
    for (const secret of [stored?.token ?? '', stored?.refreshToken ?? ''])
      expect(`${result.stdout}${result.stderr}`).not.toContain(secret);

    // whoami through the server names bob as the provider vouched for him, in every project served.
    const who = await lockstepAwait(cwd, ['whoami', '--server', s.url, '-o', 'json'], env());
    expect(who.status, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ actor: 'bob@example.com', via: 'oidc' });

    // A command through the server acts as bob, with no LOCKSTEP_TOKEN.
    const made = await lockstepAwait(
      cwd,
      ['release', 'create', '--server', s.url, '--set', 'api=4.0.0', '-o', 'json'],
      env(),
    );
    expect(made.status, made.stderr).toBe(0);
    const release = JSON.parse(made.stdout) as { release: ReleaseRecord };
    expect(release.release.createdBy).toBe('bob@example.com');
    const audit = await s.handle.store.auditPage(null, 1000);
    expect(audit.find((e) => e.kind === 'release.created')).toMatchObject({
      actor: 'bob@example.com',
      data: { via: 'oidc', issuer: s.provider.issuer, subject: 'bob' },
    });

    // An expired login is refreshed with the refresh token, and kept again.
    const before = credentials();
    const entry = before.servers[s.url];
    if (entry === undefined) throw new Error('no login kept');
    writeFileSync(
      file,
      JSON.stringify({
        ...before,
        servers: { [s.url]: { ...entry, expiresAt: new Date(Date.now() - 60_000).toISOString() } },
      }),
      { mode: 0o600 },
    );
    const again = await lockstepAwait(
      cwd,
      ['release', 'create', '--server', s.url, '--set', 'api=4.0.1', '-o', 'json'],
      env(),
    );
    expect(again.status, again.stderr).toBe(0);
    const refreshed = credentials().servers[s.url];
    expect(refreshed?.token).not.toBe(entry.token);
    expect(Date.parse(refreshed?.expiresAt ?? '')).toBeGreaterThan(Date.now());
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const out = await lockstepAwait(cwd, ['logout', '--server', s.url], env());
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain(`signed out of ${s.url}`);
    expect(credentials().servers).toEqual({});
    const refused = await lockstepAwait(cwd, ['release', 'create', '--server', s.url, '--set', 'api=4.0.2'], env());
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`lockstep login --server ${s.url}`);
  }, 90_000);

  it('signs in through a loopback redirect where the provider offers no device flow: PKCE, a port on 127.0.0.1 only this process listens on', async () => {
    running = await startSignInServer(undefined, { deviceFlow: false });
    const s = running;
    expect(await (await fetch(`${s.url}/api/v1/auth/config`)).json()).toMatchObject({
      oidc: { clientId: 'lockstep-cli', deviceFlow: false },
    });
    const child = lockstepAsync(s.project.dir, ['login', '--server', s.url, '-o', 'json'], env());
    const done = ended(child);
    const [, address] = await waitForOutput(child, /open this address in a browser on this machine:\s+(\S+)/);
    const asked = new URL(address ?? '');
    expect(asked.origin).toBe(s.provider.issuer);
    expect(asked.searchParams.get('code_challenge_method')).toBe('S256');
    expect(asked.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const page = await new Browser().navigate(asked.href, asPerson('alice'));
    expect(page.text.replace(/<style>[\s\S]*<\/style>/, ''), page.url).toContain('you may close this window');
    const result = await done;
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      server: s.url,
      name: 'alice@example.com',
      issuer: s.provider.issuer,
    });
    expect(credentials().servers[s.url]?.name).toBe('alice@example.com');
  }, 90_000);

  it('says so when nobody signs in on the server, and logout without a login says there is none', async () => {
    running = await startSignInServer();
    const s = running;
    const missing = await lockstepAwait(s.project.dir, ['login'], env());
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('needs the server: --server URL');
    const none = await lockstepAwait(s.project.dir, ['logout', '--server', s.url], env());
    expect(none.status).toBe(0);
    expect(none.stdout).toContain(`no login to ${s.url} is kept here`);
  }, 60_000);
});
