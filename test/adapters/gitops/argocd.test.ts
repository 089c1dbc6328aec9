import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArgoCdClient, ArgoCdError } from '../../../src/adapters/gitops/argocd-client.js';
import { gitopsAdapter } from '../../../src/adapters/gitops/gitops-adapter.js';
import { gitopsSpec, type GitopsSpec } from '../../../src/adapters/gitops/gitops-spec.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { StepFailure } from '../../../src/core/errors.js';
import { stalledServer, type StalledServer } from '../../helpers/stalled-server.js';
import { stepContext, type TestStepContext } from '../../helpers/step-context.js';
import { fakeArgoCd, type FakeApplication, type FakeArgoCd } from './fake-argocd.js';
import { gitFixture, overlay, type GitFixture } from './git-fixture.js';
import { failure } from '../../helpers/step-failure.js';

// Argo CD cannot run here: these tests drive the real client over HTTP against a FAKE Argo CD server
// that speaks the documented API (see fake-argocd.ts); the git side is a real bare repository.

const PROD = 'apps/api/overlays/prod';
let fx: GitFixture;
let argo: FakeArgoCd;
let cacheDir: string;

beforeEach(async () => {
  fx = gitFixture({ [`${PROD}/kustomization.yaml`]: overlay('prod', '1.4.1') });
  cacheDir = fx.cacheDir;
  argo = await fakeArgoCd('api-prod', fx.head());
});

afterEach(async () => {
  await argo.close();
  fx.cleanup();
});

function spec(argocd: Record<string, unknown> = {}): GitopsSpec {
  return gitopsSpec.parse({
    repo: fx.remote,
    path: PROD,
    set: [{ kustomizeImage: 'acme/api', tag: '1.4.2' }],
    argocd: { server: argo.url, app: 'api-prod', token: argo.token, timeout: '5s', interval: '40ms', stableFor: '100ms', ...argocd },
  });
}

function context(overrides: Partial<StepContext> = {}): TestStepContext {
  return stepContext({ cacheDir, projectDir: fx.root, component: 'api', environment: { name: 'prod', vars: {} }, version: '1.4.2', ...overrides });
}

/** apply, then verify, as the engine runs a step. */
async function deploy(s: GitopsSpec, c: TestStepContext = context()): Promise<Record<string, unknown>> {
  const outputs = await gitopsAdapter.apply(s, await gitopsAdapter.plan(s, c.ctx), c.ctx);
  await gitopsAdapter.verify?.(s, outputs, c.ctx);
  return outputs;
}

/** After a sync request, the rollout goes through `stages`, each after its delay (ms since the sync). */
function rollout(stages: [number, (app: FakeApplication) => void][]): void {
  let syncedAt: number | undefined;
  argo.onSync = (app) => {
    syncedAt = Date.now();
    app.status.operationState = { phase: 'Running', message: 'waiting for healthy state of apps/Deployment/api', startedAt: new Date().toISOString() };
    app.status.sync = { status: 'OutOfSync', revision: app.status.sync.revision ?? '' };
  };
  argo.onGet = (app) => {
    if (syncedAt === undefined) return;
    for (const [after, stage] of stages) if (Date.now() - syncedAt >= after) stage(app);
  };
}

const syncedTo = (revision: () => string, health: string, message?: string) => (app: FakeApplication) => {
  app.status.sync = { status: 'Synced', revision: revision() };
  app.status.health = message === undefined ? { status: health } : { status: health, message };
  const operation = app.status.operationState;
  if (health === 'Healthy' && operation) app.status.operationState = { ...operation, phase: 'Succeeded', message: 'successfully synced (all tasks run)' };
};

