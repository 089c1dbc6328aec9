import { authorize } from '../core/access.js';
import { authenticateToken } from '../engine/tokens.js';
import type { ProjectHandle } from '../project/project-handle.js';
import type { AppOptions } from './server-env.js';

/**
 * Authenticates bearer tokens against the tokens recorded in each project's store (`lockstep token
 * create`): a token counts in the project whose store holds it, and nowhere else. The store finds
 * it by the hash of what was sent; a revoked or expired one is refused (engine/tokens.ts).
 */
export function projectAuthenticator(
  projects: ReadonlyMap<string, ProjectHandle>,
  now: () => Date = () => new Date(),
): AppOptions['authenticate'] {
  return async (bearer, projectName) => {
    const candidates = projectName === undefined ? [...projects.values()] : [projects.get(projectName)];
    for (const project of candidates) {
      if (project === undefined) continue;
      const result = await authenticateToken(project.store, bearer, now());
      if (result.ok) return result.identity;
    }
    return undefined;
  };
}

/** What an identity may do in a project: its `access:` block (core/access.ts), narrowed by the token's own role and environments. */
export function projectAuthorizer(projects: ReadonlyMap<string, ProjectHandle>): AppOptions['authorize'] {
  return (identity, permission, projectName, environment) => {
    const project = projects.get(projectName);
    if (project === undefined) return { ok: false, reason: `no project ${projectName} is served here` };
    return authorize(project.loaded.config, identity, permission, environment);
  };
}
