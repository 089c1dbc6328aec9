import { once } from 'node:events';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import type { AuditEntry } from '../../src/core/audit.js';
import { sha256Hex } from '../../src/core/canonical-json.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { createToken } from '../../src/engine/tokens.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { lockstep, lockstepAsync } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Config reload on a real project directory: lockstep.yaml edited as an editor saves it (a new file
// renamed over the old one), the real file watcher, real HTTP, tokens made as `token create` makes
// them. Outcomes are polled for; nothing here measures time.

const ADMIN: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };

const config = (environments: string, components = `  api:\n${commandComponent()}\n`): string =>
  `project: shop\nenvironments:\n${environments}components:\n${components}`;
const DEV = config('  dev: {}\n');
const DEV_STAGING = config('  dev: {}\n  staging: { after: [dev] }\n');
// Two problems, each on its own line: an unknown environment and an unknown field.
const BROKEN = config('  dev: {}\n  staging: { after: [qa] }\n  prod: { after: [staging], gatez: {} }\n');

let project: TestProject | undefined;
let server: RunningServer | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
  child = undefined;
  project?.cleanup();
  project = undefined;
});

/** As an editor saves: a new file, renamed over the old one. */
function save(dir: string, text: string): void {
  const temp = join(dir, '.lockstep.yaml.swp');
  writeFileSync(temp, text);
  renameSync(temp, join(dir, 'lockstep.yaml'));
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

interface ConfigStatus {
  digest: string;
  file: string;
  loadedAt: string;
  refused?: { at: string; digest?: string; problems: string[] };
}

interface Served {
  handle: ProjectHandle;
  tokens: { viewer: string; releaser: string };
  logged: string[];
  api<T>(
    path: string,
    init?: { method?: string; body?: unknown; token?: string },
  ): Promise<{ status: number; json: T }>;
  configEvents(): Promise<AuditEntry[]>;
}

async function serve(text: string): Promise<Served> {
  project = testProject(text);
  const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  const admin = handle.deps({ actor: ADMIN.name });
  const tokens = {
    viewer: (await createToken(admin, ADMIN, { name: 'vera', for: 'vera@example.com', role: 'viewer' })).token,
    releaser: (await createToken(admin, ADMIN, { name: 'rob', for: 'rob@example.com', role: 'releaser' })).token,
  };
  const projects = new Map([[handle.name, handle]]);
  const logged: string[] = [];
  const running = await startServer({
    projects,
    host: '127.0.0.1',
    port: 0,
    authenticate: projectAuthenticator(projects),
    authorize: projectAuthorizer(projects),
    log: (line) => logged.push(line),
  });
  server = running;
  return {
    handle,
    tokens,
    logged,
    async api<T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
      const response = await fetch(`${running.url}${path.startsWith('/') ? path : `/api/v1/projects/shop/${path}`}`, {
        method: init.method ?? 'GET',
        headers: {
          Authorization: `Bearer ${init.token ?? tokens.viewer}`,
          ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      return { status: response.status, json: (await response.json()) as T };
    },
    async configEvents() {
      return (await handle.store.auditPage(null, 100_000)).filter((e) => e.kind.startsWith('config.'));
    },
  };
}

const environmentNames = async (s: Served): Promise<string[]> =>
  (await s.api<{ environment: string }[]>('environments')).json.map((e) => e.environment);

describe('config reload: a changed lockstep.yaml is read again while the server runs', () => {
  it('an environment added to lockstep.yaml is served without a restart; the change is logged and audited', async () => {
    const s = await serve(DEV);
    const before = await s.api<ConfigStatus>('config');
    expect(before.status).toBe(200);
    expect(before.json).toEqual({
      digest: sha256Hex(DEV),
      file: join(project!.dir, 'lockstep.yaml'),
      loadedAt: s.handle.loadedAt,
    });
    expect(await environmentNames(s)).toEqual(['dev']);

    save(project!.dir, DEV_STAGING);
    await until('staging to be served', async () =>
      (await environmentNames(s)).includes('staging') ? true : undefined,
    );
    expect(await environmentNames(s)).toEqual(['dev', 'staging']);
    const after = await s.api<ConfigStatus>('config');
    expect(after.json.digest).toBe(sha256Hex(DEV_STAGING));
    expect(after.json.refused).toBeUndefined();

    const events = await s.configEvents();
    expect(events.map((e) => [e.kind, e.actor, e.data])).toEqual([
      [
        'config.reloaded',
        'lockstep:server',
        { digest: sha256Hex(DEV_STAGING), file: join(project!.dir, 'lockstep.yaml') },
      ],
    ]);
    expect(s.logged).toContain(`shop: config reloaded (digest ${sha256Hex(DEV_STAGING)})`);

    // The new environment is one to promote to, through the API, at once.
    const created = await s.api<{ release: ReleaseRecord }>('releases', {
      method: 'POST',
      body: { set: ['api=1.0.0'] },
      token: s.tokens.releaser,
    });
    expect(created.status).toBe(201);
  });

  it('a config with problems is refused: the previous one stays in force, the problems show in GET /config, /readyz, the log and the audit log', async () => {
    const s = await serve(DEV_STAGING);
    save(project!.dir, BROKEN);
    const refused = await until('the refusal', async () => (await s.api<ConfigStatus>('config')).json.refused);

    expect(refused.digest).toBe(sha256Hex(BROKEN));
    // One line per problem, as `lockstep validate` prints them: file, line, column, field.
    const file = join(project!.dir, 'lockstep.yaml');
    expect(refused.problems).toEqual([
      expect.stringMatching(new RegExp(`^${escape(file)}:4:\\d+: environments\\.staging\\.after\\.0: .*qa`)),
      expect.stringMatching(new RegExp(`^${escape(file)}:5:\\d+: environments\\.prod\\.gatez: `)),
    ]);
    const validate = lockstep(project!.dir, ['validate']);
    expect(validate.status).toBe(2);
    expect(validate.stderr.trim().split('\n').slice(0, -1)).toEqual(
      refused.problems.map((p) => p.replace(`${file}:`, 'lockstep.yaml:')),
    );

    // The previous config is in force: its digest, its environments.
    const status = await s.api<ConfigStatus>('config');
    expect(status.json.digest).toBe(sha256Hex(DEV_STAGING));
    expect(await environmentNames(s)).toEqual(['dev', 'staging']);
    const ready = await s.api<{ ready: boolean; projects: Record<string, unknown> }>('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({
      ready: true,
      projects: { shop: { config: sha256Hex(DEV_STAGING), store: 'ok', refused: { at: refused.at, problems: 2 } } },
    });

    expect((await s.configEvents()).map((e) => [e.kind, e.data])).toEqual([
      ['config.refused', { file, digest: sha256Hex(BROKEN), problems: refused.problems }],
    ]);
    expect(s.logged).toContain(`shop: config refused, keeping the previous one: ${refused.problems.join('; ')}`);

    // Saved again unchanged and read again (as SIGHUP does): nothing new is refused or audited.
    save(project!.dir, BROKEN);
    await server!.reloadConfigs();
    expect((await s.api<ConfigStatus>('config')).json.refused).toEqual(refused);
    expect((await s.configEvents()).length).toBe(1);
    expect(s.logged).toContain(`shop: config still refused, keeping the previous one: ${refused.problems.join('; ')}`);

    // Fixed: in force, and the refusal is gone.
    save(project!.dir, DEV);
    await until('the fixed config', async () =>
      (await s.api<ConfigStatus>('config')).json.digest === sha256Hex(DEV) ? true : undefined,
    );
    expect((await s.api<ConfigStatus>('config')).json.refused).toBeUndefined();
    expect((await s.configEvents()).map((e) => e.kind)).toEqual(['config.refused', 'config.reloaded']);
    expect(await environmentNames(s)).toEqual(['dev']);
  });

  it('a config renaming the project is refused: API routes name the project', async () => {
    const s = await serve(DEV);
    save(project!.dir, DEV_STAGING.replace('project: shop', 'project: store'));
    await server!.reloadConfigs();
    const status = await s.api<ConfigStatus>('config');
    expect(status.json.digest).toBe(sha256Hex(DEV));
    expect(status.json.refused?.problems).toEqual([
      `${join(project!.dir, 'lockstep.yaml')}:1:10: project: the server serves this project as shop (API routes name it so): renaming it needs a restart`,
    ]);
    expect(await environmentNames(s)).toEqual(['dev']);
  });

  it('a config changing server.oidc is refused: sign-in is set up at start', async () => {
    const s = await serve(DEV);
    const oidc = 'server:\n  oidc:\n    issuer: https://login.example.com\n    clientId: lockstep\n';
    save(project!.dir, `${DEV_STAGING}${oidc}`);
    await server!.reloadConfigs();
    const status = await s.api<ConfigStatus>('config');
    expect(status.json.digest).toBe(sha256Hex(DEV));
    expect(status.json.refused?.problems).toEqual([
      `${join(project!.dir, 'lockstep.yaml')}:${DEV_STAGING.split('\n').length + 2}:5: server.oidc: server.oidc changed: sign-in is set up when the server starts, so a change to it needs a restart`,
    ]);
  });

  it('a running promotion keeps the config it was planned with; the next one gets the new config', async () => {
    // api's deploy waits for a file the test writes, so the config changes while the promotion runs.
    const components = (webDeploy: string): string => `  api:
    type: command
    with:
      apply: ["./gated-deploy.sh", "\${{ version }}"]
      verify: ["./check.sh"]
  web:
    type: command
    dependsOn: [api]
    with:
      apply: ["${webDeploy}", "\${{ version }}"]
      verify: ["./check.sh"]
`;
    const before = config('  dev: {}\n', components('./deploy.sh'));
    const after = config('  dev: {}\n', components('./deploy-marked.sh'));
    const s = await serve(before);
    project!.write(
      'gated-deploy.sh',
      '#!/bin/sh\nset -eu\ntouch waiting\nwhile [ ! -f go ]; do sleep 0.05; done\nexec ./deploy.sh "$1"\n',
      true,
    );
    project!.write('deploy-marked.sh', '#!/bin/sh\nset -eu\necho "$1" >> marked.log\nexec ./deploy.sh "$1"\n', true);
    const promote = async (set: string[]): Promise<string> => {
      const token = s.tokens.releaser;
      const created = await s.api<{ release: ReleaseRecord }>('releases', { method: 'POST', body: { set }, token });
      const body = { release: created.json.release.id, to: 'dev' };
      const started = await s.api<{ promotion: PromotionRecord }>('promotions', { method: 'POST', body, token });
      expect(started.status).toBe(202);
      return started.json.promotion.id;
    };
    const ended = (id: string): Promise<PromotionRecord> =>
      until(`promotion ${id} to end`, async () => {
        const p = (await s.api<{ promotion: PromotionRecord }>(`promotions/${id}`)).json.promotion;
        return p.state === 'running' ? undefined : p;
      });

    const first = await promote(['api=1', 'web=1']);
    await until('api to deploy', () => (exists(project!.dir, 'waiting') ? true : undefined));
    save(project!.dir, after);
    await until('the new config', async () =>
      (await s.api<ConfigStatus>('config')).json.digest === sha256Hex(after) ? true : undefined,
    );
    project!.write('go', '');
    expect((await ended(first)).state).toBe('succeeded');
    expect(project!.running('dev', 'web')).toBe('1');
    // web ran with the config the promotion was planned with: ./deploy.sh, not ./deploy-marked.sh.
    expect(exists(project!.dir, 'marked.log')).toBe(false);

    expect((await ended(await promote(['api=2', 'web=2']))).state).toBe('succeeded');
    expect(project!.running('dev', 'web')).toBe('2');
    expect(readText(project!.dir, 'marked.log')).toBe('2\n');
  });
});

describe('config reload on SIGHUP, through the real `lockstep serve`', () => {
  it('with --no-watch, a changed lockstep.yaml is read on SIGHUP: a valid one is served, a broken one refused and logged', async () => {
    project = testProject(DEV);
    const dir = project.dir;
    const made = lockstep(dir, ['token', 'create', '--name', 'vera', '--role', 'viewer', '-o', 'json']);
    expect(made.status, made.stderr).toBe(0);
    const { token } = JSON.parse(made.stdout) as { token: string };

    const proc = lockstepAsync(dir, ['serve', '--listen', '127.0.0.1:0', '--no-watch']);
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const [first] = (await once(createInterface({ input: proc.stdout! }), 'line')) as [string];
    const url = /^listening on (http:\/\/\S+)$/.exec(first)?.[1];
    expect(url, `${first}\n${stderr}`).toBeDefined();
    const get = async <T>(path: string): Promise<T> => {
      const response = await fetch(`${url}/api/v1/projects/shop/${path}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as T;
    };

    save(dir, DEV_STAGING);
    proc.kill('SIGHUP');
    await until('staging after SIGHUP', async () =>
      (await get<{ environment: string }[]>('environments')).some((e) => e.environment === 'staging')
        ? true
        : undefined,
    );
    expect((await get<ConfigStatus>('config')).digest).toBe(sha256Hex(DEV_STAGING));
    expect(stderr).toContain(`shop: config reloaded (digest ${sha256Hex(DEV_STAGING)})`);

    save(dir, BROKEN);
    proc.kill('SIGHUP');
    const refused = await until('the refusal after SIGHUP', async () => (await get<ConfigStatus>('config')).refused);
    expect(refused.problems).toHaveLength(2);
    await until('the refusal in the log', () =>
      stderr.includes('shop: config refused, keeping the previous one: ') ? true : undefined,
    );
    expect((await get<{ environment: string }[]>('environments')).map((e) => e.environment)).toEqual([
      'dev',
      'staging',
    ]);

    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code, stderr).toBe(0);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function exists(dir: string, file: string): boolean {
  return existsSync(join(dir, file));
}

function readText(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8');
}
