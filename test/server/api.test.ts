import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Identity, Permission } from '../../src/core/access.js';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../../src/core/model.js';
import type { EnvironmentStatus } from '../../src/engine/status.js';
import type { StepLogLine } from '../../src/store/store.js';
import { createRelease } from '../../src/engine/promote.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { createApp, type Authorization } from '../../src/server/app.js';
import { BackgroundRuns } from '../../src/server/background.js';
import { authorize, PERMISSIONS, type Role } from '../../src/core/access.js';
import { PUBLIC_ROUTES, ROUTE_PERMISSIONS, type OperationId, type RoutePermission, type ServerRoute } from '../../src/server/permissions.js';
import { sampleRequests as samplesFor } from '../helpers/api-requests.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The HTTP API in-process (`app.request`), on a real scratch project: real SQLite, real deploy
// scripts run by the engine. Authentication is a fake `authenticate` (tokens are another slice);
// authorization is core/access.ts on the project's config (no access: block, so each token's own
// role decides) unless a test refuses on purpose.
const CONFIG = `project: shop
groups:
  sre: [carol@example.com, dave@example.com]
environments:
  dev: {}
  staging: { after: [dev] }
  prod:
    after: [staging]
    gates:
      approvals: { count: 1, from: [group:sre] }
components:
  api:
${commandComponent()}
  web:
${commandComponent()}
`;

const IDENTITIES: Record<string, Identity> = {
  'alice-token': { name: 'alice@example.com', via: { kind: 'token', token: 'alice-ci' }, role: 'releaser' },
  'carol-token': { name: 'carol@example.com', via: { kind: 'token', token: 'carol-laptop' }, role: 'approver' },
  'victor-token': { name: 'victor@example.com', via: { kind: 'token', token: 'victor' }, role: 'viewer' },
  'adam-token': { name: 'adam@example.com', via: { kind: 'token', token: 'adam-admin' }, role: 'admin' },
};

interface AuthorizeCall {
  identity: string;
  permission: Permission;
  project: string;
  environment?: string;
}

let project: TestProject;
let handle: ProjectHandle;
let calls: AuthorizeCall[];
let refuse: boolean;
let logged: string[];
let background: BackgroundRuns;

function newApp(options: { maxBodyBytes?: number } = {}) {
  return createApp({
    background,
    projects: new Map([[handle.name, handle]]),
    authenticate: (bearer) => Promise.resolve(IDENTITIES[bearer]),
    authorize: (identity, permission, projectName, environment): Authorization => {
      calls.push({ identity: identity.name, permission, project: projectName, environment });
      if (refuse) return { ok: false, reason: `test refuses ${permission}` };
      return authorize(handle.loaded.config, identity, permission, environment);
    },
    log: (line) => logged.push(line),
    ...options,
  });
}
let app: ReturnType<typeof newApp>;

beforeEach(async () => {
  project = testProject(CONFIG);
  handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  calls = [];
  refuse = false;
  logged = [];
  background = new BackgroundRuns((line) => logged.push(line));
  app = newApp();
});
afterEach(async () => {
  // Runs requests started go on after their responses: they end before the store closes.
  await background.idle();
  await handle.close();
  project.cleanup();
});

const P = '/api/v1/projects/shop';

/** What the tests read of a response body; each response holds some of these. */
interface ApiJson {
  error: { code: string; message: string; field?: string; waiting?: boolean };
  promotion: PromotionRecord;
  plan: PromotionPlan;
  pending: { promotion: PromotionRecord }[];
  projects: Record<string, { config: string; store: string }>;
}

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; parameters?: { name: string; in: string }[] }>>;
  components: { schemas: Record<string, { properties: Record<string, { type: string }>; required: string[] }> };
}

async function call<T = ApiJson>(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = {
    ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
    ...options.headers,
  };
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const response = await app.request(path, { method, headers, body });
  // An event stream never ends by itself: its status and headers are the answer here.
  const streaming = response.headers.get('content-type')?.startsWith('text/event-stream') === true;
  if (streaming) await response.body?.cancel();
  const text = streaming ? '' : await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, json: json as T, text };
}

/** Waits until the promotion stops moving (the run goes on in the server after the 202). */
async function settled(
  id: string,
  token = 'alice-token',
): Promise<{ promotion: PromotionRecord; steps: StepRecord[] }> {
  for (let i = 0; i < 600; i++) {
    const r = await call<{ promotion: PromotionRecord; steps: StepRecord[] }>('GET', `${P}/promotions/${id}`, {
      token,
    });
    expect(r.status, r.text).toBe(200);
    const state = r.json.promotion.state;
    if (state !== 'running' && state !== 'rolling-back') return r.json;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`promotion ${id} did not finish`);
}

async function newRelease(versions: string[]): Promise<ReleaseRecord> {
  const r = await call<{ release: ReleaseRecord }>('POST', `${P}/releases`, {
    token: 'alice-token',
    body: { set: versions },
  });
  expect(r.status, r.text).toBe(201);
  return r.json.release;
}

async function promoteTo(release: string, to: string, token = 'alice-token'): Promise<PromotionRecord> {
  const r = await call('POST', `${P}/promotions`, { token, body: { release, to } });
  expect(r.status, r.text).toBe(202);
  return r.json.promotion;
}

async function auditLog(): Promise<AuditEntry[]> {
  return handle.store.auditPage(null, 100_000);
}

/** One request per API operation: the matrix below must cover the whole permission table. */
function sampleRequests(ids: { release: string; promotion: string }) {
  return samplesFor(P, ids);
}

