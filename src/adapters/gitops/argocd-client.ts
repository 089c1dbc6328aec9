import { z } from 'zod';
import { limitText } from '../../core/duration.js';
import { abortReason, sleep } from './abort.js';
import { stripCredentials } from './git-remote.js';

/**
 * A small client for the Argo CD REST API (the subset Lockstep uses), on the platform's fetch.
 * Server errors (5xx, 429) and network failures are retried with backoff; anything else fails at once
 * with Argo CD's own message. The token is only ever sent in the Authorization header; it is never
 * part of a message.
 *
 * Deadlines: one client serves one operation (a check, a wait), and all its calls together, retries
 * included, end by `timeoutMs` after it was made; each attempt also ends after `requestTimeoutMs`,
 * body included, so a server that accepts the connection and never answers cannot stall the step.
 */

/** The endpoints this client calls, as the API description names them (checked by a conformance test). */
export const ARGOCD_ENDPOINTS = [
  { method: 'post', path: '/api/v1/session', body: ['username', 'password'], query: [] },
  { method: 'get', path: '/api/v1/applications/{name}', body: [], query: ['refresh', 'appNamespace'] },
  { method: 'post', path: '/api/v1/applications/{name}/sync', body: ['name', 'appNamespace', 'prune'], query: [] },
] as const;

const text = z.string().optional().catch(undefined);
const health = z.looseObject({ status: text, message: text }).optional().catch(undefined);

/**
 * The fields of a v1alpha1Application this client reads. Everything is optional and a field of an
 * unexpected type reads as absent: an Argo CD version that drops a field must not crash the wait.
 */
export const argoApplication = z.looseObject({
  metadata: z.looseObject({ name: text, namespace: text }).optional().catch(undefined),
  spec: z
    .looseObject({
      syncPolicy: z
        .looseObject({ automated: z.looseObject({ enabled: z.boolean().optional().catch(undefined) }).nullish().catch(undefined) })
        .nullish()
        .catch(undefined),
    })
    .optional()
    .catch(undefined),
  status: z
    .looseObject({
      sync: z
        .looseObject({ status: text, revision: text, revisions: z.array(z.string()).optional().catch(undefined) })
        .optional()
        .catch(undefined),
      health,
      operationState: z
        .looseObject({
          phase: text,
          message: text,
          startedAt: text,
          finishedAt: text,
          syncResult: z
            .looseObject({ revision: text, revisions: z.array(z.string()).optional().catch(undefined) })
            .optional()
            .catch(undefined),
        })
        .optional()
        .catch(undefined),
      conditions: z
        .array(z.looseObject({ type: text, message: text }))
        .optional()
        .catch(undefined),
      resources: z
        .array(z.looseObject({ kind: text, name: text, namespace: text, health }))
        .optional()
        .catch(undefined),
    })
    .optional()
    .catch(undefined),
});

export type ArgoApplication = z.output<typeof argoApplication>;

