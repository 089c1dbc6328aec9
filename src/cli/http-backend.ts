import { ConflictError, GateBlocked, InputError, NotAllowedError, NotFoundError } from '../core/errors.js';
import type { PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import type { AuditCheck } from '../engine/audit-verify.js';
import type { EngineDeps } from '../engine/deps.js';
import type { CreateReleaseInput } from '../engine/promote.js';
import type { EnvironmentStatus } from '../engine/status.js';
import type { DeliveryFilter, StepLogLine } from '../store/store.js';
import type { DeliveryView } from '../engine/notifications.js';
import type { Backend, BackendOptions, DecisionRequest, PromoteRequest, RunHooks } from './backend.js';

/** Where the server is and who the caller is: `--server`/LOCKSTEP_SERVER, LOCKSTEP_TOKEN, the project's name. */
export interface ServerConnection {
  /** The server's base URL, without credentials. */
  url: URL;
  /** LOCKSTEP_TOKEN, or the stored login's token (read, and refreshed, when the first request needs it). */
  token: string | (() => Promise<string>);
  project: string;
}

/** How often a followed promotion is read again (until the event stream replaces polling). */
const POLL_MS = 250;

/** The error body of the API (src/server/errors.ts). */
interface ApiErrorBody {
  error?: { code?: unknown; message?: unknown; field?: unknown; waiting?: unknown };
}

/**
 * The server's URL as given, checked: http or https, no user name or password in it (the token is
 * the credential, and a URL is printed in messages). The message shows the URL without them.
 */
export function serverUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError('--server (or LOCKSTEP_SERVER) takes the server\'s URL, like http://127.0.0.1:8417', '--server');
  }
  if (url.username !== '' || url.password !== '') {
    url.username = '';
    url.password = '';
    throw new InputError(`--server: ${url.origin}${url.pathname} carries a user name or password in its URL: leave them out; the credential is LOCKSTEP_TOKEN`, '--server');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InputError(`--server: ${url.protocol} is not a scheme the server speaks: use http:// or https://`, '--server');
  url.search = '';
  url.hash = '';
  return url;
}

/** The token from LOCKSTEP_TOKEN, checked before it is sent. Messages never hold it. */
export function serverToken(env: NodeJS.ProcessEnv): string {
  const token = env.LOCKSTEP_TOKEN?.trim() ?? '';
  if (token === '') throw new InputError('talking to a server needs a token: set LOCKSTEP_TOKEN (lockstep token create makes one)', 'LOCKSTEP_TOKEN');
  // What an HTTP header can carry: a token with a space or a control character would be refused by
  // fetch with a message quoting it.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new InputError('LOCKSTEP_TOKEN holds spaces or control characters: it is not a token', 'LOCKSTEP_TOKEN');
  return token;
}

/**
 * The team server's HTTP API (docs/server.md) behind the Backend interface. The API's errors become
 * the engine's error classes with the server's message, which is the message the CLI prints for the
 * same failure. A promotion the server runs is followed by reading it until it ends.
 */
export class HttpBackend implements Backend {
  constructor(
    private readonly connection: ServerConnection,
    private readonly options: BackendOptions,
  ) {}

