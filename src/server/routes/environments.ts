import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { environmentStatus } from '../../engine/status.js';
import { guard } from '../guard.js';
import { Environment, EnvironmentParams, ERROR_RESPONSES, json, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';

/** What runs where, as `lockstep status`: every environment, or one. */
export function environmentRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'listEnvironments',
      method: 'get',
      path: `${BASE}/environments`,
      tags: ['status'],
      summary:
        'per environment: the release, each component’s version, the last and active promotion, pending promotions with their gates',
      middleware: guard('listEnvironments', options),
      request: { params: ProjectParams },
      responses: {
        200: json(z.array(Environment), 'every environment of the config, in its order'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => c.json(await environmentStatus(c.var.deps), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'getEnvironment',
      method: 'get',
      path: `${BASE}/environments/{environment}`,
      tags: ['status'],
      summary: 'one environment’s status',
      middleware: guard('getEnvironment', options),
      request: { params: EnvironmentParams },
      responses: { 200: json(Environment, 'the environment'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const [status] = await environmentStatus(c.var.deps, c.req.valid('param').environment);
      return c.json(status, 200);
    },
  );
}
