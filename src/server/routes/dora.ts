import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { doraMetrics, type DoraMetrics } from '../../engine/dora.js';
import { guard } from '../guard.js';
import { ERROR_RESPONSES, json, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';

const NAME = z.string().min(1).max(200);

/** The answer's type, which the web UI reads (z.infer). */
export const Dora = z
  .custom<DoraMetrics>(() => true)
  .openapi('DoraMetrics', {
    type: 'object',
    description:
      'per environment (and per component in it): deploymentFrequency { count, perDay }, leadTime { medianSeconds, p90Seconds }, changeFailureRate, timeToRestore { medianSeconds }, reworkRate; null where there is nothing to measure (docs/metrics.md)',
  });

/** DORA metrics from the record (`lockstep metrics`). */
export function doraRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'getDoraMetrics',
      method: 'get',
      path: `${BASE}/dora`,
      tags: ['status'],
      summary: 'DORA metrics (the four keys and rework rate) over a window ending now, per environment and component',
      middleware: guard('getDoraMetrics', options),
      request: {
        params: ProjectParams,
        query: z.object({
          env: NAME.optional().openapi({ description: 'one environment (default: every one)', example: 'prod' }),
          component: NAME.optional().openapi({ description: 'one component (default: every one)', example: 'api' }),
          since: NAME.optional().openapi({ description: 'the window: a duration back from now (default 30d)', example: '90d' }),
        }),
      },
      responses: { 200: json(Dora, 'the metrics'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await doraMetrics(c.var.deps, { environment: q.env, component: q.component, since: q.since }), 200);
    },
  );
}
