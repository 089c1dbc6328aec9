import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import { createToken } from '../../src/engine/tokens.js';
import { openProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { lockstepAsync, lockstepAwait, type CliResult } from '../helpers/cli.js';
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

/**
 * A second project on the same server, and its twin on this machine only: the same commands run
 * through the server on one and locally on the other must print the same (ids and times aside).
 * `web` waits for a file `go` when its version ends in -live, after printing a line and before
 * printing another: a follower that shows the first line before the file exists shows it live.
 */
const DEPOT = `project: depot
access:
  viewer: [alice@example.com, carol@example.com]
  releaser: [alice@example.com]
  approver: [carol@example.com]
  admin: [admin@example.com]
environments:
  staging: {}
  prod:
    after: [staging]
    gates:
      approvals: { count: 1, from: [carol@example.com] }
components:
  api:
${commandComponent()}
  web:
    type: command
    with:
      apply: ["./live.sh", "\${{ version }}"]
`;

const LIVE_SH = `#!/bin/sh
set -eu
case "$1" in
  *-live)
    echo "starting $1"
    i=0
    while [ ! -f go ]; do sleep 0.05; i=$((i+1)); [ "$i" -lt 2400 ] || { echo "no go file" >&2; exit 1; }; done
    echo "done $1" ;;
  *) echo "deployed web $1" ;;
esac
mkdir -p "systems/$LOCKSTEP_ENVIRONMENT"
printf '%s\\n' "$1" > "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT"
`;

const ADMIN: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };

let project: TestProject | undefined;
let depot: TestProject | undefined;
let twin: TestProject | undefined;
let server: RunningServer | undefined;
let elsewhere: string;
let url = '';
const tokens: Record<'alice' | 'carol' | 'depotAlice' | 'depotCarol' | 'depotAdmin' | 'both', string> = {
  alice: '',
  carol: '',
  depotAlice: '',
  depotCarol: '',
  depotAdmin: '',
  both: '',
};
/** Every output of every client-mode run: no token may appear in any. */
const outputs: string[] = [];

