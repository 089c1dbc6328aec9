import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { createRelease } from '../../engine/promote.js';
import { previewPlan } from '../../engine/plan-preview.js';
import { releaseWithPromotions } from '../../engine/records.js';
import { rejectRelease } from '../../engine/tick.js';
import { guard } from '../guard.js';
import {
  CreateReleaseBody,
  ERROR_RESPONSES,
  error,
  json,
  Limit,
  Plan,
  ProjectParams,
  Promotion,
  Release,
  ReleaseParams,
  RejectReleaseBody,
} from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';

/** Releases: list, get (with its promotions), create (as `release create`), plan (as `lockstep plan`), reject (as `release reject`). */
export function releaseRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'listReleases',
      method: 'get',
      path: `${BASE}/releases`,
      tags: ['releases'],
      summary: 'releases, newest first',
      middleware: guard('listReleases', options),
      request: { params: ProjectParams, query: z.object({ limit: Limit }) },
      responses: { 200: json(z.array(Release), 'releases, newest first'), ...ERROR_RESPONSES },
    }),
    async (c) => c.json(await c.var.deps.store.listReleases({ limit: c.req.valid('query').limit }), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'getRelease',
      method: 'get',
      path: `${BASE}/releases/{release}`,
      tags: ['releases'],
      summary: 'one release and its promotions',
      middleware: guard('getRelease', options),
      request: { params: ReleaseParams },
      responses: {
        200: json(z.object({ release: Release, promotions: z.array(Promotion) }), 'the release and its promotions'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => c.json(await releaseWithPromotions(c.var.deps.store, c.req.valid('param').release), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'createRelease',
      method: 'post',
      path: `${BASE}/releases`,
      tags: ['releases'],
      summary: 'create (or find: a release is its versions) the release pinning a version for every component',
      middleware: guard('createRelease', options),
      request: {
        params: ProjectParams,
        body: { content: { 'application/json': { schema: CreateReleaseBody } }, required: true },
      },
      responses: {
        200: json(z.object({ created: z.literal(false), release: Release }), 'the release existed already'),
        201: json(z.object({ created: z.literal(true), release: Release }), 'the release was created'),
        409: error('the release exists already with other labels'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const result = await createRelease(c.var.deps, c.req.valid('json'));
      return result.created
        ? c.json({ created: true as const, release: result.release }, 201)
        : c.json({ created: false as const, release: result.release }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'planRelease',
      method: 'get',
      path: `${BASE}/releases/{release}/plan`,
      tags: ['releases'],
      summary: 'what promoting the release to an environment would do, and the gates (records nothing)',
      middleware: guard('planRelease', options),
      request: {
        params: ReleaseParams,
        query: z.object({
          to: z.string().min(1).max(200).openapi({ description: 'target environment', example: 'prod' }),
        }),
      },
      responses: {
        200: json(z.object({ release: Release, plan: Plan }), 'the plan with the gates as they would stand now'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => c.json(await previewPlan(c.var.deps, c.req.valid('param').release, c.req.valid('query').to), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'rejectRelease',
      method: 'post',
      path: `${BASE}/releases/{release}/reject`,
      tags: ['releases'],
      summary:
        'mark a release known-bad: it can never be promoted again, anywhere; its pending promotions are rejected now (as `release reject`)',
      middleware: guard('rejectRelease', options),
      request: {
        params: ReleaseParams,
        body: { content: { 'application/json': { schema: RejectReleaseBody } }, required: true },
      },
      responses: {
        200: json(
          z.object({ release: Release, rejectedPromotions: z.array(Promotion) }),
          'the release, rejected, and its pending promotions as they ended',
        ),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => c.json(await rejectRelease(c.var.deps, c.req.valid('param').release, c.req.valid('json').reason), 200),
  );
}
