import { PERMISSIONS, type Identity, type Permission, type Role } from '../core/access.js';
import type { Authorization } from './server-env.js';

/**
 * Whether `role` includes what `least` allows (core/access.ts): admin ⊇ releaser ⊇ viewer,
 * approver ⊇ viewer; approving needs the approver role itself.
 */
export function roleGrants(role: Role, least: Role): boolean {
  if (role === least || least === 'viewer') return true;
  return least === 'releaser' && role === 'admin';
}

/**
 * Interim authorization until `access:` in lockstep.yaml is evaluated (the token work): what the
 * token's own role and environments allow. A token without a role may only read. Once roles come
 * from the config, a token's role only narrows them; this function is then replaced, not extended.
 */
export function tokenRoleAuthorize(
  identity: Identity,
  permission: Permission,
  projectName: string,
  environment?: string,
): Authorization {
  const least = PERMISSIONS[permission];
  const role = identity.role ?? 'viewer';
  if (!roleGrants(role, least))
    return {
      ok: false,
      reason: `${identity.name} may not ${permission} in ${projectName}: that needs the ${least} role, the token has ${role}`,
    };
  if (
    environment !== undefined &&
    identity.environments !== undefined &&
    !identity.environments.includes(environment)
  ) {
    return {
      ok: false,
      reason: `${identity.name}'s token is limited to ${identity.environments.join(', ')}: not ${environment}`,
    };
  }
  return { ok: true };
}
