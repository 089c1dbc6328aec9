import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { diff, type DiffResult } from '../../engine/diff.js';
import { guard } from '../guard.js';
import { ERROR_RESPONSES, json, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';

const Side = z.string().min(1).max(200);

const Diff = z
  .custom<DiffResult>(() => true)
  .openapi('Diff', {
    type: 'object',
    description:
      '`kind: environments`: per component the versions, the resolved inputs and the outputs that differ (secrets and sensitive outputs as changed/unchanged only), and the gates that differ; `kind: releases`: the versions and labels (docs/diff.md)',
  });

/** What differs between two environments, or two releases (`lockstep diff`). */
export function diffRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'getDiff',
      method: 'get',
      path: `${BASE}/diff`,
      tags: ['status'],
      summary:
        'what differs between two environments (both name environments of the config) or two releases (ids or unique prefixes, or `releases=true`)',
      middleware: guard('getDiff', options),
      request: {
        params: ProjectParams,
        query: z.object({
          left: Side.openapi({ description: 'an environment, or a release id or unique prefix', example: 'staging' }),
          right: Side.openapi({ description: 'an environment, or a release id or unique prefix', example: 'prod' }),
          releases: z
            .enum(['true', 'false'])
            .optional()
            .transform((v) => v === 'true')
            .openapi({ type: 'string', description: 'take both as releases, even where an environment has that name' }),
        }),
      },
      responses: { 200: json(Diff, 'what differs'), ...ERROR_RESPONSES },
    }),
    async (c) => c.json(await diff(c.var.deps, c.req.valid('query')), 200),
  );
}
