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
  type BodyPermission,
  type EnvironmentSource,
  type ServerRoute,
  type OperationId,
  type ProjectOperationId,
  type PublicOperationId,
  type RoutePermission,
  PUBLIC_ROUTES,
} from './permissions.js';
import type { AppOptions, KnownIdentity, ServerEnv } from './server-env.js';

/**
 * The one middleware that decides who may call a route: the caller is authenticated (401: a bearer
 * token or a session cookie, see `credentials`),
 * the project named in the path must be served here (404), and the route's permission, read from
 * ROUTE_PERMISSIONS, must be granted to the identity (403 with the reason), and so must each further
 * permission the table ties to a body field the request holds (`markDone` needs `mark-done`): what
 * a body asks for is the table's business, not the handler's. Runs before the request is validated,
 * so nobody learns the API's shape without a token.
 */
export function guard(operation: ProjectOperationId, options: AppOptions): MiddlewareHandler<ServerEnv> {
  const rule: RoutePermission = ROUTE_PERMISSIONS[operation];
  return async (c, next) => {
    const name = c.req.param('project') ?? '';
    const project = options.projects.get(name);
    const identity = await authenticated(c, options, project?.name);
    if (project === undefined)
      throw new NotFoundError(
        `no project ${printable(name)} is served here (served: ${[...options.projects.keys()].join(', ')})`,
      );
    const environment = rule.environment === undefined ? undefined : await environmentOf(c, project, rule.environment);
    const asked = rule.alsoWhen === undefined ? [] : await askedFor(c, rule.alsoWhen);
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
 * The guard of a route outside any project (a ServerRoute of the table): the caller must be known
 * in at least one served project (401 otherwise): an API token in the projects whose stores hold
 * it, a person signed in with the provider in every project. An `identityOnly` route then learns in which projects, as whom (whoami,
 * the session); an `inEachProject` route learns those where the identity also holds the permission
 * (GET /metrics: the projects whose series it may see), and none is a 403 with the first refusal's
 * reason.
 */
export function identityGuard(
  operation: Exclude<OperationId, ProjectOperationId>,
  options: AppOptions,
): MiddlewareHandler<ServerEnv> {
  const rule: ServerRoute = ROUTE_PERMISSIONS[operation];
  return async (c, next) => {
    const caller = await credentials(c, options);
    const known: KnownIdentity[] = [];
    for (const project of options.projects.values()) {
      const identity = 'identity' in caller ? caller.identity : await options.authenticate(caller.token, project.name);
      if (identity !== undefined) known.push({ project, identity });
    }
    const first = known[0];
    if (first === undefined) throw new Unauthenticated(invalidToken(c));
    if ('session' in caller && caller.session !== undefined) c.set('session', caller.session);
    let granted = known;
    if ('inEachProject' in rule) {
      const verdicts = known.map((k) => ({
        k,
        verdict: options.authorize(k.identity, rule.inEachProject, k.project.name),
      }));
      granted = verdicts.filter((v) => v.verdict.ok).map((v) => v.k);
      const refused = verdicts.find((v) => !v.verdict.ok)?.verdict;
      if (granted.length === 0)
        throw new NotAllowedError(refused !== undefined && !refused.ok ? refused.reason : 'no project is served here');
    }
    c.set('identity', (granted[0] ?? first).identity);
    c.set('known', granted);
    await next();
  };
}

/** The guard of a route in PUBLIC_ROUTES: nobody is asked anything, because the table says so. */
export function publicRoute(operation: PublicOperationId): MiddlewareHandler<ServerEnv> {
  if (!PUBLIC_ROUTES.includes(operation)) throw new Error(`${operation} is not in PUBLIC_ROUTES`);
  return (_c, next) => next();
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;
/** A compact JWS: what an OpenID provider's ID token or JWT access token looks like. */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Methods that change nothing: a session cookie alone may send them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_HEADER = 'X-CSRF-Token';

/** The caller in the project: an API token of that project (of any, for a path naming none served), or a person. */
async function authenticated(c: Context, options: AppOptions, projectName: string | undefined): Promise<Identity> {
  const caller = await credentials(c, options);
  if ('identity' in caller) return caller.identity;
  const identity = await options.authenticate(caller.token, projectName);
  if (identity === undefined) throw new Unauthenticated(invalidToken(c));
  return identity;
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
    if (session === undefined) throw new Unauthenticated(invalidToken(c, options));
    if (!SAFE_METHODS.has(c.req.method) && !sameCsrf(c.req.header(CSRF_HEADER), session.csrf))
      throw new NotAllowedError(
        `a ${c.req.method} request signed in by cookie needs the ${CSRF_HEADER} header: its value is csrfToken of GET /api/v1/session`,
      );
    return { identity: (options.oidc as OidcSignIn).identityOf(session), session };
  }
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) throw new Unauthenticated(invalidToken(c, options));
  if (options.oidc !== undefined && JWT.test(token)) return { identity: await options.oidc.bearer(token) };
  return { token };
}

/** One message for a malformed, unknown, revoked or expired token: which one is nobody's business but the admin's. */
function invalidToken(c: Context, options?: AppOptions): string {
  if (c.req.header('Authorization') !== undefined) return 'the token is not valid (unknown, revoked or expired)';
  return options?.oidc === undefined
    ? 'this API needs a token: send Authorization: Bearer TOKEN'
    : 'this API needs a token (Authorization: Bearer TOKEN) or a session: sign in at /auth/login';
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
