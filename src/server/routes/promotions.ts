import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { approve } from '../../engine/approve.js';
import { promote } from '../../engine/promote.js';
import { promotionLogs, promotionWithSteps } from '../../engine/records.js';
import { BackgroundRuns } from '../background.js';
import { guard } from '../guard.js';
import {
  ApproveBody,
  CreatePromotionBody,
  error,
  ERROR_RESPONSES,
  json,
  Limit,
  LogLine,
  ProjectParams,
  Promotion,
  PromotionParams,
  RejectBody,
  Step,
} from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';
const body = <S extends z.ZodType>(schema: S) => ({ content: { 'application/json': { schema } }, required: true });

/**
 * Promotions: list, get (with its steps, as `history PROMOTION`), step logs, create (as `promote`),
 * approve and reject. A request that starts a run answers once the promotion is recorded; the engine
 * runs it in the background (BackgroundRuns), and its record says how it goes on.
 */
export function promotionRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  const background =
    options.background ?? new BackgroundRuns(options.log ?? ((line) => process.stderr.write(`${line}\n`)));

  app.openapi(
    createRoute({
      operationId: 'listPromotions',
      method: 'get',
      path: `${BASE}/promotions`,
      tags: ['promotions'],
      summary: 'promotions, newest first',
      middleware: guard('listPromotions', options),
      request: {
        params: ProjectParams,
        query: z.object({
          env: z.string().min(1).max(200).optional().openapi({ description: 'one environment' }),
          limit: Limit,
        }),
      },
      responses: { 200: json(z.array(Promotion), 'promotions, newest first'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const { env, limit } = c.req.valid('query');
      return c.json(await c.var.deps.store.listPromotions({ environment: env, limit }), 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'getPromotion',
      method: 'get',
      path: `${BASE}/promotions/{promotion}`,
      tags: ['promotions'],
      summary: 'one promotion in full: its plan, gates and steps',
      middleware: guard('getPromotion', options),
      request: { params: PromotionParams },
      responses: {
        200: json(z.object({ promotion: Promotion, steps: z.array(Step) }), 'the promotion and its steps'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => c.json(await promotionWithSteps(c.var.deps.store, c.req.valid('param').promotion), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'getPromotionLogs',
      method: 'get',
      path: `${BASE}/promotions/{promotion}/logs`,
      tags: ['promotions'],
      summary: "what a promotion's steps printed (secrets redacted)",
      middleware: guard('getPromotionLogs', options),
      request: {
        params: PromotionParams,
        query: z.object({ component: z.string().min(1).max(200).optional().openapi({ description: 'one component' }) }),
      },
      responses: { 200: json(z.array(LogLine), 'log lines, oldest first'), ...ERROR_RESPONSES },
    }),
    async (c) =>
      c.json(
        await promotionLogs(c.var.deps.store, c.req.valid('param').promotion, c.req.valid('query').component),
        200,
      ),
  );

  app.openapi(
    createRoute({
      operationId: 'createPromotion',
      method: 'post',
      path: `${BASE}/promotions`,
      tags: ['promotions'],
      summary:
        'promote a release to an environment: answers once it is recorded (running, pending or rejected); the run goes on in the server',
      middleware: guard('createPromotion', options),
      request: { params: ProjectParams, body: body(CreatePromotionBody) },
      responses: {
        202: json(
          z.object({ promotion: Promotion }),
          'recorded; `state` says whether it runs, waits on its gates or was refused by them',
        ),
        409: error('the environment is busy'),
        422: error('a gate refuses: the release has not succeeded upstream'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const { release, to, concurrency } = c.req.valid('json');
      const deps = c.var.deps;
      const promotion = await background.start(`promotion of ${release} to ${to}`, (recorded) =>
        promote(deps, release, to, { concurrency, onCreated: recorded }),
      );
      return c.json({ promotion }, 202);
    },
  );

  for (const decision of ['approve', 'reject'] as const) {
    const operationId = decision === 'approve' ? 'approvePromotion' : 'rejectPromotion';
    app.openapi(
      createRoute({
        operationId,
        method: 'post',
        path: `${BASE}/promotions/{promotion}/${decision}`,
        tags: ['promotions'],
        summary:
          decision === 'approve'
            ? 'approve a pending promotion (binds to the plan as it stands); the approval that completes the gates starts the run in the server'
            : 'reject a pending promotion: it ends',
        middleware: guard(operationId, options),
        request: { params: PromotionParams, body: body(decision === 'approve' ? ApproveBody : RejectBody) },
        responses: {
          200: json(z.object({ promotion: Promotion }), 'the promotion as it stands after the decision'),
          409: error('the promotion is not pending, or another process decides on it'),
          ...ERROR_RESPONSES,
        },
      }),
      async (c) => {
        const ref = c.req.valid('param').promotion;
        const { comment } = c.req.valid('json');
        const deps = c.var.deps;
        const promotion = await background.start(`${decision} of promotion ${ref}`, (recorded) =>
          approve(deps, ref, { comment, reject: decision === 'reject', onCreated: recorded }),
        );
        return c.json({ promotion }, 200);
      },
    );
  }
}