beforeAll(async () => {
  project = testProject(CONFIG);
  elsewhere = mkdtempSync(join(tmpdir(), 'lockstep-client-'));
  const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  const admin = handle.deps({ actor: ADMIN.name });
  tokens.alice = (await createToken(admin, ADMIN, { name: 'alice-ci', for: 'alice@example.com' })).token;
  tokens.carol = (await createToken(admin, ADMIN, { name: 'carol', for: 'carol@example.com' })).token;
  depot = testProject(DEPOT);
  twin = testProject(DEPOT);
  for (const p of [depot, twin]) p.write('live.sh', LIVE_SH, true);
  // The twin's state exists already, as depot's (opened by the server) does: no "created a new state" line.
  await twin.deps();
  const depotHandle = await openProjectHandle({ config: join(depot.dir, 'lockstep.yaml') });
  const depotAdmin = depotHandle.deps({ actor: ADMIN.name });
  tokens.depotAlice = (await createToken(depotAdmin, ADMIN, { name: 'alice', for: 'alice@example.com' })).token;
  tokens.depotCarol = (await createToken(depotAdmin, ADMIN, { name: 'carol', for: 'carol@example.com' })).token;
  tokens.depotAdmin = (await createToken(depotAdmin, ADMIN, { name: 'admin', for: 'admin@example.com' })).token;
  // The same token text in both stores (the random source fixed): known to two projects.
  const same = (size: number) => Buffer.alloc(size, 7);
  tokens.both = (await createToken(admin, ADMIN, { name: 'roaming', for: 'carol@example.com' }, same)).token;
  await createToken(depotAdmin, ADMIN, { name: 'roaming', for: 'carol@example.com' }, same);
  const projects = new Map([
    [handle.name, handle],
    [depotHandle.name, depotHandle],
  ]);
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
  depot?.cleanup();
  twin?.cleanup();
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

  it('checks drift and re-applies through the server as locally: same report and exit code; the re-apply waits on the same gates', async () => {
    const times = (text: string): string => text.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'TIME');
    const there = await client(['drift', '--env', 'prod']);
    const here = await local(['drift', '--env', 'prod']);
    expect(there.stderr).toBe(here.stderr);
    expect(there.status).toBe(0);
    expect(times(there.stdout)).toBe(times(here.stdout));
    // The command component has no observe script: said so, not called clean.
    expect(there.stdout).toMatch(/api\s+command\s+cannot-observe/);
    const json = JSON.parse((await client(['drift', '-o', 'json'])).stdout) as { environment: string }[];
    expect(json.map((r) => r.environment)).toEqual(['staging', 'prod']);
    const unknown = await client(['drift', '--env', 'nowhere']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe((await local(['drift', '--env', 'nowhere'])).stderr);

    // A re-apply is a promotion: prod's approval gate holds it (exit 3), as any promotion.
    const reapply = await client(['promote', '--reapply', 'api', '--env', 'prod']);
    expect(reapply.status, reapply.stderr).toBe(3);
    expect(reapply.stdout).toContain('re-applied on request (--reapply) to correct drift');
    const id = /lockstep approve ([0-9a-f]{12})/.exec(reapply.stdout)?.[1] ?? '';
    const approved = await client(['approve', id, '--comment', 'put it back'], { LOCKSTEP_TOKEN: tokens.carol });
    expect(approved.status, approved.stderr).toBe(0);
  }, 60_000);

  it('refuses --actor (exit 2): through a server the actor is whom the token stands for', async () => {
    const actor = await client(['status', '--actor', 'mallory@example.com']);
    expect(actor.status).toBe(2);
    expect(actor.stderr).toContain('--actor');
    // `--server` does what LOCKSTEP_SERVER does.
    const flag = await client(['--server', url, 'history', '--component', 'api'], { LOCKSTEP_SERVER: '' });
    expect(flag.stderr).toBe('');
    expect(flag.status).toBe(0);
    expect(flag.stdout).toBe((await local(['history', '--component', 'api'])).stdout);
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

    // No LOCKSTEP_PROJECT and no lockstep.yaml here: the one project that knows the token.
    const chosen = await client(['status'], { LOCKSTEP_PROJECT: '' });
    expect(chosen.stderr).toBe('');
    expect(chosen.status).toBe(0);
    expect(chosen.stdout).toBe((await client(['status'])).stdout);
    // A token two projects know: which one is for the user to say.
    const two = await client(['status'], { LOCKSTEP_PROJECT: '', LOCKSTEP_TOKEN: tokens.both });
    expect(two.status).toBe(2);
    expect(two.stderr).toBe('lockstep: error: which project on the server? LOCKSTEP_TOKEN is known to shop, depot there: set LOCKSTEP_PROJECT to one of them, or run where its lockstep.yaml is\n');

    for (const text of outputs) for (const token of Object.values(tokens)) expect(text).not.toContain(token);
  });
});

/** Through the server, on project depot, as the token given (alice's by default). */
async function onDepot(args: string[], token = tokens.depotAlice, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await lockstepAwait(elsewhere, args, { LOCKSTEP_SERVER: url, LOCKSTEP_TOKEN: token, LOCKSTEP_PROJECT: 'depot', ...env });
  outputs.push(r.stdout, r.stderr);
  return r;
}

/** Locally, in depot's twin (or in `dir`), as `actor`. */
function onTwin(args: string[], actor = 'alice@example.com', dir = twin?.dir ?? ''): Promise<CliResult> {
  return lockstepAwait(dir, args, { LOCKSTEP_ACTOR: actor, LOCKSTEP_SERVER: '', LOCKSTEP_TOKEN: '' });
}

/**
 * What must be equal, through the server and locally: ids (random for promotions), times and
 * durations left out, and the phase lines of the progress (`api  running apply`): the server's
 * store records a step's start and end, not every phase the local process goes through.
 */
