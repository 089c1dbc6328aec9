import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authorize, type Identity } from '../../src/core/access.js';
import type { AuditEntry } from '../../src/core/audit.js';
import type { DriftReport, DriftState } from '../../src/core/drift.js';
import type { PromotionRecord } from '../../src/core/model.js';
import type { EnvironmentStatus } from '../../src/engine/status.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { createApp } from '../../src/server/app.js';
import { BackgroundRuns } from '../../src/server/background.js';
import { testProject, type TestProject } from '../helpers/project.js';

// Drift through the HTTP API, in process: a check is an action (releaser), reading the last one a
// read (viewer); `reapply` on POST /promotions corrects what the check found.

const IDENTITIES: Record<string, Identity> = {
  'alice-token': { name: 'alice@example.com', via: { kind: 'token', token: 'alice-ci' }, role: 'releaser' },
  'victor-token': { name: 'victor@example.com', via: { kind: 'token', token: 'victor' }, role: 'viewer' },
};

let project: TestProject;
let handle: ProjectHandle;
let background: BackgroundRuns;
let app: ReturnType<typeof createApp>;

beforeEach(async () => {
  project = testProject(`project: shop
environments:
  prod: {}
components:
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      observe: ["./observe.sh"]
`);
  handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  background = new BackgroundRuns(() => undefined);
  app = createApp({
    background,
    projects: new Map([[handle.name, handle]]),
    authenticate: (bearer) => Promise.resolve(IDENTITIES[bearer]),
    authorize: (identity, permission, _project, environment) => authorize(handle.loaded.config, identity, permission, environment),
    log: () => undefined,
  });
});

afterEach(async () => {
  await background.idle();
  await handle.close();
  project.cleanup();
});

const P = '/api/v1/projects/shop';

async function call<T>(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await app.request(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as T };
}

async function settled(id: string): Promise<PromotionRecord> {
  for (;;) {
    const { json } = await call<{ promotion: PromotionRecord }>('GET', `${P}/promotions/${id}`, 'alice-token');
    if (['succeeded', 'failed', 'rejected', 'cancelled'].includes(json.promotion.state)) return json.promotion;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('drift through the API', () => {
  it('POST …/drift checks and records (releaser), GET reads the last check (viewer); reapply corrects it', async () => {
    const created = await call<{ release: { id: string } }>('POST', `${P}/releases`, 'alice-token', { set: ['api=1.0.0'] });
    expect(created.status).toBe(201);
    const promoted = await call<{ promotion: PromotionRecord }>('POST', `${P}/promotions`, 'alice-token', { release: created.json.release.id, to: 'prod' });
    expect(promoted.status).toBe(202);
    expect((await settled(promoted.json.promotion.id)).state).toBe('succeeded');

    project.write('systems/prod/api', '0.9.0-by-hand\n');

    // A viewer may read, not check: a check writes the audit log.
    const refused = await call<{ error: { message: string } }>('POST', `${P}/environments/prod/drift`, 'victor-token', {});
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toContain('may not check drift in prod');

    const checked = await call<DriftReport>('POST', `${P}/environments/prod/drift`, 'alice-token', {});
    expect(checked.status).toBe(200);
    expect(checked.json.drifted).toBe(true);
    expect(checked.json.components[0]?.findings).toEqual([{ component: 'api', field: 'version', expected: '1.0.0', found: '0.9.0-by-hand' }]);

    const read = await call<DriftState[]>('GET', `${P}/environments/prod/drift`, 'victor-token');
    expect(read.status).toBe(200);
    expect(read.json.map((d) => [d.component, d.state])).toEqual([['api', 'drifted']]);
    const status = await call<EnvironmentStatus>('GET', `${P}/environments/prod`, 'victor-token');
    expect(status.json.drift.map((d) => d.state)).toEqual(['drifted']);

    // Bad input: 400, naming the field; nothing recorded.
    const unknown = await call<{ error: { message: string } }>('POST', `${P}/environments/prod/drift`, 'alice-token', { component: 'nope' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toContain('unknown component nope');
    expect((await call<{ error: unknown }>('POST', `${P}/environments/prod/drift`, 'alice-token', { component: 7 })).status).toBe(400);
    expect((await call<{ error: unknown }>('POST', `${P}/promotions`, 'alice-token', { to: 'prod' })).status).toBe(400);

    const reapplied = await call<{ promotion: PromotionRecord }>('POST', `${P}/promotions`, 'alice-token', { to: 'prod', reapply: ['api'] });
    expect(reapplied.status).toBe(202);
    const done = await settled(reapplied.json.promotion.id);
    expect(done.state).toBe('succeeded');
    expect(done.reapply).toEqual(['api']);
    expect(project.running('prod', 'api')).toBe('1.0.0');

    const clean = await call<DriftReport>('POST', `${P}/environments/prod/drift`, 'alice-token', {});
    expect(clean.json.drifted).toBe(false);
    const audit: AuditEntry[] = await handle.store.auditPage(null, 1000);
    expect(audit.filter((e) => e.kind.startsWith('drift.')).map((e) => [e.kind, e.actor, e.data.identity])).toEqual([
      ['drift.detected', 'alice@example.com', 'authenticated'],
      ['drift.cleared', 'alice@example.com', 'authenticated'],
    ]);
  });
});
