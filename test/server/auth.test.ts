import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import { createToken, revokeToken } from '../../src/engine/tokens.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
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
    const { token } = await createToken(shop.deps({ actor: ADMIN.name }), ADMIN, { name: 'alice-ci', for: 'alice@example.com', role: 'releaser' });
    const authenticate = projectAuthenticator(served);
    expect(await authenticate(token, 'shop')).toEqual({ name: 'alice@example.com', via: { kind: 'token', token: 'alice-ci' }, role: 'releaser' });
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
  it('decides by the project\'s access block, per environment, narrowed by the token', async () => {
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
