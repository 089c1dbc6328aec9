import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { checkDrift, recordedDrift } from '../../engine/drift.js';
import { rollbackEnvironment } from '../../engine/promote.js';
import { environmentStatus } from '../../engine/status.js';
import { BackgroundRuns } from '../background.js';
import { guard } from '../guard.js';
import {
  Drift,
  DriftBody,
  DriftStates,
  Environment,
  EnvironmentParams,
  error,
  ERROR_RESPONSES,
  json,
  ProjectParams,
  Promotion,
  RollbackBody,
} from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';

/** What runs where, as `lockstep status`: every environment, or one; and rolling one back (`lockstep rollback`). */
export function environmentRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  const background =
    options.background ?? new BackgroundRuns(options.log ?? ((line) => process.stderr.write(`${line}\n`)));

  app.openapi(
    createRoute({
      operationId: 'listEnvironments',
      method: 'get',
      path: `${BASE}/environments`,
      tags: ['status'],
      summary:
        'per environment: the release, each component’s version, the last and active promotion, pending promotions with their gates',
      middleware: guard('listEnvironments', options),
      request: { params: ProjectParams },
      responses: {
        200: json(z.array(Environment), 'every environment of the config, in its order'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => c.json(await environmentStatus(c.var.deps), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'getEnvironment',
      method: 'get',
      path: `${BASE}/environments/{environment}`,
      tags: ['status'],
      summary: 'one environment’s status',
      middleware: guard('getEnvironment', options),
      request: { params: EnvironmentParams },
      responses: { 200: json(Environment, 'the environment'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const [status] = await environmentStatus(c.var.deps, c.req.valid('param').environment);
      return c.json(status, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'getDrift',
      method: 'get',
      path: `${BASE}/environments/{environment}/drift`,
      tags: ['status'],
      summary: 'the last drift check of each component in the environment, as recorded (observes nothing)',
      middleware: guard('getDrift', options),
      request: { params: EnvironmentParams },
      responses: { 200: json(DriftStates, 'per component, its last check'), ...ERROR_RESPONSES },
    }),
    async (c) => c.json(await recordedDrift(c.var.deps, c.req.valid('param').environment), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'checkDrift',
      method: 'post',
      path: `${BASE}/environments/{environment}/drift`,
      tags: ['status'],
      summary:
        'check drift now (as `lockstep drift --env`): observes what runs, compares it with the record, records findings in the audit log',
      middleware: guard('checkDrift', options),
      request: {
        params: EnvironmentParams,
        body: { content: { 'application/json': { schema: DriftBody } }, required: true },
      },
      responses: { 200: json(Drift, 'the check: `drifted` says whether anything differs'), ...ERROR_RESPONSES },
    }),
    async (c) => {
      const environment = c.req.valid('param').environment;
      const { component } = c.req.valid('json');
      const [report] = await checkDrift(c.var.deps, { environment, component, trigger: 'command', signal: c.req.raw.signal });
      return c.json(report, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'rollbackEnvironment',
      method: 'post',
      path: `${BASE}/environments/{environment}/rollback`,
      tags: ['promotions'],
      summary:
        'promote the release that ran before the current one (as `lockstep rollback`): answers once it is recorded; the run goes on in the server',
      middleware: guard('rollbackEnvironment', options),
      request: {
        params: EnvironmentParams,
        body: { content: { 'application/json': { schema: RollbackBody } }, required: true },
      },
      responses: {
        202: json(z.object({ promotion: Promotion }), 'the rollback, recorded; `state` says whether it runs or waits'),
        409: error('the environment is busy'),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const environment = c.req.valid('param').environment;
      const { concurrency, overrideWindow } = c.req.valid('json');
      const deps = c.var.deps;
      const promotion = await background.start(`rollback of ${environment}`, (recorded) =>
        rollbackEnvironment(deps, environment, { concurrency, overrideWindow, onCreated: recorded }),
      );
      return c.json({ promotion }, 202);
    },
  );
}
