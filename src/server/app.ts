import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { printable } from '../core/printable.js';
import type { ZodError } from 'zod';
import { errorMessage, NotFoundError } from '../core/errors.js';
import { BackgroundRuns } from './background.js';
import { BodyTooLarge, errorResponse, RequestFieldError, ShuttingDown, type RequestFields } from './errors.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { configRoutes } from './routes/config.js';
import { diffRoutes } from './routes/diff.js';
import { doraRoutes } from './routes/dora.js';
import { environmentRoutes } from './routes/environments.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { notifyRoutes } from './routes/notify.js';
import { promotionRoutes } from './routes/promotions.js';
import { evidenceRoutes } from './routes/evidence.js';
import { releaseRoutes } from './routes/releases.js';
import { tokenRoutes } from './routes/tokens.js';
import { metricsRoutes } from './routes/metrics.js';
import { ServerMetrics } from './metrics.js';
import { whoamiRoutes } from './routes/whoami.js';
import { webUiRoutes } from './web-ui.js';
import type { AppOptions, ServerEnv } from './server-env.js';

export type { AppOptions, Authorization, ServerEnv } from './server-env.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The place a field is in, the first part of its name in a 400 (`body.to`, `query.limit`, `params.promotion`). */
const TARGET_NAMES: Record<string, string> = {
  json: 'body',
  query: 'query',
  param: 'params',
  header: 'header',
  cookie: 'cookie',
  form: 'body',
};

/**
 * The HTTP API: one OpenAPIHono app, served by `lockstep serve` and called in-process by the tests
 * (`app.request(...)`). Routes live in routes/, one file per resource; who may call what is the table
 * in permissions.ts, enforced by guard.ts; errors become status in errors.ts only.
 */
export function createApp(options: AppOptions): OpenAPIHono<ServerEnv> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const metrics = options.metrics ?? new ServerMetrics();
  const resolved: AppOptions = { ...options, log, background: options.background ?? new BackgroundRuns(log), metrics };
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = new OpenAPIHono<ServerEnv>({
    // A request that fails its schema is a 400 naming the field: `body.set.0`, `query.limit`, `params.release`.
    defaultHook: (result) => {
      if (!result.success) throw fieldError(result.target, result.error);
    },
  });

  app.use('*', metrics.middleware());
  if (options.accessLog) app.use('*', accessLog(log));
  // Draining (see serve.ts close): reads are still answered, anything that would change something (and
  // so may start a run) is refused, and connections are closed after each answer so that clients move
  // to another replica.
  app.use('*', async (c, next) => {
    if (options.shutdown?.aborted !== true) return next();
    c.header('Connection', 'close');
    if (c.req.path.startsWith('/api/') && c.req.method !== 'GET' && c.req.method !== 'HEAD') throw new ShuttingDown();
    return next();
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new BodyTooLarge(maxBodyBytes);
      },
    }),
  );
  healthRoutes(app, resolved);
  authRoutes(app, resolved);
  releaseRoutes(app, resolved);
  environmentRoutes(app, resolved);
  diffRoutes(app, resolved);
  doraRoutes(app, resolved);
  promotionRoutes(app, resolved);
  evidenceRoutes(app, resolved);
  auditRoutes(app, resolved);
  configRoutes(app, resolved);
  tokenRoutes(app, resolved);
  eventRoutes(app, resolved);
  metricsRoutes(app, resolved, metrics);
  notifyRoutes(app, resolved);
  whoamiRoutes(app, resolved);

  app.doc31('/api/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Lockstep API',
      version: '1',
      description:
        'Promote releases across systems: the API `lockstep serve` offers. Authenticate with `Authorization: Bearer TOKEN` (an API token, or the identity provider’s token), or a session cookie from /auth/login (then send X-CSRF-Token with every request that changes something).',
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  // Last: the UI answers only paths no route above took (and never /api/ or /auth/).
  webUiRoutes(app, options.webRoot);

  app.notFound((c) => {
    const { status, body } = errorResponse(new NotFoundError(`no route ${c.req.method} ${c.req.path}`));
    return c.json(body, status);
  });
  app.onError(async (error, c) => {
    const { status, body, headers } = errorResponse(error, await requestFields(c));
    if (status >= 500)
      log(
        `${c.req.method} ${c.req.path}: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}`,
      );
    return c.json(body, status, headers);
  });
  return app;
}

/**
 * One line per request in the server log: time, method, path (never the query: an OIDC callback
 * carries its code there), status, duration, and who asked when the guard knew.
 */
function accessLog(log: (line: string) => void): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const who = c.get('identity')?.name;
    log(`${new Date().toISOString()} ${c.req.method} ${printable(c.req.path)} ${c.res.status} ${Math.round(performance.now() - started)}ms${who === undefined ? '' : ` ${who}`}`);
  };
}

/** What the request holds, for naming the field an engine error is about. The body is the one the validator read (cached). */
async function requestFields(c: Context): Promise<RequestFields> {
  const body: unknown = c.req.header('Content-Type')?.includes('json')
    ? await c.req.json().catch(() => undefined)
    : undefined;
  return { params: c.req.param(), query: c.req.query(), body };
}

function fieldError(target: string, error: ZodError): RequestFieldError {
  const issue = error.issues[0];
  const where = TARGET_NAMES[target] ?? target;
  const field = [where, ...(issue?.path ?? []).map(String)].join('.');
  return new RequestFieldError(`${field}: ${issue?.message ?? 'invalid'}`, field);
}
