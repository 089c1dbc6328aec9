import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import { createToken, revokeToken } from '../../src/engine/tokens.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { createApp } from '../../src/server/app.js';
import { PUBLIC_ROUTES, ROUTE_PERMISSIONS, type PublicOperationId } from '../../src/server/permissions.js';
import { browserSignIn, startSignInServer, type SignInServer } from '../helpers/oidc-server.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The server's authentication and authorization on real projects and their real SQLite stores:
// tokens made by the engine function `lockstep token create` calls, access from lockstep.yaml.

const ADMIN: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };

function config(name: string, access = ''): string {
  return `project: ${name}
environments:
  dev: {}
  prod: { after: [dev] }
${access}components:
  api:
${commandComponent()}
`;
}

const projects: TestProject[] = [];
const handles: ProjectHandle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.close();
  for (const p of projects.splice(0)) p.cleanup();
});

async function serve(...configs: string[]): Promise<Map<string, ProjectHandle>> {
  const served = new Map<string, ProjectHandle>();
  for (const text of configs) {
    const project = testProject(text);
    projects.push(project);
    const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
    handles.push(handle);
    served.set(handle.name, handle);
  }
  return served;
}

describe('projectAuthenticator', () => {
  it('accepts a token in the project whose store holds it, and in no other', async () => {
    const served = await serve(config('shop'), config('payments'));
    const shop = served.get('shop') as ProjectHandle;
    const { token } = await createToken(shop.deps({ actor: ADMIN.name }), ADMIN, {
      name: 'alice-ci',
      for: 'alice@example.com',
      role: 'releaser',
    });
    const authenticate = projectAuthenticator(served);
    expect(await authenticate(token, 'shop')).toEqual({
      name: 'alice@example.com',
      via: { kind: 'token', token: 'alice-ci' },
      role: 'releaser',
    });
    expect(await authenticate(token, 'payments')).toBeUndefined();
    // A path naming no served project: valid somewhere is enough to learn that it does not exist.
    expect((await authenticate(token, undefined))?.name).toBe('alice@example.com');
    expect(await authenticate(`${token.slice(0, -1)}x`, 'shop')).toBeUndefined();
    expect(await authenticate('not-a-token', 'shop')).toBeUndefined();
  });

  it('refuses a revoked token at once', async () => {
    const served = await serve(config('shop'));
    const shop = served.get('shop') as ProjectHandle;
    const deps = shop.deps({ actor: ADMIN.name });
    const { token } = await createToken(deps, ADMIN, { name: 'bob', for: 'bob@example.com' });
    const authenticate = projectAuthenticator(served);
    expect((await authenticate(token, 'shop'))?.name).toBe('bob@example.com');
    await revokeToken(deps, ADMIN, 'bob');
    expect(await authenticate(token, 'shop')).toBeUndefined();
  });
});

describe('projectAuthorizer', () => {
  it("decides by the project's access block, per environment, narrowed by the token", async () => {
    const served = await serve(
      config(
        'shop',
        `groups:
  dev: [alice@example.com, bob@example.com]
access:
  viewer: [group:dev]
  releaser: [group:dev]
  environments:
    prod: { releaser: [alice@example.com] }
`,
      ),
    );
    const may = projectAuthorizer(served);
    const alice: Identity = { name: 'alice@example.com', via: { kind: 'token', token: 'alice' } };
    const bob: Identity = { name: 'bob@example.com', via: { kind: 'token', token: 'bob' } };
    expect(may(alice, 'promote', 'shop', 'prod')).toEqual({ ok: true });
    expect(may(bob, 'promote', 'shop', 'dev')).toEqual({ ok: true });
    const refused = may(bob, 'promote', 'shop', 'prod');
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.reason).toContain('bob@example.com may not');
    // A token that only reads cannot promote, whatever its person may do.
    expect(may({ ...alice, role: 'viewer' }, 'promote', 'shop', 'prod').ok).toBe(false);
    expect(may(alice, 'read', 'elsewhere').ok).toBe(false);
  });
});

/** One request per public route: the matrix below must cover the whole PUBLIC_ROUTES list. */
const PUBLIC_SAMPLES: Record<PublicOperationId, { method: string; path: string }> = {
  healthz: { method: 'GET', path: '/healthz' },
  readyz: { method: 'GET', path: '/readyz' },
  getAuthConfig: { method: 'GET', path: '/api/v1/auth/config' },
  beginSignIn: { method: 'GET', path: '/auth/login' },
  finishSignIn: { method: 'GET', path: '/auth/callback?code=x&state=y' },
};