describe('gitops with a FAKE Argo CD server', () => {
  it('waits until the Application is Synced and Healthy at our commit, streaming what Argo CD reports', async () => {
    rollout([
      [150, syncedTo(() => fx.head(), 'Progressing', 'Waiting for rollout to finish: 1 old replicas are pending termination...')],
      [400, syncedTo(() => fx.head(), 'Healthy')],
    ]);
    const c = context();
    const started = Date.now();
    const outputs = await deploy(spec(), c);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(outputs.commit).toBe(fx.head());
    const log = c.lines.join('\n');
    expect(log).toContain(`waiting for Argo CD api-prod to run ${fx.head().slice(0, 12)} (Synced and Healthy)`);
    expect(log).toContain('asked Argo CD to sync api-prod');
    expect(log).toMatch(/Argo CD api-prod: sync OutOfSync, health Healthy, revision [0-9a-f]{12}, operation Running/);
    expect(log).toContain('Argo CD api-prod health: Waiting for rollout to finish: 1 old replicas are pending termination...');
    expect(log).toContain('Argo CD api-prod operation: successfully synced (all tasks run)');
    expect(log).toContain(`Argo CD api-prod is Synced and Healthy at ${fx.head().slice(0, 12)}`);
    // The documented calls, with the token as a bearer token only.
    const calls = argo.requests.map((r) => `${r.method} ${r.path}${r.query.refresh ? `?refresh=${r.query.refresh}` : ''}`);
    expect(calls.slice(0, 3)).toEqual(['GET /api/v1/applications/api-prod', 'GET /api/v1/applications/api-prod?refresh=normal', 'POST /api/v1/applications/api-prod/sync']);
    expect(argo.requests.every((r) => r.authorization === `Bearer ${argo.token}`)).toBe(true);
    expect(argo.requests.find((r) => r.method === 'POST')?.body).toEqual({ name: 'api-prod', prune: false });
    expect(log).not.toContain(argo.token);
  });

  it('fails with Argo CD’s own message when the Application turns Degraded', async () => {
    rollout([
      [
        100,
        (app) => {
          syncedTo(() => fx.head(), 'Degraded', 'Deployment "api" exceeded its progress deadline')(app);
          app.status.resources = [
            { kind: 'Deployment', name: 'api', namespace: 'checkout', health: { status: 'Degraded', message: 'Deployment "api" exceeded its progress deadline' } },
            { kind: 'Service', name: 'api', namespace: 'checkout', health: { status: 'Healthy' } },
          ];
        },
      ],
    ]);
    const error = await failure(deploy(spec()));
    expect(error.message).toBe(
      `Argo CD reports api-prod Degraded at ${fx.head().slice(0, 12)}: Deployment "api" exceeded its progress deadline; Deployment/api: Deployment "api" exceeded its progress deadline`,
    );
    expect(error.retryable).toBe(false);
  });

  it('fails with the operation’s message when the sync fails', async () => {
    rollout([
      [
        80,
        (app) => {
          app.status.operationState = {
            phase: 'Failed',
            message: 'one or more objects failed to apply, reason: admission webhook "policy.example.com" denied the request',
            startedAt: app.status.operationState?.startedAt ?? '',
            syncResult: { revision: fx.head() },
          };
        },
      ],
    ]);
    const error = await failure(deploy(spec()));
    expect(error.message).toBe(
      'Argo CD sync of api-prod failed: one or more objects failed to apply, reason: admission webhook "policy.example.com" denied the request',
    );
  });

  it('times out when the Application never syncs to our commit', async () => {
    argo.onSync = () => undefined; // accepted, and nothing ever happens
    const error = await failure(deploy(spec({ timeout: '600ms' })));
    expect(error.message).toMatch(
      /^Argo CD api-prod did not become Synced and Healthy at [0-9a-f]{12} within 600ms: sync Synced, health Healthy, revision [0-9a-f]{12}$/,
    );
    expect(error.retryable).toBe(true);
  });

  it('fails before pushing anything when Argo CD refuses the token (401), without showing it', async () => {
    const before = fx.head();
    const wrong = 'not-the-token-abcdef';
    const c = context();
    const error = await failure(deploy(spec({ token: wrong }), c));
    expect(error.message).toBe('Argo CD refused the credentials (401): invalid session: token signature is invalid');
    expect(error.untouched).toBe(true);
    expect(fx.head()).toBe(before);
    expect(`${error.message}\n${c.lines.join('\n')}`).not.toContain(wrong);
  });

  it('says so when the Application does not exist or may not be read (403)', async () => {
    const error = await failure(deploy(spec({ app: 'api-nope' })));
    expect(error.message).toBe('Argo CD denied access (403): the Application does not exist, or the account may not see it: permission denied');
  });

  it('logs in with username and password (POST /api/v1/session) and uses the session token', async () => {
    rollout([[50, syncedTo(() => fx.head(), 'Healthy')]]);
    await deploy(spec({ token: undefined, username: 'admin', password: 'correct horse battery staple', stableFor: '0s' }));
    // Once for apply's check before pushing, once for verify's wait: not once per request.
    const logins = argo.requests.filter((r) => r.path === '/api/v1/session');
    expect(logins.map((r) => r.body)).toEqual([
      { username: 'admin', password: 'correct horse battery staple' },
      { username: 'admin', password: 'correct horse battery staple' },
    ]);
    const others = argo.requests.filter((r) => r.path !== '/api/v1/session');
    expect(others.length).toBeGreaterThan(3);
    expect(others.every((r) => /^Bearer session-[12]$/.test(r.authorization ?? ''))).toBe(true);
  });

  it('does not ask an auto-syncing Application to sync, and accepts a descendant of our commit', async () => {
    argo.app.spec.syncPolicy = { automated: { prune: true, selfHeal: true } };
    let outsider = '';
    let polls = 0;
    argo.onGet = (app) => {
      polls += 1;
      // Someone pushed after us; Argo CD deploys their (newer) commit, which contains ours.
      if (polls === 4) syncedTo(() => outsider, 'Healthy')(app);
    };
    const s = spec({ stableFor: '0s' });
    const c = context();
    const outputs = await gitopsAdapter.apply(s, { summary: '' }, c.ctx);
    outsider = await fx.commitOutside({ 'README.md': 'later\n' }, 'a later commit');
    await gitopsAdapter.verify?.(s, outputs, c.ctx);
    expect(argo.requests.some((r) => r.method === 'POST')).toBe(false);
    expect(c.lines.join('\n')).toContain('syncs automatically');
    expect(c.lines.join('\n')).toContain(`Synced and Healthy at ${outsider.slice(0, 12)}`);
  });

  it('waits for the rollback commit the same way', async () => {
    const s = spec({ stableFor: '0s' });
    const c = context({ promotionId: 'promo-rb' });
    argo.onGet = (app) => syncedTo(() => fx.head(), 'Healthy')(app);
    await deploy(s, c);
    const requests = argo.requests.length;
    await gitopsAdapter.rollback?.(s, c.ctx);
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.1'));
    expect(argo.requests.length).toBeGreaterThan(requests);
    expect(c.lines.at(-1)).toBe(`Argo CD api-prod is Synced and Healthy at ${fx.head().slice(0, 12)}`);
  });

  it('observe reports the revision the Application runs, and drift when it is OutOfSync', async () => {
    argo.app.status.sync = { status: 'OutOfSync', revision: fx.head() };
    const observed = await gitopsAdapter.observe?.(spec(), context().ctx);
    expect(observed?.version).toBe('1.4.1');
    expect(observed?.details?.argocd).toEqual({ app: 'api-prod', sync: 'OutOfSync', health: 'Healthy', revision: fx.head() });
    expect(observed?.drift).toEqual([`Argo CD api-prod is OutOfSync (it runs ${fx.head().slice(0, 12)}; main is at ${fx.head().slice(0, 12)})`]);
  });
});

