import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { NotFoundError } from '../../core/errors.js';
import { identityGuard, publicRoute } from '../guard.js';
import type { OidcSignIn } from '../oidc/oidc-sign-in.js';
import { error, ERROR_RESPONSES, json } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

export const AuthConfig = z
  .object({
    oidc: z
      .object({
        issuer: z.string(),
        clientId: z.string().openapi({ description: 'the public client `lockstep login` signs in as' }),
        scopes: z.array(z.string()),
        deviceFlow: z.boolean().openapi({ description: 'the provider offers the device authorization grant' }),
      })
      .nullable()
      .openapi({ description: 'null: nobody signs in here; use API tokens' }),
  })
  .openapi('AuthConfig');

export const SessionView = z
  .object({
    name: z.string().openapi({ description: 'the actor: a person’s email, or whom an API token acts for' }),
    via: z.enum(['oidc', 'token']),
    issuer: z.string().optional(),
    subject: z.string().optional(),
    token: z.string().optional().openapi({ description: 'the API token’s name (never its text)' }),
    groups: z.array(z.string()).openapi({ description: 'groups the identity provider vouches for' }),
    csrfToken: z.string().optional().openapi({
      description: 'for a session cookie: send it as X-CSRF-Token with every request that changes something',
    }),
    expiresAt: z.string().optional().openapi({ description: 'when the session cookie ends' }),
  })
  .openapi('Session');

const REDIRECT = { description: 'a redirect (Location)' } as const;

/**
 * Signing in and out (docs/oidc.md), outside any project: one identity provider serves the whole
 * server, and roles are still each project's. Every route goes through the guard: the flow's own
 * steps are in PUBLIC_ROUTES (they are how one gets credentials), the session and signing out are
 * `identityOnly` rows of ROUTE_PERMISSIONS (any valid credentials, no role).
 */
export function authRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  const signIn = (): OidcSignIn => {
    if (options.oidc === undefined)
      throw new NotFoundError('nobody signs in on this server: no project sets server.oidc (use an API token)');
    return options.oidc;
  };

  app.openapi(
    createRoute({
      operationId: 'getAuthConfig',
      method: 'get',
      path: '/api/v1/auth/config',
      tags: ['auth'],
      summary: 'how to sign in here: what `lockstep login` needs to talk to the identity provider',
      middleware: publicRoute('getAuthConfig'),
      responses: {
        200: json(AuthConfig, 'the sign-in settings'),
        503: error('the identity provider cannot be reached'),
      },
    }),
    async (c) => c.json({ oidc: options.oidc === undefined ? null : await options.oidc.cliSignIn() }, 200),
  );

  app.openapi(
    createRoute({
      operationId: 'beginSignIn',
      method: 'get',
      path: '/auth/login',
      tags: ['auth'],
      summary: 'sign in in a browser: redirects to the identity provider (authorization code flow with PKCE)',
      middleware: publicRoute('beginSignIn'),
      request: {
        query: z.object({
          returnTo: z.string().max(2000).optional().openapi({ description: 'a path here to go back to' }),
        }),
      },
      responses: { 302: REDIRECT, 404: ERROR_RESPONSES[404] },
    }),
    async (c) => signIn().beginSignIn(c, c.req.valid('query').returnTo),
  );

  app.openapi(
    createRoute({
      operationId: 'finishSignIn',
      method: 'get',
      path: '/auth/callback',
      tags: ['auth'],
      summary: 'where the identity provider sends the browser back: sets the session cookie, redirects on',
      middleware: publicRoute('finishSignIn'),
      responses: { 302: REDIRECT, 400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401] },
    }),
    async (c) => signIn().finishSignIn(c),
  );

  app.openapi(
    createRoute({
      operationId: 'getSession',
      method: 'get',
      path: '/api/v1/session',
      tags: ['auth'],
      summary: 'who is signed in (a session cookie or a bearer token), and the CSRF token a session needs',
      middleware: identityGuard('getSession', options),
      responses: { 200: json(SessionView, 'the caller'), 401: ERROR_RESPONSES[401] },
    }),
    (c) => {
      const { identity, session } = c.var;
      const via = identity.via;
      return c.json(
        {
          name: identity.name,
          via: via.kind === 'token' ? ('token' as const) : ('oidc' as const),
          ...(via.kind === 'oidc' ? { issuer: via.issuer, subject: via.subject } : {}),
          ...(via.kind === 'token' ? { token: via.token } : {}),
          groups: identity.groups ?? [],
          ...(session === undefined
            ? {}
            : { csrfToken: session.csrf, expiresAt: new Date(session.expiresAt * 1000).toISOString() }),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      operationId: 'signOut',
      method: 'post',
      path: '/auth/logout',
      tags: ['auth'],
      summary: 'sign out: the session cookie is removed (with a cookie, send X-CSRF-Token)',
      middleware: identityGuard('signOut', options),
      responses: {
        200: json(z.object({ signedOut: z.literal(true) }), 'signed out'),
        401: ERROR_RESPONSES[401],
        403: ERROR_RESPONSES[403],
      },
    }),
    (c) => {
      options.oidc?.signOut(c);
      return c.json({ signedOut: true as const }, 200);
    },
  );
}