function normal(text: string): string {
  return text
    .replace(/\b[0-9a-f]{12,64}\b/g, 'ID')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME')
    .replace(/^\d\d:\d\d:\d\d /gm, '')
    .replace(/\b\d+(\.\d+)?(ms|s)\b|\b\d+m \d+s\b/g, 'D')
    .split('\n')
    .filter((line) => !/^\S+\s+running( (plan|apply|verify))?$/.test(line))
    .map((line) => line.replace(/\s+/g, ' ').trimEnd())
    .join('\n');
}

/** Runs the same command through the server and on the twin: same exit code, same text. `twinArgs` where an id differs. */
async function same(args: string[], token = tokens.depotAlice, actor = 'alice@example.com', twinArgs = args): Promise<CliResult & { here: CliResult }> {
  const there = await onDepot(args, token);
  const here = await onTwin(twinArgs, actor);
  const what = args.join(' ');
  expect(normal(there.stderr), `${what}: stderr`).toBe(normal(here.stderr));
  expect(there.status, `${what}: ${there.stderr}`).toBe(here.status);
  expect(normal(there.stdout), `${what}: stdout`).toBe(normal(here.stdout));
  return { ...there, here };
}

function releaseOf(r: CliResult): string {
  return /release ([0-9a-f]{64})/.exec(r.stdout)?.[1] ?? 'none';
}

