import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import { createToken } from '../../src/engine/tokens.js';
import { openProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { lockstepAwait, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The built CLI as the team server's client: a real server in this process over a real project,
// the CLI run from a directory that holds no lockstep.yaml, so nothing it prints can come from
// the files. What it prints is compared with what the same command prints locally on the project.

const CONFIG = `project: shop
groups:
  sre: [carol@example.com]
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
components:
  api:
${commandComponent()}
`;

const ADMIN: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };

let project: TestProject | undefined;
let server: RunningServer | undefined;
let elsewhere: string;
let url = '';
const tokens: Record<'alice' | 'carol', string> = { alice: '', carol: '' };
/** Every output of every client-mode run: no token may appear in any. */
const outputs: string[] = [];

beforeAll(async () => {
  project = testProject(CONFIG);
  elsewhere = mkdtempSync(join(tmpdir(), 'lockstep-client-'));
  const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  const admin = handle.deps({ actor: ADMIN.name });
  tokens.alice = (await createToken(admin, ADMIN, { name: 'alice-ci', for: 'alice@example.com' })).token;
  tokens.carol = (await createToken(admin, ADMIN, { name: 'carol', for: 'carol@example.com' })).token;
  const projects = new Map([[handle.name, handle]]);
  server = await startServer({
    projects,
    host: '127.0.0.1',
    port: 0,
    authenticate: projectAuthenticator(projects),
    authorize: projectAuthorizer(projects),
    log: () => undefined,
  });
  url = server.url;
});

afterAll(async () => {
  await server?.close();
  project?.cleanup();
  rmSync(elsewhere, { recursive: true, force: true });
});

/** The CLI in client mode, from a directory without a project. */
async function client(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await lockstepAwait(elsewhere, args, { LOCKSTEP_SERVER: url, LOCKSTEP_TOKEN: tokens.alice, LOCKSTEP_PROJECT: 'shop', ...env });
  outputs.push(r.stdout, r.stderr);
  return r;
}

/** The same command locally, in the project, as the person alice's token stands for. */
function local(args: string[]): Promise<CliResult> {
  return lockstepAwait(project?.dir ?? '', args, { LOCKSTEP_ACTOR: 'alice@example.com', LOCKSTEP_SERVER: '', LOCKSTEP_TOKEN: '' });
}

describe('the CLI as a client of lockstep serve', () => {
  let release = '';
  let pending = '';

  it('creates a release and plans it through the API, printing what the local commands print', async () => {
    const created = await client(['release', 'create', '--set', 'api=1.0.0', '-m', 'first']);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    release = /created release ([0-9a-f]{64})/.exec(created.stdout)?.[1] ?? '';
    expect(release).not.toBe('');

    const plan = await client(['plan', release.slice(0, 7), '--to', 'prod']);
    expect(plan.status).toBe(0);
    expect(plan.stdout).toContain('approvals');
    expect(plan.stdout).toBe((await local(['plan', release.slice(0, 7), '--to', 'prod'])).stdout);

    for (const args of [['release', 'list'], ['release', 'show', release.slice(0, 7)]]) {
      const here = await local(args);
      expect(here.status).toBe(0);
      expect((await client(args)).stdout).toBe(here.stdout);
    }
  });

  it('promotes through the server: runs to the end, or stops pending (exit 3) until a second person approves', async () => {
    const staging = await client(['promote', release, '--to', 'staging']);
    expect(staging.stderr).toBe('');
    expect(staging.status).toBe(0);
    expect(staging.stdout).toMatch(/Promotion [0-9a-f]{12}: release [0-9a-f]{12} → staging/);
    expect(staging.stdout).toMatch(/api\s+succeeded/);
    expect(staging.stdout).toMatch(/Promotion [0-9a-f]{12} SUCCEEDED/);
    expect(project?.running('staging', 'api')).toBe('1.0.0');

    const prod = await client(['promote', release, '--to', 'prod']);
    expect(prod.status).toBe(3);
    expect(prod.stdout).toMatch(/Promotion [0-9a-f]{12} PENDING: release [0-9a-f]{12} → prod, requested by alice@example\.com/);
    pending = /lockstep approve ([0-9a-f]{12})/.exec(prod.stdout)?.[1] ?? '';
    expect(pending).not.toBe('');

    // Alice may not approve (not an approver, and she asked for it): refused as locally, exit 2.
    const own = await client(['approve', pending, '--comment', 'mine']);
    expect(own.status).toBe(2);
    expect(own.stderr).toMatch(/^lockstep: error: /);

    const approved = await client(['approve', pending, '--comment', 'plan reviewed'], { LOCKSTEP_TOKEN: tokens.carol });
    expect(approved.stderr).toBe('');
    expect(approved.status).toBe(0);
    expect(approved.stdout).toContain(`Promotion ${pending} SUCCEEDED`);
    expect(project?.running('prod', 'api')).toBe('1.0.0');

    // Approving again: the promotion is no longer pending, a conflict (exit 4) as locally.
    const again = await client(['approve', pending], { LOCKSTEP_TOKEN: tokens.carol });
    expect(again.status).toBe(4);
    expect(again.stderr).toContain(`promotion ${pending} is succeeded`);
  }, 60_000);

  it('prints status, history, logs and the audit check as the local commands do', async () => {
    for (const args of [['status'], ['status', '--env', 'prod'], ['history'], ['history', pending], ['logs', pending], ['audit', 'verify'], ['status', '-o', 'json']]) {
      const here = await local(args);
      const there = await client(args);
      expect(there.stderr, args.join(' ')).toBe(here.stderr);
      expect(there.status, args.join(' ')).toBe(here.status);
      expect(there.stdout, args.join(' ')).toBe(here.stdout);
    }
    // A gate nothing can satisfy (422 from the server), a bad flag (400): the same message and exit code.
    const skipping = /created release ([0-9a-f]{64})/.exec((await client(['release', 'create', '--set', 'api=2.0.0'])).stdout)?.[1] ?? 'none';
    for (const args of [['promote', skipping, '--to', 'prod'], ['promote', skipping, '--to', 'staging', '--concurrency', '0']]) {
      const here = await local(args);
      const there = await client(args);
      expect(there.status, args.join(' ')).toBe(here.status);
      expect(there.stderr, args.join(' ')).toBe(here.stderr);
    }
    const unknown = await client(['status', '--env', 'nowhere']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe((await local(['status', '--env', 'nowhere'])).stderr);
  });

  it('refuses --actor, and commands the API has no route for yet (exit 2), instead of running them here', async () => {
    const actor = await client(['status', '--actor', 'mallory@example.com']);
    expect(actor.status).toBe(2);
    expect(actor.stderr).toContain('--actor');

    const resume = await client(['resume']);
    expect(resume.status).toBe(2);
    expect(resume.stderr).toContain('lockstep resume is not available through the server yet');
    const reject = await client(['release', 'reject', release, '--reason', 'no']);
    expect(reject.status).toBe(2);
    expect(reject.stderr).toContain('lockstep release reject is not available through the server yet');
    const wait = await client(['promote', release, '--to', 'prod', '--wait']);
    expect(wait.status).toBe(2);
    expect(wait.stderr).toContain('lockstep promote --wait is not available through the server yet');
    // `--server` does what LOCKSTEP_SERVER does.
    const flag = await client(['--server', url, 'history', '--component', 'api'], { LOCKSTEP_SERVER: '' });
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('lockstep history --component is not available through the server yet');
  });

  it('says what is wrong with the token, the server or the project, never showing a token', async () => {
    const forged = `lst_${'x'.repeat(40)}`;
    const bad = await client(['status'], { LOCKSTEP_TOKEN: forged });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('LOCKSTEP_TOKEN');
    expect(bad.stderr + bad.stdout).not.toContain(forged);

    const missing = await client(['status'], { LOCKSTEP_TOKEN: '' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('set LOCKSTEP_TOKEN');

    const withPassword = new URL(url);
    withPassword.username = 'ops';
    withPassword.password = 'hunter2secret';
    const credentials = await client(['status'], { LOCKSTEP_SERVER: withPassword.href });
    expect(credentials.status).toBe(2);
    expect(credentials.stderr).toContain(url);
    expect(credentials.stderr).not.toContain('hunter2secret');

    // A port nobody listens on: the server's address in the message, not the token.
    const closed = await startServer({ projects: new Map(), host: '127.0.0.1', port: 0, authenticate: () => Promise.resolve(undefined), authorize: () => ({ ok: true }), worker: false, log: () => undefined });
    await closed.close();
    const unreachable = await client(['status'], { LOCKSTEP_SERVER: closed.url });
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr).toContain(`cannot reach the server at ${closed.url}`);

    const nowhere = await client(['status'], { LOCKSTEP_PROJECT: '' });
    expect(nowhere.status).toBe(2);
    expect(nowhere.stderr).toContain('LOCKSTEP_PROJECT');

    for (const text of outputs) {
      expect(text).not.toContain(tokens.alice);
      expect(text).not.toContain(tokens.carol);
    }
  });
});
