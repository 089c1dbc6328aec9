import { describe, expect, it } from 'vitest';
import { authorize, PERMISSIONS, ROLES, rolesOf, type AccessConfig, type AccessSource, type Identity, type Permission, type Role } from '../../src/core/access.js';

const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

function access(lists: Partial<AccessConfig> = {}): AccessConfig {
  return { viewer: [], releaser: [], approver: [], admin: [], environments: {}, ...lists };
}

function person(name: string, extra: Partial<Identity> = {}): Identity {
  return { name, via: { kind: 'token', token: `${name.split('@')[0] ?? name}-token` }, ...extra };
}

/** The permissions a role allows, written out rather than derived from the code under test. */
const ALLOWED: Readonly<Record<Role, readonly Permission[]>> = {
  viewer: ['read', 'plan', 'config.read'],
  releaser: ['read', 'plan', 'config.read', 'release.create', 'release.reject', 'promote', 'resume', 'cancel', 'rollback', 'drift.check'],
  approver: ['read', 'plan', 'config.read', 'approve'],
  admin: [
    'read',
    'plan',
    'config.read',
    'release.create',
    'release.reject',
    'promote',
    'resume',
    'cancel',
    'rollback',
    'drift.check',
    'override-window',
    'mark-done',
    'token.manage',
  ],
};

describe('authorize: every permission for every role', () => {
  for (const role of ROLES) {
    const config: AccessSource = { groups: {}, access: access({ [role]: ['pat@example.com'] }) };
    for (const permission of PERMISSION_NAMES) {
      const expected = ALLOWED[role].includes(permission);
      it(`${role} ${expected ? 'may' : 'may not'} ${permission}`, () => {
        const result = authorize(config, person('pat@example.com'), permission, 'prod');
        expect(result.ok).toBe(expected);
        if (!result.ok) expect(result.reason).toContain(`needs ${PERMISSIONS[permission]} there (has ${role})`);
      });
    }
  }

  it('an admin approves only when also an approver', () => {
    const both: AccessSource = { groups: {}, access: access({ admin: ['pat@example.com'], approver: ['pat@example.com'] }) };
    expect(authorize(both, person('pat@example.com'), 'approve', 'prod')).toEqual({ ok: true });
    expect(rolesOf(both, person('pat@example.com'), 'prod')).toEqual(['viewer', 'releaser', 'approver', 'admin']);
  });

  it('someone on no list may do nothing, and the reason says so', () => {
    const config: AccessSource = { groups: {}, access: access({ admin: ['alice@example.com'] }) };
    for (const permission of PERMISSION_NAMES) expect(authorize(config, person('eve@example.com'), permission).ok).toBe(false);
    expect(authorize(config, person('eve@example.com'), 'read')).toEqual({ ok: false, reason: 'eve@example.com may not read: needs viewer (has no role)' });
  });
});

describe('authorize: reasons say who, what, where, what is needed and what is held', () => {
  const config: AccessSource = { groups: {}, access: access({ viewer: ['bob@example.com'] }) };
  it('names the environment with the word the operation takes', () => {
    expect(authorize(config, person('bob@example.com'), 'promote', 'prod')).toEqual({
      ok: false,
      reason: 'bob@example.com may not promote to prod: needs releaser there (has viewer)',
    });
    expect(authorize(config, person('bob@example.com'), 'approve', 'prod')).toEqual({
      ok: false,
      reason: 'bob@example.com may not approve in prod: needs approver there (has viewer)',
    });
    expect(authorize(config, person('bob@example.com'), 'token.manage')).toEqual({
      ok: false,
      reason: 'bob@example.com may not manage tokens: needs admin (has viewer)',
    });
  });

  it('lists the highest roles held, not the implied ones', () => {
    const two: AccessSource = { groups: {}, access: access({ releaser: ['bob@example.com'], approver: ['bob@example.com'] }) };
    expect(authorize(two, person('bob@example.com'), 'mark-done', 'prod')).toEqual({
      ok: false,
      reason: 'bob@example.com may not mark steps done in prod: needs admin there (has releaser, approver)',
    });
  });
});

describe('groups', () => {
  const config: AccessSource = {
    groups: { sre: ['Sam@Example.com'], dev: ['dana@example.com'] },
    access: access({ viewer: ['group:dev'], releaser: ['group:sre'], approver: ['group:oncall'] }),
  };

  it('grant their members the role, names compared without case', () => {
    expect(rolesOf(config, person('sam@example.com'))).toEqual(['viewer', 'releaser']);
    expect(rolesOf(config, person('DANA@example.com'))).toEqual(['viewer']);
    expect(rolesOf(config, person('eve@example.com'))).toEqual([]);
  });

  it('count the groups an identity provider gives, also ones groups: does not define', () => {
    expect(rolesOf(config, person('olga@example.com', { groups: ['oncall'] }))).toEqual(['viewer', 'approver']);
    expect(authorize(config, person('olga@example.com', { groups: ['oncall'] }), 'approve', 'prod')).toEqual({ ok: true });
  });

  it('a group named like an Object.prototype member names nobody', () => {
    const odd: AccessSource = { groups: {}, access: access({ admin: ['group:constructor'] }) };
    expect(rolesOf(odd, person('constructor'))).toEqual([]);
  });
});

