/**
 * Who may do what through the server: roles per project and per environment, from `access:` in
 * lockstep.yaml (with `groups:`). A token's own role and environments only narrow what its identity
 * may do, never widen it. Pure. (Issue 14: the functions arrive with the token work; the names here
 * are the contract the server and the token commands share.)
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
  /** How it was proven. */
  via: { kind: 'token'; token: string } | { kind: 'oidc'; issuer: string; subject: string };
  /** A token's `--role`: narrows what the identity may do. */
  role?: Role;
  /** A token's `--env`: only these environments (reads of other environments included). */
  environments?: string[];
  /** Groups the identity provider says it is in (OIDC); added to those of `groups:`. */
  groups?: string[];
}
