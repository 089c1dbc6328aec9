import { PERMISSIONS, type Permission } from '../../../src/core/access.js';
import type { Role, WhoAmI } from '../api/types.js';

/**
 * Whether the signed-in identity holds the role `permission` needs in `environment`, by the roles
 * GET /whoami reports (the server's own table, core/access.ts, says which role each permission
 * needs). Only decides which buttons to offer: the server checks every request again, and its
 * refusal (with the reason) is shown when it says no.
 */
export function mayIn(whoami: WhoAmI, project: string, permission: Permission, environment?: string): boolean {
  return rolesIn(whoami, project, environment).includes(PERMISSIONS[permission]);
}

export function rolesIn(whoami: WhoAmI, project: string, environment?: string): Role[] {
  const entry = whoami.projects.find((p) => p.project === project);
  if (entry === undefined) return [];
  return (environment === undefined ? undefined : entry.environments[environment]) ?? entry.roles;
}
