import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { listDeliveries } from '../../engine/notifications.js';
import { DELIVERY_STATUSES } from '../../store/store.js';
import { guard } from '../guard.js';
import { ERROR_RESPONSES, json, Limit, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';

const Attempt = z
  .object({
    at: z.string(),
    httpStatus: z.number().int().optional(),
    error: z.string().optional().openapi({ description: 'why it failed, secrets redacted' }),
    durationMs: z.number(),
  })
  .openapi('DeliveryAttempt');

const Delivery = z
  .object({
    id: z.number().int().openapi({ description: "the outbox's order: a target's deliveries go out in it" }),
    deliveryId: z.string().openapi({ description: 'X-Lockstep-Delivery: the same on every attempt' }),
    target: z.string(),
    event: z.string().openapi({ example: 'promotion.finished' }),
    cloudEventType: z.string().optional().openapi({ example: 'dev.cdevents.pipelinerun.finished.0.3.0' }),
    auditSeq: z.number().int().optional().openapi({ description: 'the audit entry it comes from' }),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    createdAt: z.string(),
    nextAttemptAt: z.string().optional(),
    deliveredAt: z.string().optional(),
    lastAttempt: Attempt.optional(),
  })
  .openapi('Delivery');

/** The notification outbox, as `lockstep notify log` shows it. */
export function notifyRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'listDeliveries',
      method: 'get',
      path: `${BASE}/notify/deliveries`,
      tags: ['notify'],
      summary: 'notification deliveries, newest first: target, event, status, attempts (never bodies or URLs)',
      middleware: guard('listDeliveries', options),
      request: {
        params: ProjectParams,
        query: z.object({
          target: z.string().min(1).max(200).optional().openapi({ description: 'only this notify target' }),
          status: z.enum(DELIVERY_STATUSES).optional(),
          limit: Limit,
        }),
      },
      responses: { 200: json(z.array(Delivery), 'the deliveries'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const query = c.req.valid('query');
      return c.json(await listDeliveries(c.var.deps.store, query), 200);
    },
  );
}
