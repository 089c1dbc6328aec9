import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { ZodError } from 'zod';
import { errorMessage, NotFoundError } from '../core/errors.js';
import { BackgroundRuns } from './background.js';
import { BodyTooLarge, errorResponse, RequestFieldError } from './errors.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { configRoutes } from './routes/config.js';
import { environmentRoutes } from './routes/environments.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { promotionRoutes } from './routes/promotions.js';
import { releaseRoutes } from './routes/releases.js';
import { tokenRoutes } from './routes/tokens.js';
import type { AppOptions, ServerEnv } from './server-env.js';

export type { AppOptions, Authorization, ServerEnv } from './server-env.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const TARGET_NAMES: Record<string, string> = {
  json: 'body',
  query: 'query',
  param: 'path',
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
  const resolved: AppOptions = { ...options, log, background: options.background ?? new BackgroundRuns(log) };
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = new OpenAPIHono<ServerEnv>({
    // A request that fails its schema is a 400 naming the field: `body.set.0`, `query.limit`.
    defaultHook: (result) => {
      if (!result.success) throw fieldError(result.target, result.error);
    },
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
  promotionRoutes(app, resolved);
  auditRoutes(app, resolved);
  configRoutes(app, resolved);
  tokenRoutes(app, resolved);
  eventRoutes(app, resolved);

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

  app.notFound((c) => {
    const { status, body } = errorResponse(new NotFoundError(`no route ${c.req.method} ${c.req.path}`));
    return c.json(body, status);
  });
  app.onError((error, c) => {
    const { status, body, headers } = errorResponse(error);
    if (status >= 500)
      log(
        `${c.req.method} ${c.req.path}: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}`,
      );
    return c.json(body, status, headers);
  });
  return app;
}

function fieldError(target: string, error: ZodError): RequestFieldError {
  const issue = error.issues[0];
  const where = TARGET_NAMES[target] ?? target;
  const field = [where, ...(issue?.path ?? []).map(String)].join('.');
  return new RequestFieldError(`${field}: ${issue?.message ?? 'invalid'}`, field);
}