describe('server: a release promoted, approved and followed through the API', () => {
  it('creates, plans, promotes through dev and staging, waits for and takes an approval in prod; reads status, history, logs and the audit log', async () => {
    const release = await newRelease(['api=1.0.0', 'web=1.0.0']);
    expect(release.createdBy).toBe('alice@example.com');
    const again = await call('POST', `${P}/releases`, {
      token: 'alice-token',
      body: { set: ['web=1.0.0', 'api=1.0.0'] },
    });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ created: false, release });

    const list = await call<ReleaseRecord[]>('GET', `${P}/releases`, { token: 'victor-token' });
    expect(list.status).toBe(200);
    expect(list.json.map((r) => r.id)).toEqual([release.id]);
    const one = await call('GET', `${P}/releases/${release.id.slice(0, 8)}`, { token: 'victor-token' });
    expect(one.status).toBe(200);
    expect(one.json).toEqual({ release, promotions: [] });

    const plan = await call('GET', `${P}/releases/${release.id}/plan?to=dev`, { token: 'victor-token' });
    expect(plan.status, plan.text).toBe(200);
    expect(plan.json.plan.steps.map((s) => `${s.component}=${s.toVersion}`).sort()).toEqual(['api=1.0.0', 'web=1.0.0']);

    const dev = await promoteTo(release.id, 'dev');
    expect(['running', 'succeeded']).toContain(dev.state);
    const devDone = await settled(dev.id);
    expect(devDone.promotion.state).toBe('succeeded');
    expect(devDone.promotion.requestedBy).toBe('alice@example.com');
    expect(devDone.steps.map((s) => s.state)).toEqual(['succeeded', 'succeeded']);
    expect(project.running('dev', 'api')).toBe('1.0.0');

    const logs = await call<StepLogLine[]>('GET', `${P}/promotions/${dev.id.slice(0, 10)}/logs?component=api`, {
      token: 'victor-token',
    });
    expect(logs.status).toBe(200);
    expect(logs.json.map((l) => l.line)).toContain('deployed api 1.0.0');

    const staging = await promoteTo(release.id, 'staging');
    expect((await settled(staging.id)).promotion.state).toBe('succeeded');

    // prod waits for an approval from the SRE group; the approver is who the token says.
    const prod = await promoteTo(release.id, 'prod');
    expect(prod.state).toBe('pending');
    const status = await call('GET', `${P}/environments/prod`, { token: 'victor-token' });
    expect(status.status).toBe(200);
    expect(status.json.pending.map((p) => p.promotion.id)).toEqual([prod.id]);

    const approved = await call('POST', `${P}/promotions/${prod.id}/approve`, {
      token: 'carol-token',
      body: { comment: 'plan reviewed' },
    });
    expect(approved.status, approved.text).toBe(200);
    expect(['running', 'succeeded']).toContain(approved.json.promotion.state);
    expect((await settled(prod.id)).promotion.state).toBe('succeeded');
    expect(project.running('prod', 'web')).toBe('1.0.0');

    const all = await call<EnvironmentStatus[]>('GET', `${P}/environments`, { token: 'victor-token' });
    expect(all.json.map((e) => [e.environment, e.release])).toEqual([
      ['dev', release.id],
      ['staging', release.id],
      ['prod', release.id],
    ]);
    const history = await call<PromotionRecord[]>('GET', `${P}/promotions?env=prod`, { token: 'victor-token' });
    expect(history.json.map((p) => p.id)).toEqual([prod.id]);

    // The audit log says who decided and that the server proved it: the token's name, never the token.
    const entries = await auditLog();
    const approval = entries.find((e) => e.kind === 'approval.given');
    expect(approval?.actor).toBe('carol@example.com');
    expect(approval?.data).toMatchObject({ identity: 'authenticated', via: 'token', token: 'carol-laptop' });
    const created = entries.find((e) => e.kind === 'release.created');
    expect(created?.data).toMatchObject({ identity: 'authenticated', via: 'token', token: 'alice-ci' });
    expect(JSON.stringify(entries)).not.toContain('carol-token');

    const verified = await call('GET', `${P}/audit/verify`, { token: 'victor-token' });
    expect(verified.status).toBe(200);
    expect(verified.json).toMatchObject({ ok: true, entries: entries.length });
  });

  it('a release created locally records a claimed identity, one through the API an authenticated one', async () => {
    const local = await createRelease(await project.deps({ actor: 'someone@example.com' }), {
      set: ['api=1', 'web=1'],
    });
    await newRelease(['api=2', 'web=2']);
    const created = (await auditLog()).filter((e) => e.kind === 'release.created');
    expect(created.map((e) => [e.releaseId === local.release.id, e.data.identity])).toEqual([
      [true, 'claimed'],
      [false, 'authenticated'],
    ]);
  });

  it('rejects a pending promotion with a comment; without one it is a 400 naming body.comment', async () => {
    const release = await newRelease(['api=1', 'web=1']);
    for (const env of ['dev', 'staging'])
      expect((await settled((await promoteTo(release.id, env)).id)).promotion.state).toBe('succeeded');
    const prod = await promoteTo(release.id, 'prod');
    const missing = await call('POST', `${P}/promotions/${prod.id}/reject`, { token: 'carol-token', body: {} });
    expect(missing.status).toBe(400);
    expect(missing.json.error.field).toBe('body.comment');
    const rejected = await call('POST', `${P}/promotions/${prod.id}/reject`, {
      token: 'carol-token',
      body: { comment: 'drops the orders table' },
    });
    expect(rejected.status, rejected.text).toBe(200);
    expect(rejected.json.promotion.state).toBe('rejected');
    // Deciding again on a promotion that is no longer pending: a conflict, with the CLI's message.
    const late = await call('POST', `${P}/promotions/${prod.id}/approve`, { token: 'carol-token', body: {} });
    expect(late.status).toBe(409);
    expect(late.json.error.message).toBe(
      `promotion ${prod.id.slice(0, 12)} is rejected: only a pending promotion can be approved or rejected`,
    );
  });

  it('maps business errors to status with the message the CLI prints: 400 naming the field, 403, 404, 409, 422', async () => {
    const release = await newRelease(['api=1', 'web=1']);
    // 422: a gate nothing can satisfy now (the release has not succeeded in dev).
    const early = await call('POST', `${P}/promotions`, {
      token: 'alice-token',
      body: { release: release.id, to: 'staging' },
    });
    expect(early.status).toBe(422);
    expect(early.json.error).toMatchObject({ code: 'gate-blocked', waiting: false });
    expect(early.json.error.message).toMatch(/has not succeeded in dev yet/);
    // 400 from the engine, the field named as the request names it, with its place (the CLI's --to).
    const unknownEnv = await call('GET', `${P}/releases/${release.id}/plan?to=qa`, { token: 'alice-token' });
    expect(unknownEnv.status).toBe(400);
    expect(unknownEnv.json.error.field).toBe('query.to');
    expect(unknownEnv.json.error.message).toMatch(/^unknown environment qa/);
    const unknownComponent = await call('POST', `${P}/releases`, {
      token: 'alice-token',
      body: { set: ['apii=1', 'web=1'] },
    });
    expect(unknownComponent.status).toBe(400);
    expect(unknownComponent.json.error.field).toBe('body.set');
    // The engine's --env is the path's environment here.
    const unknownRollback = await call('POST', `${P}/environments/qa/rollback`, { token: 'alice-token', body: {} });
    expect(unknownRollback.status).toBe(400);
    expect(unknownRollback.json.error.field).toBe('params.environment');
    expect(unknownComponent.json.error.message).toContain('did you mean api?');
    // 409: labels are fixed with the release.
    const relabelled = await call('POST', `${P}/releases`, {
      token: 'alice-token',
      body: { set: ['api=1', 'web=1'], labels: { risk: 'high' } },
    });
    expect(relabelled.status).toBe(409);
    // 403 from the engine: the requester may not approve their own promotion (separation of duties).
    for (const env of ['dev', 'staging']) await settled((await promoteTo(release.id, env)).id);
    const carolPromotes: Identity = {
      name: 'carol@example.com',
      via: { kind: 'token', token: 'carol-ci' },
      role: 'admin',
    };
    IDENTITIES['carol-admin'] = carolPromotes;
    try {
      const prod = await promoteTo(release.id, 'prod', 'carol-admin');
      const self = await call('POST', `${P}/promotions/${prod.id}/approve`, { token: 'carol-token', body: {} });
      expect(self.status).toBe(403);
      expect(self.json.error.code).toBe('not-allowed');
    } finally {
      delete IDENTITIES['carol-admin'];
    }
    // 404: a release or promotion that does not exist.
    expect((await call('GET', `${P}/releases/${'f'.repeat(64)}`, { token: 'alice-token' })).status).toBe(404);
    expect((await call('GET', `${P}/promotions/${'e'.repeat(32)}`, { token: 'alice-token' })).status).toBe(404);
  });
});

