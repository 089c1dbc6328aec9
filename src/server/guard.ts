import type { MiddlewareHandler } from 'hono';
import type { Context } from 'hono';
import type { Identity, Permission } from '../core/access.js';
import { NotAllowedError, NotFoundError } from '../core/errors.js';
import { own } from '../core/own.js';
import { printable } from '../core/printable.js';
import type { ActorProof } from '../engine/deps.js';
import type { ProjectHandle } from '../project/project-handle.js';
import { Unauthenticated } from './errors.js';
import type { OidcSignIn, Session } from './oidc/oidc-sign-in.js';
import { sameCsrf } from './oidc/session-cookie.js';
import {
  ROUTE_PERMISSIONS,
  SERVER_ROUTES,
  type BodyPermission,
  type EnvironmentSource,
  type OperationId,
  type RoutePermission,
  type ServerOperationId,
} from './permissions.js';
import type { AppOptions, ServerEnv } from './server-env.js';

/**
 * The one middleware that decides who may call a route: the caller is authenticated (401: a bearer
 * token or a session cookie, see `authenticated`),
 * the project named in the path must be served here (404), and the route's permission, read from
 * ROUTE_PERMISSIONS, must be granted to the identity (403 with the reason), and so must each further
 * permission the table ties to a body field the request holds (`markDone` needs `mark-done`): what
 * a body asks for is the table's business, not the handler's. Runs before the request is validated,
 * so nobody learns the API's shape without a token.
 */
export function guard(operation: OperationId, options: AppOptions): MiddlewareHandler<ServerEnv> {
  const rule: RoutePermission = ROUTE_PERMISSIONS[operation];
  if (rule.scope === 'server') return spanningGuard(rule, options);
  return async (c, next) => {
    const name = c.req.param('project') ?? '';
    const project = options.projects.get(name);
    const { identity } = await authenticated(c, options, project?.name);
    if (project === undefined)
      throw new NotFoundError(
        `no project ${printable(name)} is served here (served: ${[...options.projects.keys()].join(', ')})`,
      );
    const environment = rule.environment !== undefined ? await environmentOf(c, project, rule.environment) : undefined;
    const asked = rule.alsoWhen !== undefined ? await askedFor(c, rule.alsoWhen) : [];
    for (const permission of [rule.permission, ...asked]) {
      const verdict = options.authorize(identity, permission, project.name, environment);
      if (!verdict.ok) throw new NotAllowedError(verdict.reason);
    }
    c.set('identity', identity);
    c.set('project', project);
    c.set(
      'deps',
      project.deps({
        actor: identity.name,
        actorProof: proofOf(identity),
        ...(identity.groups === undefined ? {} : { actorGroups: identity.groups }),
      }),
    );
    await next();
  };
}

/**
 * The same guard for the routes outside any project (SERVER_ROUTES): a `public` one lets everyone
 * through, explicitly; a `signed-in` one needs valid credentials, as any project route does, with
 * the same CSRF rule for a session cookie, and no role.
 */
export function serverGuard(operation: ServerOperationId, options: AppOptions): MiddlewareHandler<ServerEnv> {
  const rule: { access: 'public' | 'signed-in' } = SERVER_ROUTES[operation];
  return async (c, next) => {
    if (rule.access === 'signed-in') {
      const { identity, session } = await authenticated(c, options, undefined);
      c.set('identity', identity);
      if (session !== undefined) c.set('session', session);
    }
    await next();
  };
}

/**
 * For a route that spans the projects served (`scope: 'server'`): the caller is authenticated in
 * each project (an API token counts in the project whose store holds it; a person signed in with
 * the provider is the same person in every project), and the route's permission is asked for in
 * each. The handler gets the projects where it is granted; none is a 403 with the first reason, and
 * a token no project knows a 401.
 */
function spanningGuard(rule: RoutePermission, options: AppOptions): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const caller = await credentials(c, options);
    const granted: ProjectHandle[] = [];
    let identity: Identity | undefined;
    let refusal: string | undefined;
    for (const project of options.projects.values()) {
      const known = 'identity' in caller ? caller.identity : await options.authenticate(caller.token, project.name);
      if (known === undefined) continue;
      identity ??= known;
      const verdict = options.authorize(known, rule.permission, project.name);
      if (verdict.ok) granted.push(project);
      else refusal ??= verdict.reason;
    }
    if (identity === undefined) throw invalidToken();
    if (granted.length === 0) throw new NotAllowedError(refusal ?? `no project is served here`);
    c.set('identity', identity);
    c.set('granted', granted);
    await next();
  };
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;
/** A compact JWS: what an OpenID provider's ID token or JWT access token looks like. */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Methods that change nothing: a session cookie alone may send them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_HEADER = 'X-CSRF-Token';