describe('the Argo CD client against a FAKE Argo CD server', () => {
  const client = (extra: Partial<ConstructorParameters<typeof ArgoCdClient>[0]> = {}, retries: string[] = []) =>
    new ArgoCdClient({ server: argo.url, token: argo.token, signal: new AbortController().signal, retryDelayMs: 5, onRetry: (l) => retries.push(l), ...extra });

  it('retries server errors with backoff, then succeeds', async () => {
    argo.failures = [503, 502];
    const retries: string[] = [];
    const app = await client({}, retries).getApplication('api-prod');
    expect(app.status?.health?.status).toBe('Healthy');
    expect(retries).toHaveLength(2);
    expect(retries[0]).toMatch(new RegExp(`^GET ${argo.url}/api/v1/applications/api-prod: Argo CD answered 503: upstream connect error \\(503\\); retrying in [0-9.]+s \\(attempt 2 of 5\\)$`));
  });

  it('gives up after the last attempt, saying the failure may pass', async () => {
    argo.failures = [500, 500, 500];
    const error = await client({ maxAttempts: 3 })
      .getApplication('api-prod')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArgoCdError);
    expect((error as ArgoCdError).message).toBe('Argo CD answered 500: upstream connect error (500) (gave up after 3 attempts)');
    expect((error as ArgoCdError).retryable).toBe(true);
  });

  it('does not retry a client error', async () => {
    argo.failures = [400];
    const retries: string[] = [];
    await expect(client({}, retries).getApplication('api-prod')).rejects.toThrow('Argo CD answered 400: upstream connect error (400)');
    expect(retries).toEqual([]);
  });

  it('retries when the server cannot be reached', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const retries: string[] = [];
    const error = await client({ server: `http://127.0.0.1:${port}`, maxAttempts: 2 }, retries)
      .getApplication('api-prod')
      .catch((e: unknown) => e);
    expect((error as ArgoCdError).message).toMatch(new RegExp(`^Argo CD at http://127.0.0.1:${port} could not be reached: .*ECONNREFUSED.* \\(gave up after 2 attempts\\)$`));
    expect(retries).toHaveLength(1);
  });
});