describe('server: who may call what', () => {
  async function fixtures(): Promise<{ release: string; promotion: string }> {
    const release = await newRelease(['api=1', 'web=1']);
    const promotion = await promoteTo(release.id, 'dev');
    await settled(promotion.id);
    return { release: release.id, promotion: promotion.id };
  }

  it('every operation in the permission table: 401 without a token, with an unknown one and with a malformed header', async () => {
    const requests = sampleRequests(await fixtures());
    calls = [];
    expect(Object.keys(requests).sort()).toEqual(Object.keys(ROUTE_PERMISSIONS).sort());
    for (const [operation, r] of Object.entries(requests)) {
      for (const headers of [
        {} as Record<string, string>,
        { Authorization: 'Bearer nobody-knows-me' },
        { Authorization: 'Basic YWxpY2U6c2VjcmV0' },
        { Authorization: 'Bearer' },
      ]) {
        const response = await call(r.method, r.path, { body: r.body, headers });
        expect(response.status, `${operation} ${JSON.stringify(headers)}: ${response.text}`).toBe(401);
        expect(response.headers.get('WWW-Authenticate')).toMatch(/^Bearer/);
      }
    }
    expect(calls).toEqual([]);
  });

  it("every operation asks authorize for its table permission (with the request's environment) and answers 403 with the reason when refused", async () => {
    const ids = await fixtures();
    const requests = sampleRequests(ids);
    const environments: Partial<Record<OperationId, string>> = {
      planRelease: 'dev',
      getEnvironment: 'dev',
      getDoraMetrics: 'dev',
      getPromotion: 'dev',
      getPromotionLogs: 'dev',
      getPromotionEvidence: 'dev',
      getPromotionDecisions: 'dev',
      createPromotion: 'dev',
      approvePromotion: 'dev',
      rejectPromotion: 'dev',
      resumePromotion: 'dev',
      cancelPromotion: 'dev',
      rollbackEnvironment: 'dev',
      getDrift: 'dev',
      checkDrift: 'dev',
      stepHistory: 'dev',
    };
    refuse = true;
    const before = await auditLog();
    for (const [operation, r] of Object.entries(requests) as [OperationId, (typeof requests)[OperationId]][]) {
      calls = [];
      const response = await call(r.method, r.path, { token: 'alice-token', body: r.body });
      const rule: RoutePermission | ServerRoute = ROUTE_PERMISSIONS[operation];
      if ('identityOnly' in rule) {
        // Who asks is all it needs to know: it asks authorize nothing, and a valid token is enough.
        expect(response.status, `${operation}: ${response.text}`).toBe(200);
        expect(calls).toEqual([]);
        continue;
      }
      // An inEachProject route asks in each project (here one), for the whole project.
      const permission = 'permission' in rule ? rule.permission : rule.inEachProject;
      expect(response.status, `${operation}: ${response.text}`).toBe(403);
      expect(response.json.error.message).toBe(`test refuses ${permission}`);
      expect(calls).toEqual([
        { identity: 'alice@example.com', permission, project: 'shop', environment: environments[operation] },
      ]);
    }
    // A refused request changed nothing.
    expect((await auditLog()).length).toBe(before.length);
  });

  it('every operation × every role: a role holding the permission gets past the guard, any other gets 403', async () => {
    // Written out here rather than read from access.ts: admin ⊇ releaser ⊇ viewer, approver ⊇ viewer.
    const held: Record<Role, Role[]> = {
      viewer: ['viewer'],
      releaser: ['releaser', 'viewer'],
      approver: ['approver', 'viewer'],
      admin: ['admin', 'releaser', 'viewer'],
    };
    const tokens: Record<Role, string> = {
      viewer: 'victor-token',
      releaser: 'alice-token',
      approver: 'carol-token',
      admin: 'adam-token',
    };
    const requests = sampleRequests(await fixtures());
    for (const [operation, r] of Object.entries(requests) as [OperationId, (typeof requests)[OperationId]][]) {
      const rule = ROUTE_PERMISSIONS[operation];
      const need = 'permission' in rule ? PERMISSIONS[rule.permission] : undefined;
      for (const role of Object.keys(tokens) as Role[]) {
        const response = await call(r.method, r.path, { token: tokens[role], body: r.body });
        const cell = `${operation} as ${role}: ${response.text}`;
        if (need === undefined) {
          // Only a valid token: every role learns who it is.
          expect(response.status, cell).toBe(200);
        } else if (held[role].includes(need)) {
          // Past the guard: what the engine says of these sample requests (2xx, or a 4xx such as 409) is not the guard's.
          expect([401, 403], cell).not.toContain(response.status);
          expect(response.status, cell).toBeLessThan(500);
        } else {
          expect(response.status, cell).toBe(403);
          expect(response.json.error.message, cell).toContain(`needs ${need}`);
        }
      }
    }
  });

  it("without access: in the config, the token's role decides: a viewer reads but may not create, an approver may not promote, a token limited to dev may not promote to staging", async () => {
    IDENTITIES['dev-only'] = {
      name: 'dora@example.com',
      via: { kind: 'token', token: 'dora' },
      role: 'releaser',
      environments: ['dev'],
    };
    try {
      const release = await newRelease(['api=1', 'web=1']);
      expect((await call('GET', `${P}/releases`, { token: 'victor-token' })).status).toBe(200);
      expect((await call('GET', `${P}/config`, { token: 'victor-token' })).status).toBe(200);
      const viewer = await call('POST', `${P}/releases`, { token: 'victor-token', body: { set: ['api=2', 'web=2'] } });
      expect(viewer.status).toBe(403);
      expect(viewer.json.error.message).toBe('victor@example.com may not create releases: needs releaser (has viewer)');
      expect(
        (await call('POST', `${P}/promotions`, { token: 'carol-token', body: { release: release.id, to: 'dev' } }))
          .status,
      ).toBe(403);
      const devOnly = await call('POST', `${P}/promotions`, {
        token: 'dev-only',
        body: { release: release.id, to: 'staging' },
      });
      expect(devOnly.status).toBe(403);
      expect(devOnly.json.error.message).toBe(
        'dora@example.com may not promote to staging: token dora is limited to environment dev',
      );
      const allowed = await call('POST', `${P}/promotions`, {
        token: 'dev-only',
        body: { release: release.id, to: 'dev' },
      });
      expect(allowed.status).toBe(202);
      expect((await settled(allowed.json.promotion.id)).promotion.state).toBe('succeeded');
    } finally {
      delete IDENTITIES['dev-only'];
    }
  });
});

