import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { verifyAuditLog } from '../../engine/audit-verify.js';
import { guard } from '../guard.js';
import { AuditVerification, ERROR_RESPONSES, json, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

/** The tamper-evident audit log: verify (as `lockstep audit verify`). */
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
}