describe('deadlines against a FAKE Argo CD that stalls', () => {
  let stalled: StalledServer | undefined;
  afterEach(async () => {
    await stalled?.close();
    stalled = undefined;
  });

  it('fails the step within argocd.timeout when the server accepts the connection and never answers', async () => {
    stalled = await stalledServer('silent');
    const c = context();
    const started = Date.now();
    const error = await failure(deploy(spec({ server: stalled.url, timeout: '2s' }), c));
    const took = Date.now() - started;
    expect(error.message).toBe(`argocd: no answer from ${stalled.url}/api/v1/applications/api-prod within 2s (GET application)`);
    expect(error.untouched).toBe(true);
    // A hang check, not a timing assertion: before, one call alone could take 5 × 30 s.
    expect(took).toBeLessThan(20_000);
    expect(`${error.message}\n${c.lines.join('\n')}`).not.toContain(argo.token);
  });

  it('bounds the body too: headers, then a stalled body, is no answer', async () => {
    stalled = await stalledServer('headers');
    const client = new ArgoCdClient({ server: stalled.url, token: argo.token, signal: new AbortController().signal, timeoutMs: 1500, retryDelayMs: 5 });
    const started = Date.now();
    const error = await client.getApplication('api-prod').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArgoCdError);
    expect((error as ArgoCdError).message).toBe(`argocd: no complete answer from ${stalled.url}/api/v1/applications/api-prod within 1.5s (GET application)`);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('gives each attempt its own limit, then retries while the overall timeout allows', async () => {
    stalled = await stalledServer('silent');
    const retries: string[] = [];
    const client = new ArgoCdClient({
      server: stalled.url,
      token: argo.token,
      signal: new AbortController().signal,
      requestTimeoutMs: 300,
      timeoutMs: 60_000,
      maxAttempts: 2,
      retryDelayMs: 5,
      onRetry: (line) => retries.push(line),
    });
    const error = await client.getApplication('api-prod').catch((e: unknown) => e);
    expect((error as ArgoCdError).message).toBe(`argocd: no answer from ${stalled.url}/api/v1/applications/api-prod within 300ms (GET application) (gave up after 2 attempts)`);
    expect(retries).toHaveLength(1);
    expect(stalled.connections()).toBeGreaterThanOrEqual(2);
  });

  it('stops at once when the step is cancelled, closing the waiting request', async () => {
    stalled = await stalledServer('silent');
    const controller = new AbortController();
    const client = new ArgoCdClient({ server: stalled.url, token: argo.token, signal: controller.signal });
    const pending = client.getApplication('api-prod').catch((e: unknown) => e);
    setTimeout(() => controller.abort(new StepFailure('promotion cancelled', false)), 200);
    const error = await pending;
    expect((error as Error).message).toBe('promotion cancelled');
  });
});