describe('server: malformed requests', () => {
  it('400 naming the request field for bodies and queries that fail their schema', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', `${P}/releases`, { set: 5 }, 'body.set'],
      ['POST', `${P}/releases`, { set: ['api=1', 7] }, 'body.set.1'],
      ['POST', `${P}/releases`, { set: ['api=1'], labels: { risk: 3 } }, 'body.labels.risk'],
      ['POST', `${P}/promotions`, { to: 'dev' }, 'body.release'],
      ['POST', `${P}/promotions`, { release: 'abcdef12', to: 'dev', concurrency: 0 }, 'body.concurrency'],
      ['POST', `${P}/promotions`, { release: 'abcdef12', to: 'dev', concurrency: '4' }, 'body.concurrency'],
      ['GET', `${P}/releases?limit=abc`, undefined, 'query.limit'],
      ['GET', `${P}/releases?limit=0`, undefined, 'query.limit'],
      ['GET', `${P}/releases/abcdef12/plan`, undefined, 'query.to'],
      ['GET', `${P}/audit/verify?head=xyz`, undefined, 'query.head'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await call(method, path, { token: 'alice-token', body });
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`).toBe(400);
      expect(r.json.error.field).toBe(field);
      expect(r.json.error.message).toContain(field);
    }
    // An unknown field is refused, not ignored: a typo must not silently drop what was meant.
    const extra = await call('POST', `${P}/releases`, {
      token: 'alice-token',
      body: { set: ['api=1', 'web=1'], lables: { risk: 'high' } },
    });
    expect(extra.status).toBe(400);
    expect(extra.json.error.message).toContain('lables');
  });

  it('413 for a body over the limit, before it is parsed', async () => {
    app = newApp({ maxBodyBytes: 1024 });
    const r = await call('POST', `${P}/releases`, {
      token: 'alice-token',
      body: { set: ['api=1', 'web=1'], message: 'x'.repeat(2000) },
    });
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('body-too-large');
    expect((await auditLog()).length).toBe(0);
  });

  it('never answers 5xx to a malformed request', async () => {
    const release = await newRelease(['api=1', 'web=1']);
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const requests: { method: string; path: string; raw?: string; body?: unknown; headers?: Record<string, string> }[] =
      [
        { method: 'POST', path: `${P}/releases`, raw: '{"set": [', headers: { 'Content-Type': 'application/json' } },
        { method: 'POST', path: `${P}/releases`, raw: '', headers: { 'Content-Type': 'application/json' } },
        {
          method: 'POST',
          path: `${P}/releases`,
          raw: 'set=api%3D1',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        },
        { method: 'POST', path: `${P}/releases`, raw: '{"set":["api=1"]}', headers: { 'Content-Type': 'text/plain' } },
        { method: 'POST', path: `${P}/releases`, raw: '{"set":["api=1"]}' },
        { method: 'POST', path: `${P}/releases`, raw: deep, headers: { 'Content-Type': 'application/json' } },
        { method: 'POST', path: `${P}/releases`, body: null },
        { method: 'POST', path: `${P}/releases`, body: [] },
        { method: 'POST', path: `${P}/releases`, body: 'api=1' },
        { method: 'POST', path: `${P}/releases`, body: { set: ['=1'] } },
        { method: 'POST', path: `${P}/releases`, body: { set: ['api'] } },
        { method: 'POST', path: `${P}/releases`, body: { set: ['api=1', 'web=1'], from: 'nowhere' } },
        { method: 'POST', path: `${P}/releases`, body: { set: ['api=1', 'web=1'], labels: { '': 'x' } } },
        { method: 'POST', path: `${P}/releases`, body: { set: ['__proto__=1', 'constructor=2'] } },
        {
          method: 'POST',
          path: `${P}/releases`,
          raw: '{"__proto__": {"set": ["api=1"]}, "set": []}',
          headers: { 'Content-Type': 'application/json' },
        },
        { method: 'POST', path: `${P}/releases`, body: { set: ['api=\u0000\u001b[31m', 'web=1'] } },
        { method: 'POST', path: `${P}/promotions`, body: { release: 'abc', to: 'dev' } },
        { method: 'POST', path: `${P}/promotions`, body: { release: release.id, to: '__proto__' } },
        { method: 'POST', path: `${P}/promotions`, body: { release: release.id, to: 'constructor' } },
        { method: 'POST', path: `${P}/promotions`, body: { release: release.id, to: 'dev', concurrency: 1e308 } },
        { method: 'POST', path: `${P}/promotions`, body: { release: 'x'.repeat(300), to: 'dev' } },
        { method: 'POST', path: `${P}/promotions/abc/approve`, body: {} },
        { method: 'POST', path: `${P}/promotions/${'0'.repeat(7)}/reject`, body: { comment: 'x' } },
        { method: 'POST', path: `${P}/promotions/%ZZ/approve`, body: {} },
        { method: 'GET', path: '/api/v1/projects/%ZZ/releases' },
        { method: 'GET', path: '/api/v1/projects/__proto__/releases' },
        { method: 'GET', path: '/api/v1/projects/constructor/releases' },
        { method: 'GET', path: `/api/v1/projects/${'p'.repeat(5000)}/releases` },
        { method: 'GET', path: `${P}/releases/%00` },
        { method: 'GET', path: `${P}/releases/abc` },
        { method: 'GET', path: `${P}/releases/${release.id}/plan?to=${'q'.repeat(500)}` },
        { method: 'GET', path: `${P}/releases/${release.id}/plan?to=__proto__` },
        { method: 'GET', path: `${P}/releases?limit=-1` },
        { method: 'GET', path: `${P}/releases?limit=1e9` },
        { method: 'GET', path: `${P}/releases?limit=2&limit=3` },
        { method: 'GET', path: `${P}/environments/__proto__` },
        { method: 'GET', path: `${P}/environments/toString` },
        { method: 'GET', path: `${P}/promotions/abc/logs` },
        { method: 'POST', path: `${P}/releases/${release.id}/reject`, body: { reason: 7 } },
        { method: 'POST', path: `${P}/releases/abc/reject`, body: { reason: 'x' } },
        { method: 'POST', path: `${P}/promotions/abc/resume`, body: { markDone: 'api' } },
        { method: 'POST', path: `${P}/promotions/${'0'.repeat(7)}/resume`, body: { retryStep: ['__proto__'] } },
        { method: 'POST', path: `${P}/promotions/${'0'.repeat(7)}/cancel`, body: {} },
        { method: 'POST', path: `${P}/promotions/abc/cancel`, body: { reason: ['x'] } },
        { method: 'POST', path: `${P}/environments/__proto__/rollback`, body: {} },
        { method: 'POST', path: `${P}/environments/dev/rollback`, body: { overrideWindow: 'now' } },
        {
          method: 'POST',
          path: `${P}/environments/dev/rollback`,
          raw: '{',
          headers: { 'Content-Type': 'application/json' },
        },
        { method: 'POST', path: `${P}/promotions`, body: { release: release.id, to: 'dev', overrideWindow: {} } },
        { method: 'POST', path: `${P}/promotions/abc/approve`, body: { overrideWindow: { reason: 'x', by: 'me' } } },
        { method: 'GET', path: `${P}/history?limit=x&component=api` },
        { method: 'POST', path: `${P}/tokens`, body: { name: '../../etc' } },
        { method: 'POST', path: `${P}/tokens`, body: { name: 'x', expires: 'forever' } },
        { method: 'POST', path: `${P}/tokens`, body: { name: 'x', environments: ['__proto__'] } },
        { method: 'DELETE', path: `${P}/tokens/nobody` },
        { method: 'DELETE', path: `${P}/tokens/%ZZ` },
        { method: 'DELETE', path: `${P}/releases/${release.id}` },
        { method: 'PUT', path: `${P}/promotions` },
        { method: 'GET', path: `${P}/nothing-here` },
        { method: 'GET', path: '/api/v2/anything' },
      ];
    for (const r of requests) {
      const response = await call(r.method, r.path, {
        token: 'alice-token',
        raw: r.raw,
        body: r.body,
        headers: r.headers,
      });
      expect(
        response.status,
        `${r.method} ${r.path} ${r.raw ?? JSON.stringify(r.body)}: ${response.text}`,
      ).toBeGreaterThanOrEqual(400);
      expect(
        response.status,
        `${r.method} ${r.path} ${r.raw ?? JSON.stringify(r.body)}: ${response.text}`,
      ).toBeLessThan(500);
      expect(response.json.error.message, response.text).toEqual(expect.any(String));
    }
    expect(logged).toEqual([]);
    // A body that is not JSON is refused by its media type, with or without a Content-Type.
    const plain = await call('POST', `${P}/releases`, {
      token: 'alice-token',
      raw: '{"set":["api=2","web=2"]}',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(plain.status).toBe(415);
  });

  it('404 for a project not served here and for an unknown route', async () => {
    const r = await call('GET', '/api/v1/projects/payments/releases', { token: 'alice-token' });
    expect(r.status).toBe(404);
    expect(r.json.error.message).toBe('no project payments is served here (served: shop)');
    expect((await call('GET', '/nothing', {})).status).toBe(404);
  });
});

describe('server: health and the OpenAPI document', () => {
  it('/healthz and /readyz answer without a token; readyz says 503 when a store cannot be read', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, json: { ok: true } });
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ ready: true, projects: { shop: { config: handle.loaded.digest, store: 'ok' } } });
    await handle.close();
    const closed = await call('GET', '/readyz');
    expect(closed.status).toBe(503);
    expect(closed.json.projects.shop?.store).toBe('unreachable');
    expect(logged.join('\n')).toMatch(/readyz: project shop/);
  });

  it('/api/v1/openapi.json is OpenAPI 3.1 and lists every operation of the permission table, with its parameters', async () => {
    const doc = await call<OpenApiDoc>('GET', '/api/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toMatch(/^3\.1\.\d+$/);
    const operations = new Map<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown }>();
    for (const [path, methods] of Object.entries(doc.json.paths)) {
      for (const [method, op] of Object.entries(methods))
        operations.set(op.operationId, { ...op, path, method } as never);
    }
    expect([...operations.keys()].sort()).toEqual([...Object.keys(ROUTE_PERMISSIONS), ...PUBLIC_ROUTES].sort());
    for (const [id, rule] of Object.entries(ROUTE_PERMISSIONS) as [OperationId, RoutePermission | ServerRoute][]) {
      const op = operations.get(id) as { path: string; parameters?: { name: string; in: string }[] };
      // Outside a project: who the token is and in which projects (whoami), and the metrics.
      if (!('permission' in rule)) {
        expect(op.path, id).toBe(
          { whoami: '/api/v1/whoami', metrics: '/metrics', getSession: '/api/v1/session', signOut: '/auth/logout' }[id as string],
        );
        continue;
      }
      expect(op.path).toMatch(/^\/api\/v1\/projects\/\{project\}\//);
      expect(
        op.parameters?.some((p) => p.name === 'project' && p.in === 'path'),
        id,
      ).toBe(true);
    }
    expect(doc.json.components.schemas.CreateRelease?.properties.set?.type).toBe('array');
    // `release` may be left out with `reapply` (the environment's current release), which the schema's refinement checks.
    expect(doc.json.components.schemas.CreatePromotion?.required).toEqual(['to']);
    expect(Object.keys(doc.json.components.schemas.CreatePromotion?.properties ?? {})).toContain('overrideWindow');
    expect(Object.keys(doc.json.components.schemas.CreatePromotion?.properties ?? {})).toContain('reapply');
    expect(Object.keys(doc.json.components.schemas.Resume?.properties ?? {}).sort()).toEqual([
      'markDone',
      'overrideWindow',
      'retryStep',
      'stopRunning',
    ]);
    const exported = doc.json.paths['/api/v1/projects/{project}/audit/export']?.get as unknown as {
      responses: Record<string, { content?: Record<string, unknown> }>;
    };
    expect(Object.keys(exported.responses['200']?.content ?? {})).toEqual(['application/x-ndjson']);
  });
});

describe('server: release reject, resume, cancel, rollback, window overrides, history, audit export, tokens', () => {
  /** A release that succeeded in dev and staging, and its promotion to prod, pending on an approval. */
  async function pendingInProd(
    versions = ['api=1', 'web=1'],
  ): Promise<{ release: ReleaseRecord; prod: PromotionRecord }> {
    const release = await newRelease(versions);
    for (const env of ['dev', 'staging'])
      expect((await settled((await promoteTo(release.id, env)).id)).promotion.state).toBe('succeeded');
    const prod = await promoteTo(release.id, 'prod');
    expect(prod.state).toBe('pending');
    return { release, prod };
  }

  it('POST /releases/{release}/reject: the release can never be promoted again, its pending promotions end', async () => {
    const { release, prod } = await pendingInProd();
    const missing = await call('POST', `${P}/releases/${release.id}/reject`, { token: 'alice-token', body: {} });
    expect(missing.status).toBe(400);
    expect(missing.json.error.field).toBe('body.reason');
    const r = await call<{ release: ReleaseRecord; rejectedPromotions: PromotionRecord[] }>(
      'POST',
      `${P}/releases/${release.id.slice(0, 9)}/reject`,
      { token: 'alice-token', body: { reason: 'corrupts invoices' } },
    );
    expect(r.status, r.text).toBe(200);
    expect(r.json.release.rejected).toMatchObject({ by: 'alice@example.com', reason: 'corrupts invoices' });
    expect(r.json.rejectedPromotions.map((p) => [p.id, p.state])).toEqual([[prod.id, 'rejected']]);
    const again = await call('POST', `${P}/promotions`, {
      token: 'alice-token',
      body: { release: release.id, to: 'dev' },
    });
    // Recorded, and refused by the release gate at once: as `lockstep promote` of a rejected release.
    expect(again.status, again.text).toBe(202);
    expect(again.json.promotion.state).toBe('rejected');
    expect(again.json.promotion.reason).toContain('release rejected by alice@example.com');
    const entry = (await auditLog()).find((e) => e.kind === 'release.rejected');
    expect(entry?.data).toMatchObject({ reason: 'corrupts invoices', identity: 'authenticated', token: 'alice-ci' });
  });

  it('GET /promotions/{promotion}/decisions: what the caller may decide and why not, in the words approve, cancel, resume and rollback would refuse with; it records nothing', async () => {
    const { prod } = await pendingInProd();
    type Decision = { allowed: boolean; reason?: string };
    type Decisions = Record<'approve' | 'reject' | 'cancel' | 'retry' | 'markDone' | 'rollback', Decision> & {
      interruptedSteps: string[];
      rollbackTo?: string;
    };
    const ask = async (token: string): Promise<Decisions> => {
      const r = await call<Decisions>('GET', `${P}/promotions/${prod.id.slice(0, 10)}/decisions`, { token });
      expect(r.status, r.text).toBe(200);
      return r.json;
    };
    const before = (await auditLog()).length;
    const notInterrupted = `promotion ${prod.id.slice(0, 12)} is pending: only an interrupted promotion's steps can be retried or marked done`;
    // carol is an approver in group:sre: she decides on the gate, but cancelling and resuming take a releaser.
    const carol = await ask('carol-token');
    expect(carol).toMatchObject({
      approve: { allowed: true },
      reject: { allowed: true },
      cancel: { allowed: false, reason: 'carol@example.com may not cancel promotions in prod: needs releaser there (has approver)' },
      retry: { allowed: false, reason: 'carol@example.com may not resume promotions in prod: needs releaser there (has approver)' },
      markDone: { allowed: false, reason: 'carol@example.com may not mark steps done in prod: needs admin there (has approver)' },
      interruptedSteps: [],
    });
    // An admin may cancel the pending promotion; resuming it is refused by its state, not the role.
    const adam = await ask('adam-token');
    expect(adam).toMatchObject({
      approve: { allowed: false },
      cancel: { allowed: true },
      retry: { allowed: false, reason: notInterrupted },
      markDone: { allowed: false, reason: notInterrupted },
    });
    // A rollback is offered exactly when prod ran an earlier release to go back to.
    expect(adam.rollback.allowed).toBe(adam.rollbackTo !== undefined);
    if (!adam.rollback.allowed) expect(adam.rollback.reason).toMatch(/nothing (has been promoted to prod yet|to roll back to)/);
    // victor's role refuses everything, before the gate or the state is asked.
    const refused = 'victor@example.com may not approve in prod: needs approver there (has viewer)';
    const victor = await ask('victor-token');
    expect(victor).toMatchObject({
      approve: { allowed: false, reason: refused },
      reject: { allowed: false, reason: refused },
      cancel: { allowed: false },
      retry: { allowed: false },
      markDone: { allowed: false },
      rollback: { allowed: false },
    });
    expect(victor.cancel.reason).toContain('victor@example.com may not');
    // Asking is not trying: no approval.refused entry, nothing at all.
    expect((await auditLog()).length).toBe(before);

    const approved = await call('POST', `${P}/promotions/${prod.id}/approve`, { token: 'carol-token', body: {} });
    expect(approved.status, approved.text).toBe(200);
    const done = await settled(prod.id);
    expect(done.promotion.state).toBe('succeeded');
    const over = `promotion ${prod.id.slice(0, 12)} is succeeded: only a pending promotion can be approved or rejected`;
    expect(await ask('carol-token')).toMatchObject({
      approve: { allowed: false, reason: over },
      reject: { allowed: false, reason: over },
    });
    expect((await ask('adam-token')).cancel).toEqual({
      allowed: false,
      reason: `promotion ${prod.id.slice(0, 12)} is succeeded: only a pending or running promotion can be cancelled`,
    });
  });

  it('POST /promotions/{promotion}/cancel: a pending promotion ends cancelled; a finished one is a 409', async () => {
    const { release, prod } = await pendingInProd();
    const r = await call('POST', `${P}/promotions/${prod.id}/cancel`, {
      token: 'alice-token',
      body: { reason: 'wrong release' },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json.promotion).toMatchObject({
      id: prod.id,
      state: 'cancelled',
      reason: 'cancelled by alice@example.com: wrong release',
    });
    expect((await call('GET', `${P}/promotions/${prod.id}`, { token: 'victor-token' })).json.promotion.state).toBe(
      'cancelled',
    );
    const finished = (await auditLog()).filter((e) => e.kind === 'promotion.finished' && e.promotionId === prod.id);
    expect(finished.map((e) => e.data)).toEqual([
      expect.objectContaining({ state: 'cancelled', identity: 'authenticated', token: 'alice-ci' }),
    ]);
    // Once ended, or never pending: nothing to cancel here.
    const again = await call('POST', `${P}/promotions/${prod.id}/cancel`, { token: 'alice-token', body: {} });
    expect(again.status).toBe(409);
    expect(again.json.error.message).toBe(
      `promotion ${prod.id.slice(0, 12)} is cancelled: only a pending or running promotion can be cancelled`,
    );
    const [dev] = (await call<PromotionRecord[]>('GET', `${P}/promotions?env=dev`, { token: 'alice-token' })).json;
    expect(dev?.releaseId).toBe(release.id);
    expect(
      (await call('POST', `${P}/promotions/${dev?.id ?? ''}/cancel`, { token: 'alice-token', body: {} })).status,
    ).toBe(409);
  });

  it('POST /promotions/{promotion}/cancel refuses a pending promotion that ran in part: its systems changed, rejecting it applies its failure policy', async () => {
    const { prod } = await pendingInProd();
    // What a promotion whose plan changed after it had started looks like while it waits for a new approval.
    await handle.store.commit({ promotion: { record: { ...prod, startedAt: new Date().toISOString() } }, audit: [] });
    const r = await call('POST', `${P}/promotions/${prod.id}/cancel`, { token: 'alice-token', body: {} });
    expect(r.status).toBe(409);
    expect(r.json.error.message).toContain('ran in part');
    expect((await call('GET', `${P}/promotions/${prod.id}`, { token: 'alice-token' })).json.promotion.state).toBe(
      'pending',
    );
  });

  it('POST /promotions/{promotion}/resume: a pending one has its gates evaluated again; markDone needs mark-done (admin) besides resume', async () => {
    const { prod } = await pendingInProd();
    const r = await call('POST', `${P}/promotions/${prod.id}/resume`, { token: 'alice-token', body: {} });
    expect(r.status, r.text).toBe(202);
    expect(r.json.promotion).toMatchObject({ id: prod.id, state: 'pending' });

    calls = [];
    const releaser = await call('POST', `${P}/promotions/${prod.id}/resume`, {
      token: 'alice-token',
      body: { markDone: ['api'] },
    });
    expect(releaser.status).toBe(403);
    expect(releaser.json.error.message).toBe(
      'alice@example.com may not mark steps done in prod: needs admin there (has releaser)',
    );
    expect(calls.map((c) => [c.permission, c.environment])).toEqual([
      ['resume', 'prod'],
      ['mark-done', 'prod'],
    ]);
    // An empty list asks for nothing more; an admin gets past the guard, and the engine decides: markDone is for an interrupted promotion.
    expect(
      (await call('POST', `${P}/promotions/${prod.id}/resume`, { token: 'alice-token', body: { markDone: [] } }))
        .status,
    ).toBe(202);
    const admin = await call('POST', `${P}/promotions/${prod.id}/resume`, {
      token: 'adam-token',
      body: { markDone: ['api'] },
    });
    expect(admin.status, admin.text).toBe(409);
    expect(admin.json.error.message).toContain('--retry-step and --mark-done only apply to an interrupted promotion');
    const bad = await call('POST', `${P}/promotions/${prod.id}/resume`, {
      token: 'adam-token',
      body: { retryStep: 'api' },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('body.retryStep');
  });

  it('POST /environments/{environment}/rollback: 202, then the release that ran before runs again, recorded as a rollback', async () => {
    const first = await newRelease(['api=1.0.0', 'web=1.0.0']);
    const nothing = await call('POST', `${P}/environments/dev/rollback`, { token: 'alice-token', body: {} });
    expect(nothing.status).toBe(404);
    expect(nothing.json.error.message).toBe('nothing has been promoted to dev yet: there is nothing to roll back');
    await settled((await promoteTo(first.id, 'dev')).id);
    const second = await newRelease(['api=2.0.0', 'web=2.0.0']);
    const current = (await settled((await promoteTo(second.id, 'dev')).id)).promotion;
    expect(project.running('dev', 'api')).toBe('2.0.0');

    const viewer = await call('POST', `${P}/environments/dev/rollback`, { token: 'victor-token', body: {} });
    expect(viewer.status).toBe(403);
    const r = await call('POST', `${P}/environments/dev/rollback`, { token: 'alice-token', body: { concurrency: 1 } });
    expect(r.status, r.text).toBe(202);
    expect(r.json.promotion).toMatchObject({
      kind: 'rollback',
      releaseId: first.id,
      rollbackOf: current.id,
      requestedBy: 'alice@example.com',
    });
    expect((await settled(r.json.promotion.id)).promotion.state).toBe('succeeded');
    expect(project.running('dev', 'api')).toBe('1.0.0');
    expect(project.running('dev', 'web')).toBe('1.0.0');
    const unknown = await call('POST', `${P}/environments/qa/rollback`, { token: 'alice-token', body: {} });
    expect(unknown.status).toBe(400);
  });

  it('overrideWindow on promote and approve needs override-window (admin); the engine then asks the gates’ overrideBy', async () => {
    const release = await newRelease(['api=1', 'web=1']);
    const overrideWindow = { reason: 'outage' };
    const releaser = await call('POST', `${P}/promotions`, {
      token: 'alice-token',
      body: { release: release.id, to: 'dev', overrideWindow },
    });
    expect(releaser.status).toBe(403);
    expect(releaser.json.error.message).toBe(
      'alice@example.com may not override change windows in dev: needs admin there (has releaser)',
    );
    // An admin passes the guard; dev's gates name nobody in overrideBy, so the engine refuses, as the CLI does.
    const admin = await call('POST', `${P}/promotions`, {
      token: 'adam-token',
      body: { release: release.id, to: 'dev', overrideWindow },
    });
    expect(admin.status).toBe(403);
    expect(admin.json.error.message).toBe(
      'nobody may override the change windows of dev: its gates name no overrideBy',
    );
    const empty = await call('POST', `${P}/promotions`, {
      token: 'adam-token',
      body: { release: release.id, to: 'dev', overrideWindow: { reason: '' } },
    });
    expect(empty.status).toBe(400);
    expect(empty.json.error.field).toBe('body.overrideWindow.reason');
    expect((await auditLog()).filter((e) => e.kind === 'promotion.requested')).toEqual([]);

    const { prod } = await pendingInProd(['api=2', 'web=2']);
    calls = [];
    const approver = await call('POST', `${P}/promotions/${prod.id}/approve`, {
      token: 'carol-token',
      body: { overrideWindow },
    });
    expect(approver.status).toBe(403);
    expect(calls.map((c) => c.permission)).toEqual(['approve', 'override-window']);
    expect((await call('GET', `${P}/promotions/${prod.id}`, { token: 'carol-token' })).json.promotion.state).toBe(
      'pending',
    );
  });

  it('GET /history: the steps of a component across promotions, newest first', async () => {
    const one = await newRelease(['api=1', 'web=1']);
    await settled((await promoteTo(one.id, 'dev')).id);
    await settled((await promoteTo(one.id, 'staging')).id);
    const two = await newRelease(['api=2', 'web=1']);
    await settled((await promoteTo(two.id, 'dev')).id);
    const all = await call<StepRecord[]>('GET', `${P}/history?component=api`, { token: 'victor-token' });
    expect(all.status, all.text).toBe(200);
    expect(all.json.map((s) => [s.environment, s.component, s.toVersion])).toEqual([
      ['dev', 'api', '2'],
      ['staging', 'api', '1'],
      ['dev', 'api', '1'],
    ]);
    const dev = await call<StepRecord[]>('GET', `${P}/history?component=api&environment=dev&limit=1`, {
      token: 'victor-token',
    });
    expect(dev.json.map((s) => [s.environment, s.toVersion, s.fromVersion])).toEqual([['dev', '2', '1']]);
    expect((await call('GET', `${P}/history?limit=0`, { token: 'victor-token' })).json.error.field).toBe('query.limit');
  });

  it('GET /audit/export streams the audit log as JSON lines, the entries as stored (what `lockstep audit export` writes)', async () => {
    const release = await newRelease(['api=1', 'web=1']);
    await settled((await promoteTo(release.id, 'dev')).id);
    const response = await app.request(`${P}/audit/export`, { headers: { Authorization: 'Bearer victor-token' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toMatch(/^application\/x-ndjson/);
    const text = await response.text();
    const entries = await auditLog();
    expect(entries.length).toBeGreaterThan(3);
    expect(text).toBe(entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
  });

  it('tokens: an admin makes one (its text in the 201 only), lists and revokes them; the text is in no log, audit entry or later answer', async () => {
    const viewer = await call('POST', `${P}/tokens`, { token: 'alice-token', body: { name: 'ci-bot' } });
    expect(viewer.status).toBe(403);
    expect(viewer.json.error.message).toBe('alice@example.com may not manage tokens: needs admin (has releaser)');
    const created = await call<{
      name: string;
      token: string;
      record: { name: string; identity: string; role?: string; state: string };
    }>('POST', `${P}/tokens`, {
      token: 'adam-token',
      body: { name: 'ci-bot', for: 'ci@example.com', role: 'releaser', expires: '90d' },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.json.token).toMatch(/^lst_/);
    expect(created.json.record).toMatchObject({
      name: 'ci-bot',
      identity: 'ci@example.com',
      role: 'releaser',
      state: 'active',
    });
    const secret = created.json.token;

    const bad = await call('POST', `${P}/tokens`, { token: 'adam-token', body: { name: 'x', role: 'superuser' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('body.role');

    const list = await call('GET', `${P}/tokens`, { token: 'adam-token' });
    expect(list.status).toBe(200);
    expect(list.json).toEqual([expect.objectContaining({ name: 'ci-bot', state: 'active' })]);
    const revoked = await call('DELETE', `${P}/tokens/ci-bot`, { token: 'adam-token' });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.json).toMatchObject({ name: 'ci-bot', state: 'revoked' });
    expect((await call('DELETE', `${P}/tokens/ci-bot`, { token: 'adam-token' })).status).toBe(404);

    const audit = await auditLog();
    expect(audit.filter((e) => e.kind.startsWith('token.')).map((e) => [e.kind, e.actor])).toEqual([
      ['token.created', 'adam@example.com'],
      ['token.revoked', 'adam@example.com'],
    ]);
    const exported = await (
      await app.request(`${P}/audit/export`, { headers: { Authorization: 'Bearer adam-token' } })
    ).text();
    for (const text of [JSON.stringify(audit), exported, list.text, revoked.text, logged.join('\n')])
      expect(text).not.toContain(secret.slice(4));
  });
});
