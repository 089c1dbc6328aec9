import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import { hashToken, TOKEN_PATTERN, type TokenView } from '../../src/core/tokens.js';
import { authenticateToken } from '../../src/engine/tokens.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { lockstep, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// API tokens through the CLI: made, listed and revoked by the local admin; shown once and kept only
// as a hash, which is what a server then authenticates against.

const BASE = `project: tokens
groups:
  admins: [alice@example.com]
environments:
  staging: {}
  prod: { after: [staging] }
components:
  api:
${commandComponent()}
`;
const WITH_ACCESS = `${BASE}access:
  viewer: [bob@example.com]
  admin: [group:admins]
`;

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

interface CreatedJson {
  name: string;
  token: string;
  identity: string;
  role: string | null;
  environments: string[] | null;
  expiresAt: string | null;
}

const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function project(config = BASE): TestProject {
  const p = testProject(config);
  projects.push(p);
  return p;
}

function run(p: TestProject, args: readonly string[], status = 0, actor = 'alice@example.com'): CliResult {
  const r = lockstep(p.dir, args, { LOCKSTEP_ACTOR: actor });
  expect(r.status, show(r)).toBe(status);
  return r;
}

function create(p: TestProject, args: readonly string[]): CreatedJson {
  return JSON.parse(run(p, ['token', 'create', ...args, '-o', 'json']).stdout) as CreatedJson;
}

