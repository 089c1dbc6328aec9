import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { identityGuard } from '../guard.js';
import { ERROR_RESPONSES } from '../schemas.js';
import type { ServerMetrics } from '../metrics.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

/**
 * `GET /metrics` for Prometheus: the server's metrics and those of every project the caller may read
 * (a scrape job authenticates with a viewer token, docs/server.md#metrics).
 */
export function metricsRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions, metrics: ServerMetrics): void {
  app.openapi(
    createRoute({
      operationId: 'metrics',
      method: 'get',
      path: '/metrics',
      tags: ['metrics'],
      summary:
        'Prometheus metrics in the text exposition format: the server’s, and those of each project the caller may read (series labelled `project`)',
      middleware: identityGuard('metrics', options),
      responses: {
        200: {
          description: 'the metrics',
          content: { 'text/plain': { schema: z.string() } },
        },
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const text = await metrics.render(
        c.var.known.map((k) => k.project),
        [...options.projects.keys()],
      );
      return c.text(text, 200, { 'Content-Type': metrics.registry.contentType });
    },
  );
}
