import type { Permission } from '../core/access.js';

/**
 * Where the environment a request acts on comes from, for per-environment roles: a path parameter,
 * a query or body field, or the environment of the promotion the path names. None: the project as a
 * whole (its reads span environments).
 */
export type EnvironmentSource = { from: 'param' | 'query' | 'body'; field: string } | { from: 'promotion' };

/**
 * A permission a request needs besides its route's, because of what its body asks for: `markDone`
 * on a resume needs `mark-done`, an `overrideWindow` needs `override-window`. The field counts as
 * asked for when present and not an empty list. Checked in the same environment as the route's.
 */
export interface BodyPermission {
  field: string;
  permission: Permission;
}

export interface RoutePermission {
  permission: Permission;
  environment?: EnvironmentSource;
  /** Further permissions, each needed only when the request's body holds its field. */
  alsoWhen?: readonly BodyPermission[];
}

const OVERRIDE_WINDOW = { field: 'overrideWindow', permission: 'override-window' } as const;

/**
 * A route outside any project. `identityOnly`: it asks only for valid credentials (a token valid in
 * some served project, a session cookie or the identity provider's token): who the caller is
 * (`whoami`, the session) is no project's secret, and even an identity with no role may learn that it
 * has none. `inEachProject`: it also asks for the permission in each project, and sees only those
 * where it is granted (`GET /metrics`: series of other projects stay hidden).
 */
export type ServerRoute = { identityOnly: true } | { inEachProject: Permission };

/**
 * Who may call what: every API operation (by its OpenAPI operationId) and the permission it needs.
 * The one guard middleware (guard.ts) enforces it, and the permission matrix test reads this table.
 * Rejecting a promotion needs `approve`: the engine also lets the requester reject, but through the
 * API only an approver may (a requester without that role cancels it: `cancelPromotion`).
 */
export const ROUTE_PERMISSIONS = {
  listReleases: { permission: 'read' },
  getRelease: { permission: 'read' },
  createRelease: { permission: 'release.create' },
  planRelease: { permission: 'plan', environment: { from: 'query', field: 'to' } },
  listEnvironments: { permission: 'read' },
  getEnvironment: { permission: 'read', environment: { from: 'param', field: 'environment' } },
  // Two environments (or releases) at once: a read of the project, as listEnvironments.
  getDiff: { permission: 'read' },
  getDoraMetrics: { permission: 'read', environment: { from: 'query', field: 'env' } },
  listPromotions: { permission: 'read', environment: { from: 'query', field: 'env' } },
  getPromotion: { permission: 'read', environment: { from: 'promotion' } },
  getPromotionLogs: { permission: 'read', environment: { from: 'promotion' } },
  getPromotionEvidence: { permission: 'read', environment: { from: 'promotion' } },
  createPromotion: { permission: 'promote', environment: { from: 'body', field: 'to' }, alsoWhen: [OVERRIDE_WINDOW] },
  approvePromotion: { permission: 'approve', environment: { from: 'promotion' }, alsoWhen: [OVERRIDE_WINDOW] },
  rejectPromotion: { permission: 'approve', environment: { from: 'promotion' } },
  getPromotionDecisions: { permission: 'read', environment: { from: 'promotion' } },
  resumePromotion: {
    permission: 'resume',
    environment: { from: 'promotion' },
    alsoWhen: [{ field: 'markDone', permission: 'mark-done' }, OVERRIDE_WINDOW],
  },
  cancelPromotion: { permission: 'cancel', environment: { from: 'promotion' } },
  rollbackEnvironment: {
    permission: 'rollback',
    environment: { from: 'param', field: 'environment' },
    alsoWhen: [OVERRIDE_WINDOW],
  },
  rejectRelease: { permission: 'release.reject' },
  // Reading the last check is a read; a check observes the systems and records what it finds in the
  // audit log (drift.detected / drift.cleared), so it is an action.
  getDrift: { permission: 'read', environment: { from: 'param', field: 'environment' } },
  checkDrift: { permission: 'drift.check', environment: { from: 'param', field: 'environment' } },
  stepHistory: { permission: 'read', environment: { from: 'query', field: 'environment' } },
  verifyAudit: { permission: 'read' },
  getConfig: { permission: 'config.read' },
  exportAudit: { permission: 'read' },
  listTokens: { permission: 'token.manage' },
  createToken: { permission: 'token.manage' },
  revokeToken: { permission: 'token.manage' },
  streamEvents: { permission: 'read' },
  metrics: { inEachProject: 'read' },
  listDeliveries: { permission: 'read' },
  whoami: { identityOnly: true },
  getSession: { identityOnly: true },
  signOut: { identityOnly: true },
} as const satisfies Record<string, RoutePermission | ServerRoute>;

export type OperationId = keyof typeof ROUTE_PERMISSIONS;
/** The operations under `/projects/{project}`, each needing a permission there. */
export type ProjectOperationId = {
  [K in OperationId]: (typeof ROUTE_PERMISSIONS)[K] extends RoutePermission ? K : never;
}[OperationId];

/**
 * The routes anyone may call without credentials, marked here so that nothing is public by being
 * left out: the health checks load balancers call, and the sign-in flow, which is how a person gets
 * credentials in the first place. Their guard (publicRoute) checks nothing, on purpose; the matrix
 * test (test/server/auth.test.ts) reads this list, and every route of the OpenAPI document is in
 * this list or in ROUTE_PERMISSIONS.
 */
export const PUBLIC_ROUTES = ['healthz', 'readyz', 'getAuthConfig', 'beginSignIn', 'finishSignIn'] as const;

export type PublicOperationId = (typeof PUBLIC_ROUTES)[number];
