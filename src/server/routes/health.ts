import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { errorMessage } from '../../core/errors.js';
import { publicRoute } from '../guard.js';
import { json } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const Ready = z
  .object({
    ready: z.boolean(),
    draining: z.boolean().optional().openapi({
      description:
        'the server is shutting down: it finishes the steps it runs and hands their promotions back; send work elsewhere',
    }),
    projects: z.record(
      z.string(),
      z.object({
        config: z.string().openapi({ description: "the loaded config's digest" }),
        store: z.string().openapi({ description: '`ok` or `unreachable` (the server log says why)' }),
        refused: z.object({ at: z.string(), problems: z.number().int() }).optional().openapi({
          description:
            'the config file was changed to one with problems, refused at `at`: the config above stays in force (what is wrong: GET /api/v1/projects/{project}/config, or the server log)',
        }),
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
      middleware: publicRoute('healthz'),
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
      summary:
        'every project’s config is loaded and its store answers (a refused config change shows, and leaves it ready); 503 with `draining` once the server is shutting down',
      middleware: publicRoute('readyz'),
      responses: { 200: json(Ready, 'ready'), 503: json(Ready, 'a store does not answer, or the server is draining') },
    }),
    async (c) => {
      const projects: Record<string, { config: string; store: string; refused?: { at: string; problems: number } }> =
        {};
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
        // A refused config does not make the server unready (the previous one serves), but it shows. Only the
        // count of problems: this route answers without a token, and problems quote the config.
        const refused = project.refused;
        projects[name] = {
          config: project.loaded.digest,
          store,
          ...(refused ? { refused: { at: refused.at, problems: refused.problems.length } } : {}),
        };
      }
      if (options.shutdown?.aborted === true) return c.json({ ready: false, draining: true, projects }, 503);
      return ready ? c.json({ ready, projects }, 200) : c.json({ ready, projects }, 503);
    },
  );
}