/** Every byte Lockstep keeps beside the config: the database, its write-ahead log, anything else in .lockstep/. */
function stateBytes(p: TestProject): string {
  const files = readdirSync(join(p.dir, '.lockstep'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  expect(files.map((f) => f.name)).toContain('state.db');
  return files.map((f) => readFileSync(join(f.parentPath, f.name)).toString('latin1')).join('');
}

async function authenticate(p: TestProject, token: string, now = new Date()): Promise<Awaited<ReturnType<typeof authenticateToken>>> {
  const store = SqliteStore.open(join(p.dir, '.lockstep', 'state.db'), { readonly: true });
  try {
    return await authenticateToken(store, token, now);
  } finally {
    await store.close();
  }
}

describe('lockstep token create', () => {
  it('prints the token once, alone on stdout; keeps only its hash; the token then authenticates as its identity', async () => {
    const p = project();
    const r = run(p, ['token', 'create', '--name', 'deploy-bot', '--for', 'ci@example.com', '--role', 'releaser', '--env', 'staging', '--expires', '90d']);
    const token = r.stdout.trim();
    expect(token).toMatch(TOKEN_PATTERN);
    expect(r.stdout).toBe(`${token}\n`);
    expect(r.stderr).toContain('created token deploy-bot for ci@example.com (role releaser; environments staging; expires 20');
    expect(r.stderr).toContain('only time it is shown');
    expect(r.stderr).not.toContain(token);

    const state = stateBytes(p);
    expect(state).not.toContain(token);
    expect(state).not.toContain(token.slice(4));
    expect(state).toContain(hashToken(token));

    const who = await authenticate(p, token);
    expect(who).toMatchObject({
      ok: true,
      identity: { name: 'ci@example.com', via: { kind: 'token', token: 'deploy-bot' }, role: 'releaser', environments: ['staging'] },
    });
    // Another token of the same length and prefix is not it.
    const forged = `lst_${token.slice(4, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    expect(await authenticate(p, forged)).toEqual({ ok: false, reason: 'unknown API token' });
    expect(await authenticate(p, 'Bearer nonsense')).toMatchObject({ ok: false, reason: expect.stringMatching(/^not a Lockstep API token/) as unknown });
  });

  it('-o json gives name, token, identity, role, environments and expiry; --for defaults to the name', () => {
    const p = project();
    const before = Date.now();
    const made = create(p, ['--name', 'bob', '--expires', '90d', '--env', 'prod', '--env', 'prod']);
    expect(Object.keys(made)).toEqual(['name', 'token', 'identity', 'role', 'environments', 'expiresAt']);
    expect(made).toMatchObject({ name: 'bob', identity: 'bob', role: null, environments: ['prod'] });
    expect(made.token).toMatch(TOKEN_PATTERN);
    const expires = Date.parse(made.expiresAt ?? '');
    expect(expires - before).toBeGreaterThanOrEqual(90 * 86_400_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(90 * 86_400_000);
    expect(create(p, ['--name', 'forever']).expiresAt).toBeNull();
  });

  it('never shows the token or its hash again: not in token list, not in the audit export', () => {
    const p = project();
    const made = create(p, ['--name', 'ci', '--for', 'ci@example.com', '--role', 'viewer', '--expires', '30d']);
    const hash = hashToken(made.token);
    const listed = run(p, ['token', 'list']);
    const listedJson = run(p, ['token', 'list', '-o', 'json']);
    const exported = run(p, ['audit', 'export']);
    for (const out of [listed.stdout, listedJson.stdout, exported.stdout, listed.stderr, exported.stderr]) {
      expect(out).not.toContain(made.token);
      expect(out).not.toContain(made.token.slice(4));
      expect(out).not.toContain(hash);
    }
    expect(listed.stdout).toMatch(/^NAME +FOR +ROLE +ENVIRONMENTS +STATE +CREATED +BY +EXPIRES\nci +ci@example\.com +viewer +\(all\) +active +\S+ +alice@example\.com +20/);
    const views = JSON.parse(listedJson.stdout) as TokenView[];
    expect(views).toEqual([
      { name: 'ci', identity: 'ci@example.com', role: 'viewer', createdAt: expect.any(String) as unknown, createdBy: 'alice@example.com', expiresAt: made.expiresAt, state: 'active' },
    ]);

    const entries = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(entries.map((e) => [e.kind, e.actor, e.data])).toEqual([
      ['token.created', 'alice@example.com', { name: 'ci', for: 'ci@example.com', role: 'viewer', environments: null, expiresAt: made.expiresAt, identity: 'claimed' }],
    ]);
    expect(run(p, ['audit', 'verify']).stdout).toContain('audit log intact: 1 entries');
  });

  it('names the flag that is wrong, and records nothing', () => {
    const p = project();
    const expiry = run(p, ['token', 'create', '--name', 'ci', '--expires', 'soon'], 2);
    expect(expiry.stderr).toBe('lockstep: error: --expires must be a duration from now such as 90d, 12h or 30m, not "soon"\n');
    expect(run(p, ['token', 'create', '--name', 'ci', '--expires', '0d'], 2).stderr).toContain('--expires must be a duration');
    expect(run(p, ['token', 'create', '--name', 'ci', '--role', 'releasr'], 2).stderr).toBe(
      'lockstep: error: --role must be one of viewer, releaser, approver, admin, not "releasr"; did you mean releaser?\n',
    );
    expect(run(p, ['token', 'create', '--name', 'ci', '--env', 'prd'], 2).stderr).toBe(
      'lockstep: error: --env: unknown environment "prd" (environments: staging, prod); did you mean prod?\n',
    );
    expect(run(p, ['token', 'create', '--name', 'Not A Name'], 2).stderr).toBe(
      'lockstep: error: --name: a token name is 1 to 64 characters: a-z, 0-9, and . _ @ - after the first, not "Not A Name"\n',
    );
    expect(run(p, ['token', 'create', '--name', 'ci', '--for', ' '], 2).stderr).toContain('--for must name whom');
    // Checked before the state is opened: not even an empty one was created.
    expect(existsSync(join(p.dir, '.lockstep', 'state.db'))).toBe(false);
  });

  it('refuses a second token of a name until the first is revoked (exit 4)', () => {
    const p = project();
    create(p, ['--name', 'ci']);
    const again = run(p, ['token', 'create', '--name', 'ci'], 4);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain('a token named ci exists already (for ci, created at');
    expect(again.stderr).toContain('revoke it first (lockstep token revoke ci)');
  });
});

describe('lockstep token revoke', () => {
  it('refuses the token from then on, keeps it listed as revoked, frees the name, and audits it', async () => {
    const p = project();
    const first = create(p, ['--name', 'ci', '--role', 'releaser']);
    expect((await authenticate(p, first.token)).ok).toBe(true);
    const r = run(p, ['token', 'revoke', 'ci']);
    expect(r.stdout).toBe('revoked token ci for ci (role releaser; no expiry)\n');
    expect(await authenticate(p, first.token)).toEqual({ ok: false, reason: expect.stringMatching(/^API token ci was revoked at 20/) as unknown });

    expect(run(p, ['token', 'revoke', 'ci'], 2).stderr).toBe('lockstep: error: no token named ci to revoke (lockstep token list shows them)\n');
    const second = create(p, ['--name', 'ci']);
    expect((await authenticate(p, second.token)).ok).toBe(true);
    const views = JSON.parse(run(p, ['token', 'list', '-o', 'json']).stdout) as TokenView[];
    expect(views.map((v) => [v.name, v.state])).toEqual([
      ['ci', 'revoked'],
      ['ci', 'active'],
    ]);
    const kinds = run(p, ['audit', 'export']).stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditEntry).kind);
    expect(kinds).toEqual(['token.created', 'token.revoked', 'token.created']);
  });

  it('an expired token is refused, from the moment it expires', async () => {
    const p = project();
    const made = create(p, ['--name', 'short', '--expires', '1h']);
    const later = new Date(Date.parse(made.expiresAt ?? '') + 1);
    expect(await authenticate(p, made.token, later)).toEqual({ ok: false, reason: `API token short expired at ${made.expiresAt ?? ''}` });
    expect((await authenticate(p, made.token)).ok).toBe(true);
  });
});

describe('with access: in lockstep.yaml, token commands are for admins', () => {
  it('refuses a local actor who is not an admin there, and lets an admin (through a group) in', () => {
    const p = project(WITH_ACCESS);
    const refused = run(p, ['token', 'create', '--name', 'ci'], 2, 'bob@example.com');
    expect(refused.stderr).toBe(
      `lockstep: error: bob@example.com may not manage tokens: needs admin (has viewer) (roles come from access: in lockstep.yaml; the actor is --actor, LOCKSTEP_ACTOR or git user.email)\n`,
    );
    expect(existsSync(join(p.dir, '.lockstep', 'state.db'))).toBe(false);
    create(p, ['--name', 'ci']);
    expect(run(p, ['token', 'list'], 2, 'eve@example.com').stderr).toContain('eve@example.com may not manage tokens: needs admin (has no role)');
    expect(run(p, ['--actor', 'bob@example.com', 'token', 'revoke', 'ci'], 2).stderr).toContain('bob@example.com may not manage tokens');
    expect(run(p, ['token', 'list', '-o', 'json'], 0, 'Alice@Example.com').stdout).toContain('"name": "ci"');
    expect(run(p, ['token', 'revoke', 'ci'], 2, 'bob@example.com').stderr).toContain('may not manage tokens');
    run(p, ['token', 'revoke', 'ci']);
  });
});
