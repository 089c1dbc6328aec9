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

/** A request field failed its schema: `field` is its path (`body.set.0`, `query.limit`). */
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

/** What every error response carries. `field` names the request field at fault (400). */
export interface ErrorBody {
  error: { code: string; message: string; field?: string; waiting?: boolean };
}

export interface ErrorResponse {
  status: ContentfulStatusCode;
  body: ErrorBody;
  headers?: Record<string, string>;
}

/**
 * The one place errors become HTTP status, as exit-codes.ts is for the CLI. Business errors carry the
 * message the CLI prints; anything unexpected is a 500 that says nothing of the internals (the caller
 * logs it). A request the server could not even parse is the client's fault, never a 5xx.
 */
export function errorResponse(error: unknown): ErrorResponse {
  const message = errorMessage(error);
  if (error instanceof RequestFieldError)
    return { status: 400, body: { error: { code: 'invalid-request', message, field: error.field } } };
  if (error instanceof InputError) {
    const field = requestField(error.field);
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
  if (error instanceof BodyTooLarge) return { status: 413, body: { error: { code: 'body-too-large', message } } };
  if (error instanceof Unavailable)
    return { status: 503, body: { error: { code: 'unavailable', message } }, headers: { 'Retry-After': '5' } };
  if (error instanceof ShuttingDown)
    return { status: 503, body: { error: { code: 'shutting-down', message } }, headers: { 'Retry-After': '5' } };
  if (error instanceof GateBlocked)
    return { status: 422, body: { error: { code: 'gate-blocked', message, waiting: error.waiting } } };
  // Hono's own refusals: malformed JSON, a Content-Type the validator cannot read.
  if (error instanceof HTTPException && error.status < 500)
    return { status: error.status, body: { error: { code: 'invalid-request', message } } };
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error: the server log has the details' } },
  };
}

/**
 * Engine errors name the CLI's flag (`--to`, `--retry-step`); a request names the same thing as a
 * body or query field (`to`, `retryStep`).
 */
function requestField(flag: string | undefined): string | undefined {
  if (flag === undefined) return undefined;
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}
