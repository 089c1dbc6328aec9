import { rolesOf, type AccessSource, type Identity, type Role } from './access.js';

/** What `lockstep whoami` and `GET /api/v1/whoami` say: who, how proven, and the roles per project. */
export interface WhoAmI {
  /** The actor: whom the token (or the claim) stands for. */
  actor: string;
  /** `token`, `oidc`, or `claimed` (local mode: --actor, LOCKSTEP_ACTOR, git, the OS user). */
  via: Identity['via']['kind'];
  /** The token's name, when a token proved it. */
  token?: string;
  projects: ProjectRoles[];
}

export interface ProjectRoles {
  project: string;
  /** The roles held project-wide, implied ones included (admin ⊇ releaser ⊇ viewer). */
  roles: Role[];
  /** Environments where the roles differ from `roles`. */
  environments: Record<string, Role[]>;
}

/**
 * Who `identity` is and what it holds in each project: the roles `access:` gives it, narrowed by its
 * token, project-wide and in every environment whose roles differ. Pure.
 */
export function whoIs(
  identity: Identity,
  projects: readonly {
    name: string;
    config: AccessSource & { environments: Readonly<Record<string, unknown>> };
    identity?: Identity;
  }[],
): WhoAmI {
  return {
    actor: identity.name,
    via: identity.via.kind,
    ...(identity.via.kind === 'token' ? { token: identity.via.token } : {}),
    projects: projects.map((p) => {
      const who = p.identity ?? identity;
      const roles = rolesOf(p.config, who);
      const environments: Record<string, Role[]> = {};
      for (const env of Object.keys(p.config.environments)) {
        const there = rolesOf(p.config, who, env);
        if (there.join(',') !== roles.join(',')) environments[env] = there;
      }
      return { project: p.name, roles, environments };
    }),
  };
}
