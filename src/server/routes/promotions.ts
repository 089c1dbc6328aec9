import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { approve, decisionRefusals } from '../../engine/approve.js';
import { cancelPromotion } from '../../engine/cancel.js';
import { actionRefusals } from '../../engine/decisions.js';
import { promote, reapplyComponents, resume } from '../../engine/promote.js';
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
  PromotionStates,
  RejectBody,
  ResumeBody,
  CancelBody,
  Decisions,
  Step,
} from '../schemas.js';
import type { Permission } from '../../core/access.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';
const body = <S extends z.ZodType>(schema: S) => ({ content: { 'application/json': { schema } }, required: true });

/**
 * Promotions: list, get (with its steps, as `history PROMOTION`), step logs, create (as `promote`),
 * approve, reject, resume and cancel (as `cancel`); and the steps of a component across promotions (`history
 * --component`). A request that starts a run answers once the promotion is recorded; the engine
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
          state: PromotionStates.optional(),
          limit: Limit,
        }),
      },
      responses: { 200: json(z.array(Promotion), 'promotions, newest first'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const { env, state, limit } = c.req.valid('query');
      return c.json(await c.var.deps.store.listPromotions({ environment: env, states: state, limit }), 200);
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
      const { release, to, concurrency, overrideWindow, reapply } = c.req.valid('json');
      const deps = c.var.deps;
      const promotion =
        reapply !== undefined
          ? await background.start(`re-apply of ${reapply.join(', ')} in ${to}`, (recorded) =>
              reapplyComponents(deps, to, reapply, { release, concurrency, overrideWindow, onCreated: recorded }),
            )
          : await background.start(`promotion of ${release ?? ''} to ${to}`, (recorded) =>
              promote(deps, release ?? '', to, { concurrency, overrideWindow, onCreated: recorded }),
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
        const input = c.req.valid('json');
        const overrideWindow = 'overrideWindow' in input ? input.overrideWindow : undefined;
        const deps = c.var.deps;
        const promotion = await background.start(`${decision} of promotion ${ref}`, (recorded) =>
          approve(deps, ref, {
            comment: input.comment,
            reject: decision === 'reject',
            overrideWindow,
            onCreated: recorded,
          }),
        );
        return c.json({ promotion }, 200);
      },
    );
  }

  app.openapi(
    createRoute({
      operationId: 'getPromotionDecisions',
      method: 'get',
      path: `${BASE}/promotions/{promotion}/decisions`,
      tags: ['promotions'],
      summary:
        'whether the caller may approve, reject, cancel, resume (retry or mark done its interrupted steps) or roll back the promotion now, and why not: what the web UI shows instead of a button that would be refused',
      middleware: guard('getPromotionDecisions', options),
      request: { params: PromotionParams },
      responses: { 200: json(Decisions, 'the caller’s decisions'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const refusals = await decisionRefusals(c.var.deps, c.req.valid('param').promotion);
      const { environment } = refusals.promotion;
      const actions = await actionRefusals(c.var.deps, refusals.promotion);
      // The role first (what ROUTE_PERMISSIONS would refuse), then the engine's own rules. Through the
      // API both approve and reject need the approve permission.
      const decision = (permission: Permission, refusal: string | undefined) => {
        const role = options.authorize(c.var.identity, permission, c.var.project.name, environment);
        const reason = role.ok ? refusal : role.reason;
        return reason === undefined ? { allowed: true } : { allowed: false, reason };
      };
      return c.json(
        {
          approve: decision('approve', refusals.approve),
          reject: decision('approve', refusals.reject),
          cancel: decision('cancel', actions.cancel),
          retry: decision('resume', actions.resume),
          markDone: decision('mark-done', actions.resume),
          interruptedSteps: actions.interruptedSteps,
          rollback: decision('rollback', actions.rollback),
          ...(actions.rollbackTo === undefined ? {} : { rollbackTo: actions.rollbackTo }),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      operationId: 'resumePromotion',
      method: 'post',
      path: `${BASE}/promotions/{promotion}/resume`,
      tags: ['promotions'],
      summary:
        'continue a promotion (as `lockstep resume PROMOTION`): an interrupted one with `retryStep`/`markDone`, one a dead process left, or a pending one whose gates are evaluated again; the run goes on in the server',
      middleware: guard('resumePromotion', options),
      request: { params: PromotionParams, body: body(ResumeBody) },
      responses: {
        202: json(
          z.object({ promotion: Promotion }),
          'taken up: the promotion as it stood when its run began (or as it stands, when it stays pending); follow it with GET /promotions/{promotion}',
        ),
        409: error('another process runs the promotion, or it is not in a state these options apply to'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const ref = c.req.valid('param').promotion;
      const { retryStep, markDone, stopRunning, overrideWindow } = c.req.valid('json');
      const deps = c.var.deps;
      const promotion = await background.start(`resume of promotion ${ref}`, async (recorded) => {
        const [result] = await resume(deps, ref, {
          retryStep,
          markDone,
          stopRunning,
          overrideWindow,
          onRunner: (runner) => recorded(runner.record),
        });
        // A named promotion gives exactly one result.
        if (result === undefined) throw new Error(`resume of ${ref} gave no promotion`);
        return result;
      });
      return c.json({ promotion }, 202);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'cancelPromotion',
      method: 'post',
      path: `${BASE}/promotions/{promotion}/cancel`,
      tags: ['promotions'],
      summary:
        'cancel a promotion: a pending one ends `cancelled` (200); for a running one a cancel request is recorded (202) and whoever runs it (this server at once, another process at its next lease renewal) stops its running steps, then its failure policy applies',
      middleware: guard('cancelPromotion', options),
      request: { params: PromotionParams, body: body(CancelBody) },
      responses: {
        200: json(z.object({ promotion: Promotion }), 'the promotion, cancelled'),
        202: json(
          z.object({ promotion: Promotion }),
          'a running promotion: the cancel request is recorded; the promotion as it stands (follow it with GET /promotions/{promotion})',
        ),
        409: error('the promotion is rolling back, interrupted or ended, or another process decides on it now'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const promotion = await cancelPromotion(c.var.deps, c.req.valid('param').promotion, c.req.valid('json').reason);
      return promotion.state === 'cancelled' ? c.json({ promotion }, 200) : c.json({ promotion }, 202);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'stepHistory',
      method: 'get',
      path: `${BASE}/history`,
      tags: ['promotions'],
      summary: 'steps across promotions, newest first: one component’s history (as `history --component`)',
      middleware: guard('stepHistory', options),
      request: {
        params: ProjectParams,
        query: z.object({
          environment: z.string().min(1).max(200).optional().openapi({ description: 'one environment' }),
          component: z.string().min(1).max(200).optional().openapi({ description: 'one component' }),
          limit: Limit,
        }),
      },
      responses: { 200: json(z.array(Step), 'steps, newest first'), ...ERROR_RESPONSES },
    }),
    async (c) => c.json(await c.var.deps.store.listStepHistory(c.req.valid('query')), 200),
  );
}
