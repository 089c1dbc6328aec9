import type { MiddlewareHandler } from 'hono';
import type { Context } from 'hono';
import type { Identity, Permission } from '../core/access.js';
import { NotAllowedError, NotFoundError } from '../core/errors.js';
import { own } from '../core/own.js';
import { printable } from '../core/printable.js';
import type { ActorProof } from '../engine/deps.js';
import type { ProjectHandle } from '../project/project-handle.js';
import { Unauthenticated } from './errors.js';
import {
  ROUTE_PERMISSIONS,
  type BodyPermission,
  type EnvironmentSource,
  type ServerRoute,
  type OperationId,
  type ProjectOperationId,
  type RoutePermission,
} from './permissions.js';
import type { AppOptions, KnownIdentity, ServerEnv } from './server-env.js';

/**
 * The one middleware that decides who may call a route: the bearer token is authenticated (401),
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
    c.set('deps', project.deps({ actor: identity.name, actorProof: proofOf(identity) }));
    await next();
  };
}

/**
 * The guard of a route outside any project (a ServerRoute of the table): the bearer token must be
 * valid in at least one served project (401 otherwise). An `identityOnly` route then learns in which
 * projects, as whom (whoami); an `inEachProject` route learns those where the identity also holds
 * the permission (GET /metrics: the projects whose series it may see), and none is a 403 with the
 * first refusal's reason.
 */
export function identityGuard(operation: Exclude<OperationId, ProjectOperationId>, options: AppOptions): MiddlewareHandler<ServerEnv> {
  const rule: ServerRoute = ROUTE_PERMISSIONS[operation];
  return async (c, next) => {
    const token = bearerOf(c);
    const known: KnownIdentity[] = [];
    if (token !== undefined)
      for (const project of options.projects.values()) {
        const identity = await options.authenticate(token, project.name);
        if (identity !== undefined) known.push({ project, identity });
      }
    const first = known[0];
    if (first === undefined) throw new Unauthenticated(invalidToken(c));
    let granted = known;
    if ('inEachProject' in rule) {
      const verdicts = known.map((k) => ({ k, verdict: options.authorize(k.identity, rule.inEachProject, k.project.name) }));
      granted = verdicts.filter((v) => v.verdict.ok).map((v) => v.k);
      const refused = verdicts.find((v) => !v.verdict.ok)?.verdict;
      if (granted.length === 0) throw new NotAllowedError(refused !== undefined && !refused.ok ? refused.reason : 'no project is served here');
    }
    c.set('identity', (granted[0] ?? first).identity);
    c.set('known', granted);
    await next();
  };
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

async function authenticated(c: Context, options: AppOptions, projectName: string | undefined): Promise<Identity> {
  const token = bearerOf(c);
  const identity = token === undefined ? undefined : await options.authenticate(token, projectName);
  if (identity === undefined) throw new Unauthenticated(invalidToken(c));
  return identity;
}

/** The bearer token of the Authorization header, if it holds one. */
function bearerOf(c: Context): string | undefined {
  const header = c.req.header('Authorization');
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

/** One message for a malformed, unknown, revoked or expired token: which one is nobody's business but the admin's. */
function invalidToken(c: Context): string {
  return c.req.header('Authorization') === undefined
    ? 'this API needs a token: send Authorization: Bearer TOKEN'
    : 'the token is not valid (unknown, revoked or expired)';
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
