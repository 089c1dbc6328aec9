import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { stream } from 'hono/streaming';
import { errorMessage } from '../../core/errors.js';
import { auditExport } from '../../engine/audit-export.js';
import { verifyAuditLog } from '../../engine/audit-verify.js';
import { guard } from '../guard.js';
import { AuditVerification, ERROR_RESPONSES, json, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

/** The tamper-evident audit log: verify (as `lockstep audit verify`) and export (as `lockstep audit export`). */
export function auditRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'verifyAudit',
      method: 'get',
      path: '/api/v1/projects/{project}/audit/verify',
      tags: ['audit'],
      summary: 'check the hash chain; `ok: false` names the first bad entry',
      middleware: guard('verifyAudit', options),
      request: {
        params: ProjectParams,
        query: z.object({
          head: z
            .string()
            .regex(/^[0-9a-f]{64}$/)
            .optional()
            .openapi({ description: 'a head hash recorded earlier: the chain must still contain it' }),
        }),
      },
      responses: {
        200: json(AuditVerification, 'the verification (a broken chain is a result, not an error)'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => c.json(await verifyAuditLog(c.var.deps.store, c.req.valid('query').head), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'exportAudit',
      method: 'get',
      path: '/api/v1/projects/{project}/audit/export',
      tags: ['audit'],
      summary:
        'the audit log as JSON lines, one entry per line with its hashes, streamed (as `lockstep audit export`): verifiable offline',
      middleware: guard('exportAudit', options),
      request: { params: ProjectParams },
      responses: {
        200: {
          content: {
            'application/x-ndjson': { schema: z.string().openapi({ description: 'one JSON audit entry per line' }) },
          },
          description: 'every entry, oldest first',
        },
        ...ERROR_RESPONSES,
      },
    }),
    (c) => {
      const store = c.var.deps.store;
      c.header('Content-Type', 'application/x-ndjson; charset=utf-8');
      // The body is written a page at a time: a long log is never held whole in memory.
      const response = stream(
        c,
        async (out) => {
          for await (const chunk of auditExport(store)) await out.write(chunk);
        },
        // The status is sent already: the client sees a cut-off stream (no final newline), the log why.
        async (failure) => {
          options.log?.(`audit export of ${c.var.project.name}: ${errorMessage(failure)}`);
          await Promise.resolve();
        },
      );
      // zod-openapi types a `…json` media type that is neither application/json nor `+json` (as
      // application/x-ndjson) as `never`; the streamed body is a plain Response.
      return response as never;
    },
  );
}