describe('environment overrides', () => {
  const config: AccessSource = {
    groups: { sre: ['sam@example.com'], dev: ['dana@example.com', 'sam@example.com'] },
    access: access({
      viewer: ['group:dev'],
      releaser: ['group:dev'],
      approver: ['group:sre'],
      environments: { prod: { releaser: ['group:sre'] }, lab: { viewer: [], releaser: [] } },
    }),
  };

  it("replace the project's list for that role in that environment only", () => {
    expect(authorize(config, person('dana@example.com'), 'promote', 'staging')).toEqual({ ok: true });
    expect(authorize(config, person('dana@example.com'), 'promote', 'prod')).toEqual({
      ok: false,
      reason: 'dana@example.com may not promote to prod: needs releaser there (has viewer)',
    });
    expect(authorize(config, person('sam@example.com'), 'promote', 'prod')).toEqual({ ok: true });
  });

  it('leave the roles they do not name as the project has them', () => {
    expect(authorize(config, person('sam@example.com'), 'approve', 'prod')).toEqual({ ok: true });
    expect(rolesOf(config, person('dana@example.com'), 'prod')).toEqual(['viewer']);
  });

  it('an empty list there takes the role away there', () => {
    expect(rolesOf(config, person('dana@example.com'), 'lab')).toEqual([]);
    expect(rolesOf(config, person('dana@example.com'))).toEqual(['viewer', 'releaser']);
  });
});

describe("a token's role and environments narrow, never widen", () => {
  const config: AccessSource = {
    groups: {},
    access: access({ viewer: ['vic@example.com'], admin: ['alice@example.com'], approver: ['alice@example.com'] }),
  };

  it('a releaser token of an admin may promote but not manage tokens or approve', () => {
    const token = person('alice@example.com', { role: 'releaser', via: { kind: 'token', token: 'alice-ci' } });
    expect(rolesOf(config, token)).toEqual(['viewer', 'releaser']);
    expect(authorize(config, token, 'promote', 'prod')).toEqual({ ok: true });
    expect(authorize(config, token, 'token.manage')).toEqual({
      ok: false,
      reason: 'alice@example.com may not manage tokens: needs admin, and token alice-ci is limited to releaser',
    });
    expect(authorize(config, token, 'approve', 'prod').ok).toBe(false);
  });

  it('an admin token of a viewer holds only viewer', () => {
    const token = person('vic@example.com', { role: 'admin' });
    expect(rolesOf(config, token)).toEqual(['viewer']);
    for (const permission of PERMISSION_NAMES) expect(authorize(config, token, permission, 'prod').ok).toBe(ALLOWED.viewer.includes(permission));
  });

  it('an approver token of an admin who is also approver may approve but not promote', () => {
    const token = person('alice@example.com', { role: 'approver' });
    expect(authorize(config, token, 'approve', 'prod')).toEqual({ ok: true });
    expect(authorize(config, token, 'promote', 'prod').ok).toBe(false);
  });

  it('a token limited to environments holds nothing elsewhere, and no project-wide administration', () => {
    const token = person('alice@example.com', { environments: ['staging'], via: { kind: 'token', token: 'stg' } });
    expect(authorize(config, token, 'promote', 'staging')).toEqual({ ok: true });
    expect(authorize(config, token, 'read', 'prod')).toEqual({
      ok: false,
      reason: 'alice@example.com may not read in prod: token stg is limited to environment staging',
    });
    expect(rolesOf(config, token, 'prod')).toEqual([]);
    // Reading and releases are the project's; making tokens could undo the limit.
    expect(authorize(config, token, 'read')).toEqual({ ok: true });
    expect(authorize(config, token, 'release.create')).toEqual({ ok: true });
    expect(authorize(config, token, 'token.manage')).toEqual({
      ok: false,
      reason: 'alice@example.com may not manage tokens: token stg is limited to environment staging, and this needs admin for the whole project',
    });
  });
});

describe('without an access: block', () => {
  const config: AccessSource = { groups: {} };

  it('a token holds the role it names, viewer when it names none', () => {
    expect(rolesOf(config, person('bob@example.com', { role: 'releaser' }))).toEqual(['viewer', 'releaser']);
    expect(authorize(config, person('bob@example.com', { role: 'releaser' }), 'promote', 'prod')).toEqual({ ok: true });
    expect(rolesOf(config, person('bob@example.com'))).toEqual(['viewer']);
    expect(authorize(config, person('bob@example.com'), 'promote', 'prod')).toEqual({
      ok: false,
      reason: 'bob@example.com may not promote to prod: needs releaser there (has viewer)',
    });
  });

  it('an identity from a provider is a viewer; one claimed on this machine holds every role', () => {
    const oidc: Identity = { name: 'bob@example.com', via: { kind: 'oidc', issuer: 'https://id.example.com', subject: 'b1' } };
    expect(rolesOf(config, oidc)).toEqual(['viewer']);
    expect(rolesOf(config, { name: 'me', via: { kind: 'claimed' } })).toEqual([...ROLES]);
  });

  it('a claimed identity is checked like any other once access: exists', () => {
    const declared: AccessSource = { groups: {}, access: access({ admin: ['alice@example.com'] }) };
    expect(authorize(declared, { name: 'me', via: { kind: 'claimed' } }, 'token.manage')).toEqual({
      ok: false,
      reason: 'me may not manage tokens: needs admin (has no role)',
    });
    expect(authorize(declared, { name: 'Alice@example.com', via: { kind: 'claimed' } }, 'token.manage')).toEqual({ ok: true });
  });
});