  engine(feature?: string): Promise<EngineDeps> {
    const what = feature === undefined ? this.options.command : `${this.options.command} ${feature}`;
    return Promise.reject(new InputError(`lockstep ${what} is not available through the server yet (unset LOCKSTEP_SERVER, or leave out --server, to run it here)`, '--server'));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async createRelease(input: CreateReleaseInput): Promise<{ release: ReleaseRecord; created: boolean }> {
    return this.call('POST', '/releases', undefined, { set: input.set ?? [], from: input.from, message: input.message, labels: input.labels });
  }

  listReleases(limit: number): Promise<ReleaseRecord[]> {
    return this.call('GET', '/releases', { limit: String(limit) });
  }

  release(ref: string): Promise<{ release: ReleaseRecord; promotions: PromotionRecord[] }> {
    return this.call('GET', `/releases/${encodeURIComponent(ref)}`);
  }

  plan(ref: string, to: string): Promise<{ release: ReleaseRecord; plan: PromotionPlan }> {
    return this.call('GET', `/releases/${encodeURIComponent(ref)}/plan`, { to });
  }

  async status(environment?: string): Promise<EnvironmentStatus[]> {
    if (environment === undefined) return this.call('GET', '/environments');
    return [await this.call<EnvironmentStatus>('GET', `/environments/${encodeURIComponent(environment)}`)];
  }

  promotions(query: { environment?: string; limit: number }): Promise<PromotionRecord[]> {
    return this.call('GET', '/promotions', { limit: String(query.limit), ...(query.environment !== undefined ? { env: query.environment } : {}) });
  }

  promotion(ref: string): Promise<{ promotion: PromotionRecord; steps: StepRecord[] }> {
    return this.call('GET', `/promotions/${encodeURIComponent(ref)}`);
  }

  logs(ref: string, component?: string): Promise<StepLogLine[]> {
    return this.call('GET', `/promotions/${encodeURIComponent(ref)}/logs`, component !== undefined ? { component } : undefined);
  }

  verifyAudit(head?: string): Promise<AuditCheck> {
    return this.call('GET', '/audit/verify', head !== undefined ? { head } : undefined);
  }

  deliveries(filter: DeliveryFilter): Promise<DeliveryView[]> {
    const query: Record<string, string> = {};
    if (filter.target !== undefined) query.target = filter.target;
    if (filter.status !== undefined) query.status = filter.status;
    if (filter.limit !== undefined) query.limit = String(filter.limit);
    return this.call('GET', '/notify/deliveries', query);
  }

  async promote(request: PromoteRequest, hooks: RunHooks): Promise<PromotionRecord> {
    // The engine's own check and message: the server's schema would name `body.concurrency` instead of the flag.
    if (!Number.isInteger(request.concurrency) || request.concurrency < 1) throw new InputError('--concurrency must be a whole number ≥ 1', '--concurrency');
    const { promotion } = await this.call<{ promotion: PromotionRecord }>('POST', '/promotions', undefined, request);
    // As locally: the plan is shown once the promotion is recorded, whatever its gates say.
    hooks.onCreated(promotion, await this.planOf(promotion));
    return this.follow(promotion, hooks);
  }

  async decide(request: DecisionRequest, hooks: RunHooks): Promise<PromotionRecord> {
    const path = `/promotions/${encodeURIComponent(request.promotion)}/${request.reject ? 'reject' : 'approve'}`;
    // The server's schema refuses an empty rejection; the engine's message says what to do about it.
    if (request.reject && (request.comment?.trim() ?? '') === '') throw new InputError('a rejection needs --comment saying why', '--comment');
    const { promotion } = await this.call<{ promotion: PromotionRecord }>('POST', path, undefined, request.comment !== undefined ? { comment: request.comment } : {});
    // As locally: the plan is shown when the approval starts the run (the plan as made again).
    if (promotion.state !== 'pending' && promotion.state !== 'rejected') hooks.onCreated(promotion, await this.planOf(promotion));
    return this.follow(promotion, hooks);
  }

  async cancel(promotion: string, reason: string): Promise<PromotionRecord> {
    return (await this.call<{ promotion: PromotionRecord }>('POST', `/promotions/${encodeURIComponent(promotion)}/cancel`, undefined, { reason })).promotion;
  }

  private async planOf(promotion: PromotionRecord): Promise<{ plan: PromotionPlan; release: ReleaseRecord }> {
    const { release } = await this.release(promotion.releaseId);
    return { plan: promotion.plan, release };
  }

  /**
   * Reads the promotion until it ends (or is pending, or needs a decision), telling the observer of
   * every step change and log line as the engine tells it locally.
   */
  private async follow(started: PromotionRecord, hooks: RunHooks): Promise<PromotionRecord> {
    if (!following(started)) return started;
    hooks.onWatch(started);
    const observer = this.options.observer;
    const seen = new Map<string, string>();
    let lines = 0;
    let state = started.state;
    for (;;) {
      const { promotion, steps } = await this.promotion(started.id);
      const logs = await this.logs(started.id);
      for (const line of logs.slice(lines)) observer?.log?.(line.component, line.line);
      lines = Math.max(lines, logs.length);
      for (const step of steps) {
        const key = `${step.state}/${step.phase ?? ''}`;
        if (seen.get(step.component) !== key) observer?.step?.(step);
        seen.set(step.component, key);
      }
      if (promotion.state !== state) observer?.promotion?.(promotion);
      state = promotion.state;
      if (!following(promotion)) return promotion;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  private async call<T>(method: 'GET' | 'POST', path: string, query?: Record<string, string>, body?: unknown): Promise<T> {
    const { url: base, project } = this.connection;
    const token = typeof this.connection.token === 'string' ? this.connection.token : await this.connection.token();
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}/api/v1/projects/${encodeURIComponent(project)}${path}`, base);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new Error(`cannot reach the server at ${base.origin}${base.pathname.replace(/\/+$/, '')}: ${reachProblem(error)}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`the server at ${base.origin} answered ${method} ${url.pathname} with HTTP ${response.status} and no JSON: is it a Lockstep server?`);
    }
    if (response.ok) return parsed as T;
    throw apiError(response.status, parsed as ApiErrorBody);
  }
}

/** Pending and rejected promotions are reported as they stand; running ones are followed to their end. */
function following(p: PromotionRecord): boolean {
  return p.state === 'running' || p.state === 'rolling-back';
}

/** The API's error as the engine's error class, so the CLI's one catch prints it and exits as locally. */
function apiError(status: number, body: ApiErrorBody): Error {
  const message = typeof body.error?.message === 'string' ? body.error.message : `HTTP ${status}`;
  const field = typeof body.error?.field === 'string' ? body.error.field : undefined;
  switch (status) {
    case 400:
    case 413:
    case 415:
      return new InputError(message, field);
    case 401:
      return new NotAllowedError(`the server refused the credentials (LOCKSTEP_TOKEN, or the login of lockstep login): ${message}`);
    case 403:
      return new NotAllowedError(message);
    case 404:
      return new NotFoundError(message);
    case 409:
      return new ConflictError(message);
    case 422:
      return new GateBlocked(message, body.error?.waiting === true);
    default:
      return new Error(status >= 500 ? `the server failed: ${message}` : message);
  }
}

/** Why a request did not reach the server, in a few words (Node's fetch hides it in `cause`). */
function reachProblem(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message;
  return error instanceof Error ? error.message : String(error);
}
