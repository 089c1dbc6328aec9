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
  /**
   * `server`: the route is not under a project and spans those served (`/metrics`). The guard
   * authenticates the caller in each project, and the handler sees the projects where the permission
   * is granted (403 when none).
   */
  scope?: 'server';
  environment?: EnvironmentSource;
  /** Further permissions, each needed only when the request's body holds its field. */
  alsoWhen?: readonly BodyPermission[];
}

const OVERRIDE_WINDOW = { field: 'overrideWindow', permission: 'override-window' } as const;

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
  listPromotions: { permission: 'read', environment: { from: 'query', field: 'env' } },
  getPromotion: { permission: 'read', environment: { from: 'promotion' } },
  getPromotionLogs: { permission: 'read', environment: { from: 'promotion' } },
  createPromotion: { permission: 'promote', environment: { from: 'body', field: 'to' }, alsoWhen: [OVERRIDE_WINDOW] },
  approvePromotion: { permission: 'approve', environment: { from: 'promotion' }, alsoWhen: [OVERRIDE_WINDOW] },
  rejectPromotion: { permission: 'approve', environment: { from: 'promotion' } },
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
  stepHistory: { permission: 'read', environment: { from: 'query', field: 'environment' } },
  verifyAudit: { permission: 'read' },
  getConfig: { permission: 'config.read' },
  exportAudit: { permission: 'read' },
  listTokens: { permission: 'token.manage' },
  createToken: { permission: 'token.manage' },
  revokeToken: { permission: 'token.manage' },
  streamEvents: { permission: 'read' },
  metrics: { permission: 'read', scope: 'server' },
  listDeliveries: { permission: 'read' },
} as const satisfies Record<string, RoutePermission>;

export type OperationId = keyof typeof ROUTE_PERMISSIONS;

/**
 * The routes outside any project, and who may call them: `public` needs no credentials (load
 * balancers' health checks, and the sign-in flow, which is how a person gets credentials at all);
 * `signed-in` needs any valid credentials (a session cookie, the provider's token or an API token),
 * and no role. Enforced by the same guard (serverGuard); the matrix test reads this table too.
 */
export const SERVER_ROUTES = {
  healthz: { access: 'public' },
  readyz: { access: 'public' },
  getAuthConfig: { access: 'public' },
  beginSignIn: { access: 'public' },
  finishSignIn: { access: 'public' },
  getSession: { access: 'signed-in' },
  signOut: { access: 'signed-in' },
} as const satisfies Record<string, { access: 'public' | 'signed-in' }>;

export type ServerOperationId = keyof typeof SERVER_ROUTES;
