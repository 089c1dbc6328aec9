import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  ConflictError,
  errorMessage,
  GateBlocked,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '../core/errors.js';
import { StoreUnavailable } from '../store/store.js';

/**
 * A request field failed its schema: `field` is its path, the place first: `body.set.0`,
 * `query.limit`, `params.promotion`, `header.last-event-id`; `body` alone for a body that is not JSON.
 */
export class RequestFieldError extends Error {
  override readonly name = 'RequestFieldError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** The request body is larger than the server accepts. */
export class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';
  constructor(readonly limit: number) {
    super(`the request body is larger than ${limit} bytes`);
  }
}

/** The server is shutting down (draining): it takes no new work; another replica, or this one restarted, will. */
export class ShuttingDown extends Error {
  override readonly name = 'ShuttingDown';
  constructor() {
    super('the server is shutting down and takes no new work: send the request again in a moment (to another replica, or to this one once it is back)');
  }
}

/** The request carries no bearer token, or one the server does not accept. */
export class Unauthenticated extends Error {
  override readonly name = 'Unauthenticated';
}

/** A service the request needs (the identity provider) cannot be reached: try again later. */
export class Unavailable extends Error {
  override readonly name = 'Unavailable';
}

/** What every error response carries. `field` names the request field at fault (400), as RequestFieldError's. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string; waiting?: boolean };
}

export interface ErrorResponse {
  status: ContentfulStatusCode;
  body: ErrorBody;
  headers?: Record<string, string>;
}

/** Where a request carries its fields: what an engine error's field is looked for in. */
export interface RequestFields {
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

/**
 * The one place errors become HTTP status, as exit-codes.ts is for the CLI. Business errors carry the
 * message the CLI prints; anything unexpected is a 500 that says nothing of the internals (the caller
 * logs it). A request the server could not even parse is the client's fault, never a 5xx. `request`
 * lets an engine error's field (a CLI flag) be named as the request field it came from.
 */
export function errorResponse(error: unknown, request?: RequestFields): ErrorResponse {
  const message = errorMessage(error);
  if (error instanceof RequestFieldError)
    return { status: 400, body: { error: { code: 'invalid-request', message, field: error.field } } };
  if (error instanceof InputError) {
    const field = requestField(error.field, request);
    return { status: 400, body: { error: { code: 'invalid-input', message, ...(field ? { field } : {}) } } };
  }
  if (error instanceof Unauthenticated)
    return {
      status: 401,
      body: { error: { code: 'unauthenticated', message } },
      headers: { 'WWW-Authenticate': 'Bearer realm="lockstep"' },
    };
  if (error instanceof NotAllowedError) return { status: 403, body: { error: { code: 'not-allowed', message } } };
  if (error instanceof NotFoundError) return { status: 404, body: { error: { code: 'not-found', message } } };
  if (error instanceof ConflictError) return { status: 409, body: { error: { code: 'conflict', message } } };
  if (error instanceof StoreUnavailable)
    return { status: 503, body: { error: { code: 'store-unavailable', message } }, headers: { 'Retry-After': '5' } };
  if (error instanceof BodyTooLarge)
    return { status: 413, body: { error: { code: 'body-too-large', message, field: 'body' } } };
  if (error instanceof Unavailable)
    return { status: 503, body: { error: { code: 'unavailable', message } }, headers: { 'Retry-After': '5' } };
  if (error instanceof ShuttingDown)
    return { status: 503, body: { error: { code: 'shutting-down', message } }, headers: { 'Retry-After': '5' } };
  if (error instanceof GateBlocked)
    return { status: 422, body: { error: { code: 'gate-blocked', message, waiting: error.waiting } } };
  // Hono's own refusals, all of the body: JSON that does not parse (400), a Content-Type that is not JSON (415).
  if (error instanceof HTTPException && error.status < 500)
    return { status: error.status, body: { error: { code: 'invalid-request', message, field: 'body' } } };
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error: the server log has the details' } },
  };
}

const PLACES = ['body', 'query', 'params', 'header'] as const;

/**
 * The names a request gives what the engine names by the CLI's flag, where it is not the flag in
 * camelCase (`--retry-step` is `retryStep`): `--env` is a path's `environment`, a query's `env` or a
 * token's `environments`; `--reason` may be the override's.
 */
const REQUEST_NAMES: Readonly<Record<string, readonly string[]>> = {
  '--env': ['environment', 'env', 'environments'],
  '--label': ['labels'],
  '--reason': ['reason', 'overrideWindow.reason'],
};

/**
 * The request field an engine error is about, in the API's one convention (`body.to`, `query.to`,
 * `params.environment`): the engine names the CLI's flag (`--to`) or argument (`promotion`), and
 * the same name is looked for where this request holds it, path first, then query, then body. A
 * field the engine already names with its place (`header.last-event-id`) is kept. Undefined when
 * the request holds no such field (a problem of the server's config, not of the request).
 */
export function requestField(name: string | undefined, request: RequestFields | undefined): string | undefined {
  if (name === undefined) return undefined;
  if (PLACES.some((place) => name === place || name.startsWith(`${place}.`))) return name;
  if (request === undefined) return undefined;
  const camel = name.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const names = Object.hasOwn(REQUEST_NAMES, name) ? (REQUEST_NAMES[name] ?? []) : [camel];
  for (const n of names) {
    if (Object.hasOwn(request.params, n)) return `params.${n}`;
    if (Object.hasOwn(request.query, n)) return `query.${n}`;
    if (pathIn(request.body, n.split('.'))) return `body.${n}`;
  }
  // A flag whose field the body left out (`--set` when a release is made `from` an environment): the body's field to add.
  const body = request.body;
  if (name.startsWith('--') && typeof body === 'object' && body !== null && !Array.isArray(body))
    return `body.${names[0] ?? camel}`;
  return undefined;
}

function pathIn(value: unknown, path: readonly string[]): boolean {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null || Array.isArray(at) || !Object.hasOwn(at, key)) return false;
    at = (at as Record<string, unknown>)[key];
  }
  return true;
}
