/**
 * Who may do what through the server: roles per project and per environment, from `access:` in
 * lockstep.yaml (with `groups:`). A token's own role and environments only narrow what its identity
 * may do, never widen it. Pure. The server and the token commands share these names.
 */
export const ROLES = ['viewer', 'releaser', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Every operation the API offers, and the least role it needs. Roles are ordered for everything but
 * approving: `admin` ⊇ `releaser` ⊇ `viewer`; `approver` ⊇ `viewer` (approving also needs the gate's
 * `from`, checked by the engine). `admin` may approve only when also an approver.
 */
export const PERMISSIONS = {
  read: 'viewer',
  'release.create': 'releaser',
  'release.reject': 'releaser',
  plan: 'viewer',
  promote: 'releaser',
  resume: 'releaser',
  cancel: 'releaser',
  rollback: 'releaser',
  approve: 'approver',
  'override-window': 'admin',
  'mark-done': 'admin',
  'token.manage': 'admin',
  'config.read': 'viewer',
  /** Observing the systems and recording what differs: releasers, who act on what it finds (`promote --reapply`). */
  'drift.check': 'releaser',
} as const satisfies Record<string, Role>;
export type Permission = keyof typeof PERMISSIONS;

/** The `access:` block of lockstep.yaml: people and groups (`group:sre`) per role, overridden per environment. */
export interface AccessConfig {
  viewer: string[];
  releaser: string[];
  approver: string[];
  admin: string[];
  environments: Record<string, Partial<Record<Role, string[]>>>;
}

/** Who is asking, as the server authenticated them. */
export interface Identity {
  /** The actor: a person's email or a service's name (a token's `--for`). */
  name: string;
  /**
   * How it was proven: a token (by the token's name, never its text), an identity provider, or not
   * at all (`claimed`: local mode, from --actor, LOCKSTEP_ACTOR or git, as the audit log says).
   */
  via: { kind: 'token'; token: string } | { kind: 'oidc'; issuer: string; subject: string } | { kind: 'claimed' };
  /** A token's `--role`: narrows what the identity may do. */
  role?: Role;
  /** A token's `--env`: only these environments (reads of other environments included). */
  environments?: string[];
  /** Groups the identity provider says it is in (OIDC); added to those of `groups:`. */
  groups?: string[];
}

/**
 * What `rolesOf` and `authorize` read of a config: `access:` and `groups:`. Structural, so this file
 * needs nothing of model.ts (which imports AccessConfig from here).
 */
export interface AccessSource {
  access?: AccessConfig;
  groups: Readonly<Record<string, readonly string[]>>;
}

/** The roles a role includes: `admin` ⊇ `releaser` ⊇ `viewer`; `approver` ⊇ `viewer`. */
const IMPLIES: Readonly<Record<Role, readonly Role[]>> = {
  viewer: ['viewer'],
  releaser: ['releaser', 'viewer'],
  approver: ['approver', 'viewer'],
  admin: ['admin', 'releaser', 'viewer'],
};

/** Every role `roles` include, in ROLES order. */
function closure(roles: Iterable<Role>): Role[] {
  const held = new Set<Role>();
  for (const role of roles) for (const implied of IMPLIES[role]) held.add(implied);
  return ROLES.filter((r) => held.has(r));
}

/**
 * Whether `entries` (people and `group:NAME`) name the identity, through `groups:` or the groups its
 * provider gave. Not `expandPeople` (gate-rules.ts): that knows only `groups:`, and a group name
 * from a request must find a configured group or nothing, even in a record with a prototype.
 */
function names(entries: readonly string[], identity: Identity, groups: AccessSource['groups']): boolean {
  const who = identity.name.toLowerCase();
  const own = new Set(identity.groups ?? []);
  for (const entry of entries) {
    if (entry.startsWith('group:')) {
      const group = entry.slice('group:'.length);
      if (own.has(group)) return true;
      if ((Object.hasOwn(groups, group) ? groups[group] : undefined)?.some((m) => m.toLowerCase() === who)) return true;
    } else if (entry.toLowerCase() === who) {
      return true;
    }
  }
  return false;
}

/**
 * The roles `access:` gives the identity (in `environment`, if named: an environment's list for a
 * role replaces the project's list for that role there), implied roles included, before any token
 * narrows them. Without an `access:` block nothing is declared: a token holds the role it names
 * (`viewer` when it names none), an identity claimed on this machine (local mode) holds every role,
 * any other identity only `viewer`. See docs/access.md for why.
 */
function declaredRoles(config: AccessSource, identity: Identity, environment: string | undefined): Role[] {
  const access = config.access;
  if (access === undefined) {
    if (identity.via.kind === 'claimed') return closure(ROLES);
    return closure([identity.via.kind === 'token' ? (identity.role ?? 'viewer') : 'viewer']);
  }
  const override = environment !== undefined && Object.hasOwn(access.environments, environment) ? access.environments[environment] : undefined;
  return closure(ROLES.filter((role) => names(override?.[role] ?? access[role], identity, config.groups)));
}

/**
 * The roles the identity holds in `environment` (or project-wide, without one), implied roles
 * included (an admin is also a releaser and a viewer), in ROLES order: what `access:` gives it,
 * narrowed by its token's role (a `releaser` token of an admin holds releaser and viewer; an
 * `admin` token of a releaser still holds only releaser and viewer). A token limited to other
 * environments holds nothing in this one. Pure.
 */
export function rolesOf(config: AccessSource, identity: Identity, environment?: string): Role[] {
  if (environment !== undefined && identity.environments !== undefined && !identity.environments.includes(environment)) return [];
  const declared = declaredRoles(config, identity, environment);
  if (identity.role === undefined) return declared;
  const allowed = new Set(IMPLIES[identity.role]);
  return declared.filter((r) => allowed.has(r));
}

/**
 * Permissions that touch no single environment and that a token limited to some environments may
 * still use: reading, planning and releases are the project's. Managing tokens is not among them:
 * a token limited to staging could otherwise make itself one for every environment.
 */
const PROJECT_WIDE_FOR_LIMITED_TOKENS: ReadonlySet<Permission> = new Set(['read', 'plan', 'config.read', 'release.create', 'release.reject']);

/** How a refusal names the operation, and the word before an environment. */
const WORDING: Readonly<Record<Permission, { verb: string; at: 'to' | 'in' }>> = {
  read: { verb: 'read', at: 'in' },
  'release.create': { verb: 'create releases', at: 'in' },
  'release.reject': { verb: 'reject releases', at: 'in' },
  plan: { verb: 'plan', at: 'to' },
  promote: { verb: 'promote', at: 'to' },
  resume: { verb: 'resume promotions', at: 'in' },
  cancel: { verb: 'cancel promotions', at: 'in' },
  rollback: { verb: 'roll back', at: 'in' },
  approve: { verb: 'approve', at: 'in' },
  'override-window': { verb: 'override change windows', at: 'in' },
  'mark-done': { verb: 'mark steps done', at: 'in' },
  'token.manage': { verb: 'manage tokens', at: 'in' },
  'config.read': { verb: 'read the config', at: 'in' },
  'drift.check': { verb: 'check drift', at: 'in' },
};

export type Authorization = { ok: true } | { ok: false; reason: string };

/**
 * Whether the identity may do `permission` (in `environment`, for an operation on one). The reason
 * of a refusal says who, what, where and which role is needed, and whether the identity or its
 * token falls short: "bob@example.com may not promote to prod: needs releaser there (has viewer)".
 * Approving also needs the gate's `from`, which the engine checks. Pure.
 */
export function authorize(config: AccessSource, identity: Identity, permission: Permission, environment?: string): Authorization {
  const need: Role = PERMISSIONS[permission];
  const wording = WORDING[permission];
  const where = environment === undefined ? '' : ` ${wording.at} ${environment}`;
  const refusal = `${identity.name} may not ${wording.verb}${where}`;
  const token = identity.via.kind === 'token' ? `token ${identity.via.token}` : 'its credentials';
  const limited = identity.environments;
  if (limited !== undefined) {
    if (environment !== undefined && !limited.includes(environment)) {
      return { ok: false, reason: `${refusal}: ${token} is limited to ${envList(limited)}` };
    }
    if (environment === undefined && !PROJECT_WIDE_FOR_LIMITED_TOKENS.has(permission)) {
      return { ok: false, reason: `${refusal}: ${token} is limited to ${envList(limited)}, and this needs ${need} for the whole project` };
    }
  }
  if (rolesOf(config, identity, environment).includes(need)) return { ok: true };
  const declared = declaredRoles(config, identity, environment);
  const there = environment === undefined ? '' : ' there';
  if (declared.includes(need)) {
    // The identity holds the role; its token does not.
    return { ok: false, reason: `${refusal}: needs ${need}, and ${token} is limited to ${identity.role ?? need}` };
  }
  const has = highest(rolesOf(config, identity, environment));
  return { ok: false, reason: `${refusal}: needs ${need}${there} (has ${has.length === 0 ? 'no role' : has.join(', ')})` };
}

function envList(environments: readonly string[]): string {
  return environments.length === 1 ? `environment ${environments[0] ?? ''}` : `environments ${environments.join(', ')}`;
}

/** The roles no other role in the list includes: `admin, approver` rather than all four. */
function highest(roles: readonly Role[]): Role[] {
  return roles.filter((r) => !roles.some((other) => other !== r && IMPLIES[other].includes(r)));
}