/** One message for a malformed, unknown, revoked or expired API token: which one is nobody's business but the admin's. */
function invalidToken(): Unauthenticated {
  return new Unauthenticated('the token is not valid (unknown, revoked or expired)');
}

/**
 * Who sends the request, as far as it can be told without a project. Without an Authorization
 * header: a session cookie, which for a state-changing request must come with the session's CSRF
 * token in X-CSRF-Token (a page on another site can make the browser send the cookie, never read the
 * token). With one: when people sign in with a provider, a JWT is the provider's token (signature,
 * issuer, audience and expiry checked; a refusal says which check failed, as it is the person's own
 * token); anything else is an API token, which counts only in the project whose store holds it. A
 * bearer token needs no CSRF token: no browser sends it by itself.
 */
async function credentials(
  c: Context,
  options: AppOptions,
): Promise<{ identity: Identity; session?: Session } | { token: string }> {
  const header = c.req.header('Authorization');
  if (header === undefined) {
    const session = options.oidc === undefined ? undefined : await options.oidc.session(c);
    if (session === undefined)
      throw new Unauthenticated(
        options.oidc === undefined
          ? 'this API needs a token: send Authorization: Bearer TOKEN'
          : 'this API needs a token (Authorization: Bearer TOKEN) or a session: sign in at /auth/login',
      );
    if (!SAFE_METHODS.has(c.req.method) && !sameCsrf(c.req.header(CSRF_HEADER), session.csrf))
      throw new NotAllowedError(
        `a ${c.req.method} request signed in by cookie needs the ${CSRF_HEADER} header: its value is csrfToken of GET /api/v1/session`,
      );
    return { identity: (options.oidc as OidcSignIn).identityOf(session), session };
  }
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) throw invalidToken();
  if (options.oidc !== undefined && JWT.test(token)) return { identity: await options.oidc.bearer(token) };
  return { token };
}

/** The caller in the project (an API token of that project; any project's, for a route outside one). */
async function authenticated(
  c: Context,
  options: AppOptions,
  projectName: string | undefined,
): Promise<{ identity: Identity; session?: Session }> {
  const caller = await credentials(c, options);
  if ('identity' in caller) return caller;
  const identity = await options.authenticate(caller.token, projectName);
  if (identity === undefined) throw invalidToken();
  return { identity };
}

/** How the actor was proven, for the audit log: the token's name, never the token. */
function proofOf(identity: Identity): ActorProof {
  switch (identity.via.kind) {
    case 'token':
      return { identity: 'authenticated', via: 'token', token: identity.via.token };
    case 'oidc':
      return { identity: 'authenticated', via: 'oidc', issuer: identity.via.issuer, subject: identity.via.subject };
    case 'claimed':
      return { identity: 'claimed' };
  }
}

/** The JSON body as an object, or undefined when it is none (its validation then answers 400). */
async function bodyObject(c: Context): Promise<Record<string, unknown> | undefined> {
  const body: unknown = await c.req.json().catch(() => undefined);
  return typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : undefined;
}

/** The further permissions the body asks for: each rule whose field is present and not an empty list. */
async function askedFor(c: Context, rules: readonly BodyPermission[]): Promise<Permission[]> {
  const body = await bodyObject(c);
  if (body === undefined) return [];
  return rules
    .filter((rule) => {
      const value = own(body, rule.field);
      return value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
    })
    .map((rule) => rule.permission);
}

/**
 * The environment the request acts on, where the route says. A field that is missing or not a string
 * gives none: the request then fails its validation after this (400), or acts on the whole project.
 */
async function environmentOf(
  c: Context,
  project: ProjectHandle,
  source: EnvironmentSource,
): Promise<string | undefined> {
  switch (source.from) {
    case 'param':
      return c.req.param(source.field);
    case 'query':
      return c.req.query(source.field);
    case 'body': {
      const body = await bodyObject(c);
      const value = body === undefined ? undefined : own(body, source.field);
      return typeof value === 'string' ? value : undefined;
    }
    case 'promotion': {
      const ref = c.req.param('promotion');
      return ref === undefined ? undefined : (await project.store.getPromotion(ref)).environment;
    }
  }
}