export class ArgoCdError extends Error {
  override readonly name = 'ArgoCdError';
  constructor(
    message: string,
    /** undefined: no answer at all (network). */
    readonly status: number | undefined,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ArgoCdClientOptions {
  server: string;
  token?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  appNamespace?: string | undefined;
  signal: AbortSignal;
  /** Told about each retry, for the step log. */
  onRetry?: (message: string) => void;
  maxAttempts?: number;
  /** First backoff; doubles each retry (with jitter), capped at 10 s. */
  retryDelayMs?: number;
  /** The longest one attempt (connect, answer and body) may take; default 30 s. */
  requestTimeoutMs?: number;
  /**
   * The longest every call of this client, retries included, may take together (`argocd.timeout`),
   * counted from the client's construction. Default: no overall limit beyond each attempt's.
   */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** The least time an attempt gets, even at the overall deadline. */
const MIN_ATTEMPT_MS = 1_000;

interface RuntimeError {
  error?: string;
  message?: string;
}

export class ArgoCdClient {
  private sessionToken: string | undefined;
  private readonly base: string;
  /** When every call must have ended (epoch ms), or undefined. */
  private readonly deadline: number | undefined;

  constructor(private readonly options: ArgoCdClientOptions) {
    this.base = options.server.replace(/\/+$/, '');
    this.deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
  }

  /** The Application; `refresh` asks Argo CD to compare with Git again first. */
  async getApplication(name: string, refresh?: 'normal' | 'hard'): Promise<ArgoApplication> {
    const query = new URLSearchParams();
    if (refresh) query.set('refresh', refresh);
    if (this.options.appNamespace) query.set('appNamespace', this.options.appNamespace);
    const body = await this.call('GET', `/api/v1/applications/${encodeURIComponent(name)}`, query, undefined, 'GET application');
    return argoApplication.parse(body ?? {});
  }

  /** Starts a sync to the Application's target revision. */
  async sync(name: string, options: { prune: boolean }): Promise<void> {
    const body: Record<string, unknown> = { name, prune: options.prune };
    if (this.options.appNamespace) body.appNamespace = this.options.appNamespace;
    await this.call('POST', `/api/v1/applications/${encodeURIComponent(name)}/sync`, new URLSearchParams(), body, 'POST sync');
  }

  private async authorization(): Promise<string | undefined> {
    if (this.options.token) return `Bearer ${this.options.token}`;
    if (this.options.username === undefined || this.options.password === undefined) return undefined;
    if (this.sessionToken === undefined) {
      const body = await this.request('POST', '/api/v1/session', new URLSearchParams(), {
        username: this.options.username,
        password: this.options.password,
      }, undefined, 'POST session');
      const token = (body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || token === '') throw new ArgoCdError('Argo CD answered the login without a token', 200, false);
      this.sessionToken = token;
    }
    return `Bearer ${this.sessionToken}`;
  }

  private async call(method: string, path: string, query: URLSearchParams, body: unknown, what: string): Promise<unknown> {
    try {
      return await this.request(method, path, query, body, await this.authorization(), what);
    } catch (error) {
      // A session token can expire during a long wait: log in again, once.
      if (error instanceof ArgoCdError && error.status === 401 && this.sessionToken !== undefined) {
        this.sessionToken = undefined;
        return this.request(method, path, query, body, await this.authorization(), what);
      }
      throw error;
    }
  }

  private async request(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
    authorization: string | undefined,
    what: string,
  ): Promise<unknown> {
    const attempts = this.options.maxAttempts ?? 5;
    const url = `${this.base}${path}${query.size > 0 ? `?${query.toString()}` : ''}`;
    const shown = `${method} ${stripCredentials(url)}`;
    for (let attempt = 1; ; attempt++) {
      const result = await this.once(method, url, body, authorization, what);
      if (result.ok) return result.body;
      const error = result.error;
      const delay = Math.min((this.options.retryDelayMs ?? 500) * 2 ** (attempt - 1), 10_000) * (0.75 + Math.random() / 2);
      // No retry that could not finish before the deadline: the error at hand says more than a cut-off one.
      const late = this.deadline !== undefined && Date.now() + delay >= this.deadline;
      if (!error.retryable || attempt >= attempts || this.options.signal.aborted || late) {
        if (error.retryable && attempt > 1) {
          throw new ArgoCdError(`${error.message} (gave up after ${attempt} attempts)`, error.status, true, { cause: error });
        }
        throw error;
      }
      this.options.onRetry?.(`${shown}: ${error.message}; retrying in ${(delay / 1000).toFixed(1)}s (attempt ${attempt + 1} of ${attempts})`);
      await sleep(delay, this.options.signal);
    }
  }

  private async once(
    method: string,
    url: string,
    body: unknown,
    authorization: string | undefined,
    what: string,
  ): Promise<{ ok: true; body: unknown } | { ok: false; error: ArgoCdError }> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (authorization) headers.Authorization = authorization;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    // This attempt's limit: its own, or what is left of the client's, whichever ends first.
    const own = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const left = this.deadline === undefined ? Infinity : this.deadline - Date.now();
    // At least a moment, though: the wait's last poll is made at its deadline and deserves an answer.
    const limitMs = Math.min(own, Math.max(left, MIN_ATTEMPT_MS));
    // Named as the setting that ran out: the overall timeout when it cut the attempt short.
    const limit = limitText(left <= own && this.options.timeoutMs !== undefined ? this.options.timeoutMs : own);
    const timer = AbortSignal.timeout(limitMs);
    const signal = AbortSignal.any([this.options.signal, timer]);
    const noAnswer = (error: unknown, part: string): { ok: false; error: ArgoCdError } => ({
      ok: false,
      error: new ArgoCdError(`argocd: ${part} from ${stripCredentials(url)} within ${limit} (${what})`, undefined, true, { cause: error }),
    });
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        redirect: 'error',
      });
    } catch (error) {
      if (this.options.signal.aborted) throw abortReason(this.options.signal);
      if (timer.aborted) return noAnswer(error, 'no answer');
      const why = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      return { ok: false, error: new ArgoCdError(`Argo CD at ${stripCredentials(this.base)} could not be reached: ${stripCredentials(why)}`, undefined, true, { cause: error }) };
    }
    let raw: string;
    try {
      // The same signal bounds the body: a server that sends headers and then stalls is no answer either.
      raw = await response.text();
    } catch (error) {
      if (this.options.signal.aborted) throw abortReason(this.options.signal);
      if (timer.aborted) return noAnswer(error, 'no complete answer');
      const why = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      return { ok: false, error: new ArgoCdError(`Argo CD at ${stripCredentials(this.base)} broke off its answer: ${stripCredentials(why)}`, undefined, true, { cause: error }) };
    }
    let parsed: unknown;
    try {
      parsed = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (response.ok) return { ok: true, body: parsed };
    const said = describeError(parsed, raw, response.statusText);
    const status = response.status;
    const retryable = status >= 500 || status === 429;
    const prefix =
      status === 401
        ? 'Argo CD refused the credentials (401)'
        : status === 403
          ? 'Argo CD denied access (403): the Application does not exist, or the account may not see it'
          : status === 404
            ? 'Argo CD has no such Application (404)'
            : `Argo CD answered ${status}`;
    return { ok: false, error: new ArgoCdError(said ? `${prefix}: ${said}` : prefix, status, retryable) };
  }
}

/** Argo CD's own words from a runtimeError body, else a short piece of the body. */
function describeError(parsed: unknown, raw: string, statusText: string): string {
  if (parsed && typeof parsed === 'object') {
    const e = parsed as RuntimeError;
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : typeof e.error === 'string' ? e.error : '';
    if (message !== '') return message;
  }
  const short = raw.replace(/\s+/g, ' ').trim().slice(0, 200);
  return short !== '' && !short.startsWith('<') ? short : statusText;
}
