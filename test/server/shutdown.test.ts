import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { openProjectHandle } from '../../src/project/project-handle.js';
import { authorize } from '../../src/core/access.js';
import { startServer } from '../../src/server/serve.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Stopping the server over real HTTP: in flight work finishes before the stores close. The step
// sleeps a second so that the stop surely comes while it runs; nothing here measures time.
let project: TestProject | undefined;
afterEach(() => project?.cleanup());

const ALICE: Identity = { name: 'alice@example.com', via: { kind: 'token', token: 'alice-ci' }, role: 'releaser' };

describe('server shutdown', () => {
  it('close() drains: readyz says so and writes are refused while the running step ends; its promotion ends, then the store closes', async () => {
    project = testProject(
      `project: shop\nenvironments:\n  dev: {}\ncomponents:\n  api:\n${commandComponent({ extra: '      env: { STEP_SLEEP: "1" }' })}\n`,
    );
    const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
    const server = await startServer({
      projects: new Map([[handle.name, handle]]),
      host: '127.0.0.1',
      port: 0,
      authenticate: (bearer) => Promise.resolve(bearer === 'alice' ? ALICE : undefined),
      authorize: (identity, permission, _project, environment) => authorize(handle.loaded.config, identity, permission, environment),
      log: () => undefined,
    });
    const headers = { Authorization: 'Bearer alice', 'Content-Type': 'application/json' };
    const created = await fetch(`${server.url}/api/v1/projects/shop/releases`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ set: ['api=2.0.0'] }),
    });
    const { release } = (await created.json()) as { release: ReleaseRecord };
    const started = await fetch(`${server.url}/api/v1/projects/shop/promotions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ release: release.id, to: 'dev' }),
    });
    expect(started.status).toBe(202);
    const { promotion } = (await started.json()) as { promotion: PromotionRecord };
    expect(promotion.state).toBe('running');

    const closing = server.close();
    // Draining while the step runs: load balancers read that on /readyz; nothing new is taken.
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, draining: true });
    const refused = await fetch(`${server.url}/api/v1/projects/shop/releases`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ set: ['api=3.0.0'] }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('shutting-down');
    await closing;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();

    // The run was not cut off: it finished and was recorded before the store closed.
    expect(project.running('dev', 'api')).toBe('2.0.0');
    const store = SqliteStore.open(join(project.dir, '.lockstep', 'state.db'), { readonly: true });
    try {
      expect((await store.getPromotion(promotion.id)).state).toBe('succeeded');
    } finally {
      await store.close();
    }
  });
});