describe('every command through the server prints what it prints locally, with the same exit code', () => {
  let first = '';
  let second = '';

  it('release create, promote, rollback, history --component, release reject', async () => {
    first = releaseOf(await same(['release', 'create', '--set', 'api=1.0.0', '--set', 'web=1.0.0', '-m', 'first']));
    // One step at a time: two at once print their lines in either order, here as there.
    const promoted = await same(['promote', first, '--to', 'staging', '-j', '1']);
    expect(promoted.status).toBe(0);
    expect(promoted.stdout).toMatch(/api\s+\| deployed api 1\.0\.0/);
    second = releaseOf(await same(['release', 'create', '--set', 'api=2.0.0', '--set', 'web=2.0.0']));
    expect((await same(['promote', second, '--to', 'staging', '-o', 'json', '-j', '1'])).status).toBe(0);

    const rolled = await same(['rollback', '--env', 'staging', '-j', '1']);
    expect(rolled.status).toBe(0);
    expect(rolled.stdout).toContain(`rolling staging back to release ${first.slice(0, 12)}`);
    expect(depot?.running('staging', 'api')).toBe('1.0.0');
    for (const args of [['history', '--component', 'api'], ['history', '--component', 'web', '--env', 'staging', '-o', 'json'], ['status'], ['history']])
      await same(args);

    // Nothing to roll back to in prod, an unknown environment: the same refusal and exit code.
    await same(['rollback', '--env', 'prod']);
    await same(['rollback', '--env', 'nowhere']);
    await same(['rollback', '--env', 'staging', '--concurrency', '0']);

    const rejected = await same(['release', 'reject', second.slice(0, 9), '--reason', 'corrupts invoices']);
    expect(rejected.stdout).toContain('rejected: corrupts invoices');
    await same(['release', 'reject', second, '--reason', ' ']);
    await same(['promote', second, '--to', 'staging']);
  }, 120_000);

  it('resume: a pending promotion evaluated again; its options checked as locally', async () => {
    const pending = await same(['promote', first, '--to', 'prod']);
    expect(pending.status).toBe(3);
    const id = /lockstep approve ([0-9a-f]{12})/.exec(pending.stdout)?.[1] ?? 'none';
    const twinId = /lockstep approve ([0-9a-f]{12})/.exec(pending.here.stdout)?.[1] ?? 'none';
    expect((await same(['resume', id], tokens.depotAlice, 'alice@example.com', ['resume', twinId])).status).toBe(3);
    // Options that do not apply to a pending promotion: the engine's conflict (exit 4) either way.
    const retry = await onDepot(['resume', id, '--retry-step', 'api']);
    expect(retry.status).toBe(4);
    expect(normal(retry.stderr)).toBe(normal((await onTwin(['resume', twinId, '--retry-step', 'api'])).stderr));
    await same(['resume', '--retry-step', 'api']);
    await same(['resume', id, '--override-window']);
    // mark-done needs admin through the server: refused as locally refusals are (exit 2, `lockstep: error:`).
    const markDone = await onDepot(['resume', id, '--mark-done', 'api']);
    expect(markDone.status).toBe(2);
    expect(markDone.stderr).toBe('lockstep: error: alice@example.com may not mark steps done in prod: needs admin there (has releaser)\n');
    await same(['resume']);

    // promote --wait through the server: waits, then follows the run the approval starts to its end.
    const waiting = lockstepAsync(elsewhere, ['promote', first, '--to', 'prod', '--wait'], { LOCKSTEP_SERVER: url, LOCKSTEP_TOKEN: tokens.depotAlice, LOCKSTEP_PROJECT: 'depot' });
    let out = '';
    let err = '';
    waiting.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    waiting.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const ended = new Promise<number | null>((resolve) => waiting.on('close', resolve));
    while (!out.includes(' waiting: ')) await new Promise((resolve) => setTimeout(resolve, 50));
    const approved = await onDepot(['approve', id, '-m', 'ok'], tokens.depotCarol);
    expect(approved.stderr).toBe('');
    expect(approved.status).toBe(0);
    expect(await ended).toBe(0);
    expect(err).toBe('');
    expect(out).toContain(`Promotion ${id} SUCCEEDED`);
    expect(out).toMatch(/api\s+\| deployed api 1\.0\.0/);
  }, 120_000);

  it('audit export writes what it writes locally, to stdout or --out', async () => {
    const here = await onTwin(['audit', 'export'], 'admin@example.com', depot?.dir);
    const there = await onDepot(['audit', 'export']);
    expect(there.stderr).toBe('');
    expect(there.status).toBe(0);
    expect(there.stdout).toBe(here.stdout);
    expect(there.stdout.trim().split('\n').length).toBeGreaterThan(10);
    const file = join(elsewhere, 'audit.jsonl');
    const written = await onDepot(['audit', 'export', '--out', file]);
    expect(written.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(here.stdout);
  });

  it('token create, list and revoke: an admin through the server as locally; others refused as locally', async () => {
    const listed = await onDepot(['token', 'list'], tokens.depotAdmin);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toBe((await onTwin(['token', 'list'], 'admin@example.com', depot?.dir)).stdout);
    // The token is printed once, on stdout, as locally: this output is not searched for tokens.
    const created = await lockstepAwait(elsewhere, ['token', 'create', '--name', 'deploy-bot', '--for', 'alice@example.com', '--role', 'releaser', '--env', 'staging'], { LOCKSTEP_SERVER: url, LOCKSTEP_TOKEN: tokens.depotAdmin, LOCKSTEP_PROJECT: 'depot' });
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/^lst_[A-Za-z0-9_-]{43}\n$/);
    expect(created.stderr).toBe('created token deploy-bot for alice@example.com (role releaser; environments staging; no expiry)\nThis is the only time it is shown: Lockstep keeps only its hash.\n');
    const bot = created.stdout.trim();
    expect((await onDepot(['status'], bot)).status).toBe(0);
    const revoked = await onDepot(['token', 'revoke', 'deploy-bot'], tokens.depotAdmin);
    expect(revoked.stdout).toMatch(/^revoked token deploy-bot for alice@example\.com/);
    const refused = await onDepot(['status'], bot);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('the server refused LOCKSTEP_TOKEN');
    // A flag the engine refuses names the flag, as locally.
    await same(['token', 'create', '--name', 'x', '--role', 'boss'], tokens.depotAdmin, 'admin@example.com');
    await same(['token', 'create', '--name', 'x', '--env', 'qa'], tokens.depotAdmin, 'admin@example.com');
    // Alice is no admin: the same refusal and exit code as locally (which adds where a claimed actor's roles come from).
    for (const args of [['token', 'list'], ['token', 'revoke', 'alice'], ['token', 'create', '--name', 'mine']]) {
      const there = await onDepot(args);
      const here = await onTwin(args);
      expect(there.status, args.join(' ')).toBe(2);
      expect(there.status).toBe(here.status);
      expect(there.stderr).toBe('lockstep: error: alice@example.com may not manage tokens: needs admin (has releaser)\n');
      expect(here.stderr.startsWith(there.stderr.trimEnd())).toBe(true);
    }
  });

  it('tick through a server says its worker does that, and exits 0; whoami says who the token is', async () => {
    const ticked = await onDepot(['tick']);
    expect(ticked.status).toBe(0);
    expect(ticked.stdout).toBe('');
    expect(ticked.stderr).toBe(`lockstep: the server at ${url} does what tick does continuously (its background worker): nothing to do here\n`);

    const alice = await onDepot(['whoami']);
    expect(alice.stderr).toBe('');
    expect(alice.stdout).toBe('alice@example.com: authenticated by token alice\ndepot: viewer, releaser\n');
    const carol = await client(['whoami', '-o', 'json'], { LOCKSTEP_TOKEN: tokens.carol, LOCKSTEP_PROJECT: '' });
    expect(JSON.parse(carol.stdout)).toEqual({
      actor: 'carol@example.com',
      via: 'token',
      token: 'carol',
      projects: [{ project: 'shop', roles: ['viewer', 'approver'], environments: {} }],
    });
    const roaming = await client(['whoami'], { LOCKSTEP_TOKEN: tokens.both, LOCKSTEP_PROJECT: '' });
    expect(roaming.stdout).toBe('carol@example.com: authenticated by token roaming\nshop: viewer, approver\ndepot: viewer, approver\n');
    // Locally: the claimed actor and what the config here gives it.
    const here = await onTwin(['whoami']);
    expect(here.stdout).toBe('alice@example.com: claimed, not proven (--actor, LOCKSTEP_ACTOR, git user.email or the OS user)\ndepot: viewer, releaser\n');
    expect((await onTwin(['whoami'], 'alice@example.com', elsewhere)).stdout).toContain('no project here');
  });

  it('follows a run live through the event stream: a line is shown while its step still runs, and a dropped connection loses nothing', async () => {
    // A proxy between the CLI and the server, so the test can cut the CLI's connections.
    const sockets = new Set<Socket>();
    const target = new URL(url);
    const proxy: Server = createServer((downstream) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [downstream, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      downstream.pipe(upstream).pipe(downstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    const proxied = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    try {
      const live = releaseOf(await onDepot(['release', 'create', '--set', 'api=3.0.0', '--set', 'web=3.0.0-live']));
      rmSync(join(depot?.dir ?? '', 'go'), { force: true });
      const child = lockstepAsync(elsewhere, ['promote', live, '--to', 'staging'], { LOCKSTEP_SERVER: proxied, LOCKSTEP_TOKEN: tokens.depotAlice, LOCKSTEP_PROJECT: 'depot' });
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
      while (!out.includes('| starting 3.0.0-live')) await new Promise((resolve) => setTimeout(resolve, 50));
      // The step waits for `go`: the line came while it ran.
      expect(existsSync(join(depot?.dir ?? '', 'go'))).toBe(false);
      expect(out).not.toContain('done 3.0.0-live');
      // Every connection cut: the CLI holds only its event stream now, and must resume it.
      for (const s of sockets) s.destroy();
      writeFileSync(join(depot?.dir ?? '', 'go'), '');
      expect(await ended).toBe(0);
      expect(err).toBe('');
      expect(out.match(/\| starting 3\.0\.0-live/g)).toHaveLength(1);
      expect(out.match(/\| done 3\.0\.0-live/g)).toHaveLength(1);
      expect(out.indexOf('| starting')).toBeLessThan(out.indexOf('| done'));
      expect(out).toMatch(/web\s+succeeded/);
      expect(out).toMatch(/Promotion [0-9a-f]{12} SUCCEEDED/);
      expect(depot?.running('staging', 'web')).toBe('3.0.0-live');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 120_000);

  it('no output of any command held a token (but the one token create prints)', () => {
    expect(outputs.length).toBeGreaterThan(50);
    for (const text of outputs) for (const token of Object.values(tokens)) expect(text).not.toContain(token);
  });
});