/** The sign-in routes that need credentials (identityOnly in ROUTE_PERMISSIONS). */
const SIGNED_IN_SAMPLES = {
  getSession: { method: 'GET', path: '/api/v1/session' },
  signOut: { method: 'POST', path: '/auth/logout' },
  whoami: { method: 'GET', path: '/api/v1/whoami' },
} as const;

describe('routes outside the projects, with sign-in through a real provider', () => {
  let running: SignInServer | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('public routes answer without credentials; the others need valid credentials, and a cookie needs its CSRF token to change anything', async () => {
    running = await startSignInServer();
    const s = running;
    const token = (
      await createToken(s.handle.deps({ actor: ADMIN.name }), ADMIN, { name: 'erin', for: 'erin@example.com' })
    ).token;
    const { browser, csrf } = await browserSignIn(s.url, 'erin');
    const cookie = `lockstep_session=${browser.cookie(s.url, 'lockstep_session') ?? ''}`;
    expect(Object.keys(PUBLIC_SAMPLES).sort()).toEqual([...PUBLIC_ROUTES].sort());
    const send = async (r: { method: string; path: string }, headers: Record<string, string>): Promise<number> =>
      (await fetch(`${s.url}${r.path}`, { method: r.method, headers, redirect: 'manual' })).status;
    for (const [operation, r] of Object.entries(PUBLIC_SAMPLES)) {
      const anonymous = await send(r, {});
      expect(anonymous, operation).not.toBe(401);
      expect(anonymous, operation).toBeLessThan(500);
    }
    for (const [operation, r] of Object.entries(SIGNED_IN_SAMPLES)) {
      expect(ROUTE_PERMISSIONS[operation as keyof typeof SIGNED_IN_SAMPLES], operation).toEqual({ identityOnly: true });
      expect(await send(r, {}), operation).toBe(401);
      expect(await send(r, { Authorization: 'Bearer not-a-token' }), operation).toBe(401);
      expect(await send(r, { Authorization: 'Bearer a.b.c' }), operation).toBe(401);
      expect(await send(r, { Cookie: 'lockstep_session=forged' }), operation).toBe(401);
      expect(await send(r, { Authorization: `Bearer ${token}` }), operation).toBe(200);
      expect(await send(r, { Cookie: cookie, 'X-CSRF-Token': csrf }), operation).toBe(200);
      // Without the CSRF token a cookie reads, and changes nothing.
      expect(await send(r, { Cookie: cookie }), operation).toBe(r.method === 'GET' ? 200 : 403);
    }
    // A route spanning the projects (inEachProject) takes a signed-in person as it takes a token.
    expect(await send({ method: 'GET', path: '/metrics' }, { Cookie: cookie })).toBe(200);
    expect(await send({ method: 'GET', path: '/metrics' }, { Cookie: 'lockstep_session=forged' })).toBe(401);
  }, 60_000);

  it('every route of the OpenAPI document is in ROUTE_PERMISSIONS or PUBLIC_ROUTES, never both', async () => {
    const served = await serve(config('shop'));
    const app = createApp({
      projects: served,
      authenticate: projectAuthenticator(served),
      authorize: projectAuthorizer(served),
      log: () => undefined,
    });
    const doc = (await (await app.request('/api/v1/openapi.json')).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const operations = Object.values(doc.paths).flatMap((methods) =>
      Object.values(methods).map((op) => op.operationId),
    );
    expect(operations.sort()).toEqual([...Object.keys(ROUTE_PERMISSIONS), ...PUBLIC_ROUTES].sort());
    for (const id of PUBLIC_ROUTES) expect(Object.keys(ROUTE_PERMISSIONS)).not.toContain(id);
    // Without server.oidc nobody signs in: the sign-in routes say so, and a session cookie is no credential.
    expect(await (await app.request('/api/v1/auth/config')).json()).toEqual({ oidc: null });
    expect((await app.request('/auth/login')).status).toBe(404);
    expect((await app.request('/api/v1/session', { headers: { Cookie: 'lockstep_session=x' } })).status).toBe(401);
  });
});
