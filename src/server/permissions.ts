import type { Permission } from '../core/access.js';

/**
 * Where the environment a request acts on comes from, for per-environment roles: a path parameter,
 * a query or body field, or the environment of the promotion the path names. None: the project as a
 * whole (its reads span environments).
 */
export type EnvironmentSource = { from: 'param' | 'query' | 'body'; field: string } | { from: 'promotion' };

export interface RoutePermission {
  permission: Permission;
  environment?: EnvironmentSource;
}

/**
 * Who may call what: every API operation (by its OpenAPI operationId) and the permission it needs.
 * The one guard middleware (guard.ts) enforces it, and the permission matrix test reads this table.
 * Rejecting a promotion needs `approve`: the engine also lets the requester reject, but through the
 * API only an approver may (a requester without that role cancels instead, in a later slice).
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
  createPromotion: { permission: 'promote', environment: { from: 'body', field: 'to' } },
  approvePromotion: { permission: 'approve', environment: { from: 'promotion' } },
  rejectPromotion: { permission: 'approve', environment: { from: 'promotion' } },
  verifyAudit: { permission: 'read' },
  streamEvents: { permission: 'read' },
} as const satisfies Record<string, RoutePermission>;

export type OperationId = keyof typeof ROUTE_PERMISSIONS;
