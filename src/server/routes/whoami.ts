import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { whoIs } from '../../core/whoami.js';
import { identityGuard } from '../guard.js';
import { ERROR_RESPONSES, json, WhoAmI } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

/**
 * `GET /api/v1/whoami` (as `lockstep whoami`): whom the token stands for, how it was authenticated,
 * and in each project whose store knows it, the roles it holds. Not under a project: a token is
 * recorded in one project's store, and a client that knows no project name learns it here.
 */
export function whoamiRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'whoami',
      method: 'get',
      path: '/api/v1/whoami',
      tags: ['identity'],
      summary:
        'whom the token stands for, how it was authenticated, and its roles in each project that knows it (per environment where they differ)',
      middleware: identityGuard('whoami', options),
      responses: { 200: json(WhoAmI, 'the identity and its projects'), 401: ERROR_RESPONSES[401] },
    }),
    (c) =>
      c.json(
        whoIs(
          c.var.identity,
          c.var.known.map((k) => ({ name: k.project.name, config: k.project.loaded.config, identity: k.identity })),
        ),
        200,
      ),
  );
}
