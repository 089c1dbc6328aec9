import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { guard } from '../guard.js';
import { ERROR_RESPONSES, json, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const ConfigStatus = z
  .object({
    digest: z.string().openapi({ description: 'SHA-256 of the text of the config in force' }),
    file: z.string().openapi({ description: 'the lockstep.yaml the server reads' }),
    loadedAt: z.string().openapi({ description: 'when the config in force was loaded (ISO 8601)' }),
    refused: z
      .object({
        at: z.string().openapi({ description: 'when it was refused (ISO 8601)' }),
        digest: z.string().optional().openapi({ description: 'SHA-256 of the refused text (absent when unreadable)' }),
        problems: z
          .array(z.string())
          .openapi({ description: 'one line each, as `lockstep validate` prints them: file:line:column: field: what' }),
      })
      .optional()
      .openapi({ description: 'the file on disk now, refused: the config above stays in force until it is fixed' }),
  })
  .openapi('ConfigStatus');

/** The config a project is served with, and a change to it that was refused (as `lockstep validate` would). */
export function configRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'getConfig',
      method: 'get',
      path: '/api/v1/projects/{project}/config',
      tags: ['config'],
      summary:
        'the config in force (its digest, file, when loaded) and, if the file was changed since to one with problems, why it was refused',
      middleware: guard('getConfig', options),
      request: { params: ProjectParams },
      responses: { 200: json(ConfigStatus, 'the config in force'), ...ERROR_RESPONSES },
    }),
    (c) => {
      const { loaded, loadedAt, refused } = c.var.project;
      return c.json({ digest: loaded.digest, file: loaded.file, loadedAt, ...(refused ? { refused } : {}) }, 200);
    },
  );
}
