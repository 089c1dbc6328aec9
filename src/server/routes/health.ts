import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { errorMessage } from '../../core/errors.js';
import { json } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const Ready = z
  .object({
    ready: z.boolean(),
    projects: z.record(
      z.string(),
      z.object({
        config: z.string().openapi({ description: "the loaded config's digest" }),
        store: z.string().openapi({ description: '`ok` or `unreachable` (the server log says why)' }),
      }),
    ),
  })
  .openapi('Ready');

/** For load balancers, no token: alive (`/healthz`), and able to serve (`/readyz`: every store reachable, every config loaded). */
export function healthRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'healthz',
      method: 'get',
      path: '/healthz',
      tags: ['health'],
      summary: 'the process is alive',
      responses: { 200: json(z.object({ ok: z.literal(true) }), 'alive') },
    }),
    (c) => c.json({ ok: true as const }, 200),
  );

  app.openapi(
    createRoute({
      operationId: 'readyz',
      method: 'get',
      path: '/readyz',
      tags: ['health'],
      summary: 'every project’s config is loaded and its store answers',
      responses: { 200: json(Ready, 'ready'), 503: json(Ready, 'a store does not answer') },
    }),
    async (c) => {
      const projects: Record<string, { config: string; store: string }> = {};
      let ready = true;
      for (const [name, project] of options.projects) {
        let store = 'ok';
        try {
          await project.ready();
        } catch (error) {
          // The reason goes to the server log: this route answers without a token, and a store's error names paths.
          ready = false;
          store = 'unreachable';
          options.log?.(`readyz: project ${name}: ${errorMessage(error)}`);
        }
        projects[name] = { config: project.loaded.digest, store };
      }
      return ready ? c.json({ ready, projects }, 200) : c.json({ ready, projects }, 503);
    },
  );
}
