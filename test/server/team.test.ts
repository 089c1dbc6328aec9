import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { createToken } from '../../src/engine/tokens.js';
import { openProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { SERVER_ACTOR, startServer, type RunningServer } from '../../src/server/serve.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// A team on one server, over real HTTP: tokens made as `lockstep token create` makes them, roles from
// `access:` in lockstep.yaml, and the background worker that moves a promotion on while nobody types
// anything. Nothing here measures time: the test waits for outcomes.

const CONFIG = `project: shop
groups:
  sre: [carol@example.com, dave@example.com]
access:
  viewer: [group:sre, alice@example.com]
  releaser: [alice@example.com]
  approver: [group:sre]
  admin: [admin@example.com]
environments:
  staging: {}
  prod:
    after: [staging]
    gates:
      approvals: { count: 1, from: [group:sre] }
      soak: 1500ms
components:
  api:
${commandComponent()}
`;

const ADMIN: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };

let project: TestProject | undefined;
let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  project?.cleanup();
});

describe('a team on one server', () => {
  it('alice promotes, carol approves, the soak passes by itself: each step audited as the authenticated person', async () => {
    project = testProject(CONFIG);
    const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
    const admin = handle.deps({ actor: ADMIN.name });
    const tokens: Record<string, string> = {};
    for (const [name, person] of [['alice-ci', 'alice@example.com'], ['carol', 'carol@example.com']] as const) {
      tokens[name] = (await createToken(admin, ADMIN, { name, for: person })).token;
    }
    const projects = new Map([[handle.name, handle]]);
    const running = await startServer({ projects, host: '127.0.0.1', port: 0, authenticate: projectAuthenticator(projects), authorize: projectAuthorizer(projects), log: () => undefined });
    server = running;
    const api = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const response = await fetch(`${running.url}/api/v1/projects/shop${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const promotion = async (id: string): Promise<PromotionRecord> => ((await api(tokens.carol ?? '', 'GET', `/promotions/${id}`)).json as { promotion: PromotionRecord }).promotion;
    const until = async (id: string, states: string[]): Promise<PromotionRecord> => {
      for (;;) {
        const p = await promotion(id);
        if (states.includes(p.state)) return p;
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    const created = await api(tokens['alice-ci'] ?? '', 'POST', '/releases', { set: ['api=1.0.0'] });
    expect(created.status).toBe(201);
    const release = (created.json as { release: ReleaseRecord }).release;
    // Carol approves; she may not create releases or promote.
    expect((await api(tokens.carol ?? '', 'POST', '/releases', { set: ['api=2.0.0'] })).status).toBe(403);
    expect((await api(tokens.carol ?? '', 'POST', '/promotions', { release: release.id, to: 'staging' })).status).toBe(403);

    const staging = (await api(tokens['alice-ci'] ?? '', 'POST', '/promotions', { release: release.id, to: 'staging' })).json as { promotion: PromotionRecord };
    expect((await until(staging.promotion.id, ['succeeded', 'failed'])).state).toBe('succeeded');
    const prod = (await api(tokens['alice-ci'] ?? '', 'POST', '/promotions', { release: release.id, to: 'prod' })).json as { promotion: PromotionRecord };
    expect(prod.promotion.state).toBe('pending');
    // Alice may not approve her own promotion (not an approver; separation of duties besides).
    expect((await api(tokens['alice-ci'] ?? '', 'POST', `/promotions/${prod.promotion.id}/approve`, { comment: 'mine' })).status).toBe(403);
    const approved = await api(tokens.carol ?? '', 'POST', `/promotions/${prod.promotion.id}/approve`, { comment: 'looks right' });
    expect(approved.status).toBeLessThan(300);

    // The approval is in; the soak time is not up yet. Nobody types anything more: the worker runs it.
    const done = await until(prod.promotion.id, ['succeeded', 'failed', 'rejected']);
    expect(done.state).toBe('succeeded');
    expect(project.running('prod', 'api')).toBe('1.0.0');

    const audit = (await handle.store.auditPage(0, 10_000));
    const given = audit.find((e) => e.kind === 'approval.given');
    expect(given).toMatchObject({ actor: 'carol@example.com', data: { identity: 'authenticated', via: 'token', token: 'carol' } });
    expect(audit.find((e) => e.kind === 'promotion.requested' && e.environment === 'prod')).toMatchObject({ actor: 'alice@example.com', data: { identity: 'authenticated', token: 'alice-ci' } });
    const started = audit.find((e) => e.kind === 'promotion.started' && e.environment === 'prod');
    expect(started?.actor).toBe(SERVER_ACTOR);
    // No token text anywhere in the audit log.
    const text = JSON.stringify(audit);
    for (const token of Object.values(tokens)) expect(text).not.toContain(token);
  }, 30_000);

  it('an admin makes a token through the API: it works at once, is stored only as a hash, and a revoked one is refused at once', async () => {
    project = testProject(CONFIG);
    const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
    const admin = (await createToken(handle.deps({ actor: ADMIN.name }), ADMIN, { name: 'root', for: ADMIN.name })).token;
    const projects = new Map([[handle.name, handle]]);
    const lines: string[] = [];
    const running = await startServer({ projects, host: '127.0.0.1', port: 0, authenticate: projectAuthenticator(projects), authorize: projectAuthorizer(projects), log: (line) => lines.push(line) });
    server = running;
    const api = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
      const response = await fetch(`${running.url}/api/v1/projects/shop${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, json: await response.json() };
    };

    const made = await api(admin, 'POST', '/tokens', { name: 'alice-laptop', for: 'alice@example.com' });
    expect(made.status).toBe(201);
    const alice = (made.json as { token: string }).token;
    // Alice is a releaser by access:, so her new token may create releases, but not manage tokens.
    expect((await api(alice, 'POST', '/releases', { set: ['api=1.0.0'] })).status).toBe(201);
    expect((await api(alice, 'GET', '/tokens')).status).toBe(403);
    expect((await api(admin, 'DELETE', '/tokens/alice-laptop')).status).toBe(200);
    expect((await api(alice, 'GET', '/releases')).status).toBe(401);

    // The token's text is nowhere but in the one answer: not in the store (its hash is), the audit log or the server's log.
    const stored = JSON.stringify(await handle.store.listTokens());
    expect(stored).toContain('alice-laptop');
    expect(stored).not.toContain(alice);
    expect(JSON.stringify(await handle.store.auditPage(null, 10_000))).not.toContain(alice);
    expect(lines.join('\n')).not.toContain(alice);
    const state = join(project.dir, '.lockstep');
    expect(readdirSync(state).length).toBeGreaterThan(0);
    for (const file of readdirSync(state)) expect(readFileSync(join(state, file)).includes(alice), file).toBe(false);
  }, 30_000);
});
