import { ConflictError, GateBlocked, InputError, NotAllowedError, NotFoundError } from '../core/errors.js';
import { fetchFailure } from '../core/fetch-failure.js';
import type { PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import type { TokenView } from '../core/tokens.js';
import type { WhoAmI } from '../core/whoami.js';
import type { AuditCheck } from '../engine/audit-verify.js';
import type { DiffRequest, DiffResult } from '../engine/diff.js';
import type { DoraMetrics, DoraQuery } from '../engine/dora.js';
import type { FollowEnd } from '../engine/follow.js';
import type { CreateReleaseInput } from '../engine/promote.js';
import type { EnvironmentStatus } from '../engine/status.js';
import type { DriftReport } from '../core/drift.js';
import type { CreatedToken, NewToken } from '../engine/tokens.js';
import type { DeliveryFilter, EvidenceRecord, StepLogLine } from '../store/store.js';
import type { DeliveryView, SentNotifications } from '../engine/notifications.js';
import type {
  Backend,
  BackendOptions,
  DecisionRequest,
  PromoteRequest,
  ResumeRequest,
  RollbackRequest,
  RunHooks,
  TickOutcome,
  WaitHooks,
} from './backend.js';
import { ConnectionLost, EventSubscription } from './event-stream.js';
import { followRun, inRun, waitToEnd } from './remote-follow.js';

/** Where the server is and who the caller is: `--server`/LOCKSTEP_SERVER, LOCKSTEP_TOKEN, the project's name. */
export interface ServerConnection {
  /** The server's base URL, without credentials. */
  url: URL;
  /** LOCKSTEP_TOKEN, or the stored login's token (read, and refreshed, when the first request needs it). */
  token: string | (() => Promise<string>);
  /** The project's name; none: the one project the token is known in (GET /api/v1/whoami). */
  project?: string;
}

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
 * same failure, and the request field a 400 names becomes the flag it came from. A run the server
 * does is followed through the project's event stream, from before the request that starts it.
 */
export class HttpBackend implements Backend {
  private project: Promise<string> | undefined;

  constructor(
    private readonly connection: ServerConnection,
    private readonly options: BackendOptions,
  ) {}

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

  rejectRelease(ref: string, reason: string): Promise<{ release: ReleaseRecord; rejectedPromotions: PromotionRecord[] }> {
    // The engine's own check and message: the server's schema would name `body.reason` with its rule.
    if (reason.trim() === '') return Promise.reject(new InputError('release reject needs --reason: say what is wrong with it', '--reason'));
    return this.call('POST', `/releases/${encodeURIComponent(ref)}/reject`, undefined, { reason });
  }

  plan(ref: string, to: string): Promise<{ release: ReleaseRecord; plan: PromotionPlan }> {
    return this.call('GET', `/releases/${encodeURIComponent(ref)}/plan`, { to });
  }

  async status(environment?: string): Promise<EnvironmentStatus[]> {
    if (environment === undefined) return this.call('GET', '/environments');
    return [await this.call<EnvironmentStatus>('GET', `/environments/${encodeURIComponent(environment)}`)];
  }

  diff(request: DiffRequest): Promise<DiffResult> {
    return this.call('GET', '/diff', { left: request.left, right: request.right, ...(request.releases === true ? { releases: 'true' } : {}) });
  }

  metrics(query: DoraQuery): Promise<DoraMetrics> {
    return this.call('GET', '/dora', defined({ env: query.environment, component: query.component, since: query.since }));
  }

  async drift(query: { environment?: string; component?: string }): Promise<DriftReport[]> {
    const environments = query.environment !== undefined ? [query.environment] : (await this.status()).map((e) => e.environment);
    const body = query.component !== undefined ? { component: query.component } : {};
    const reports: DriftReport[] = [];
    for (const env of environments) reports.push(await this.call<DriftReport>('POST', `/environments/${encodeURIComponent(env)}/drift`, undefined, body));
    return reports;
  }

  promotions(query: { environment?: string; limit: number }): Promise<PromotionRecord[]> {
    return this.call('GET', '/promotions', { limit: String(query.limit), ...(query.environment !== undefined ? { env: query.environment } : {}) });
  }

  promotion(ref: string): Promise<{ promotion: PromotionRecord; steps: StepRecord[] }> {
    return this.call('GET', `/promotions/${encodeURIComponent(ref)}`);
  }

  stepHistory(query: { environment?: string; component?: string; limit: number }): Promise<StepRecord[]> {
    return this.call('GET', '/history', defined({ environment: query.environment, component: query.component, limit: String(query.limit) }));
  }

  logs(ref: string, component?: string): Promise<StepLogLine[]> {
    return this.call('GET', `/promotions/${encodeURIComponent(ref)}/logs`, defined({ component }));
  }

  verifyAudit(head?: string): Promise<AuditCheck> {
    return this.call('GET', '/audit/verify', defined({ head }));
  }

  async *exportAudit(): AsyncGenerator<Uint8Array> {
    const response = await this.send('GET', await this.projectPath('/audit/export'), { accept: 'application/x-ndjson' });
    if (!response.ok) throw await this.failure(response);
    if (response.body === null) return;
    // A page at a time, as the server sends it: a long log is never held whole here either.
    yield* response.body;
  }

  evidence(ref: string): Promise<EvidenceRecord> {
    return this.call('GET', `/promotions/${encodeURIComponent(ref)}/evidence`);
  }

  sendNotifications(): Promise<SentNotifications> {
    return Promise.reject(localNotify('send'));
  }

  testNotification(): Promise<DeliveryView> {
    return Promise.reject(localNotify('test'));
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
    checkConcurrency(request.concurrency);
    return this.following(async (events) => {
      const { promotion } = await this.call<{ promotion: PromotionRecord }>('POST', '/promotions', undefined, request);
      // As locally: the plan is shown once the promotion is recorded, whatever its gates say.
      hooks.onCreated(promotion, await this.planOf(promotion));
      return this.follow(events, promotion, await this.freshSteps(promotion), hooks);
    });
  }

  async waitToEnd(promotion: PromotionRecord, hooks: WaitHooks, signal: AbortSignal): Promise<{ promotion: PromotionRecord; end: FollowEnd }> {
    return this.following((events) => waitToEnd(events, this, promotion, hooks, this.options.observer, signal));
  }

  async decide(request: DecisionRequest, hooks: RunHooks): Promise<PromotionRecord> {
    // The server's schema refuses an empty rejection; the engine's message says what to do about it.
    if (request.reject && (request.comment?.trim() ?? '') === '') throw new InputError('a rejection needs --comment saying why', '--comment');
    const path = `/promotions/${encodeURIComponent(request.promotion)}/${request.reject ? 'reject' : 'approve'}`;
    return this.following(async (events) => {
      // The steps before the decision: an approval that completes the gates runs them, as events tell.
      const { steps } = await this.promotion(request.promotion);
      const { promotion } = await this.call<{ promotion: PromotionRecord }>('POST', path, undefined, request.comment !== undefined ? { comment: request.comment } : {});
      // As locally: the plan is shown when the approval starts the run (the plan as made again).
      if (promotion.state !== 'pending' && promotion.state !== 'rejected') hooks.onCreated(promotion, await this.planOf(promotion));
      return this.follow(events, promotion, steps, hooks);
    });
  }

  async resume(request: ResumeRequest, hooks: RunHooks): Promise<PromotionRecord[]> {
    const { promotion: ref, ...body } = request;
    if (ref === undefined) {
      if (request.retryStep.length + request.markDone.length > 0) throw new InputError('--retry-step and --mark-done need a PROMOTION', 'promotion');
      return this.resumeAll(hooks);
    }
    return this.following(async (events) => {
      const { steps } = await this.promotion(ref);
      const { promotion } = await this.call<{ promotion: PromotionRecord }>('POST', `/promotions/${encodeURIComponent(ref)}/resume`, undefined, body);
      return [await this.follow(events, promotion, steps, hooks)];
    });
  }

  /**
   * `resume` without a promotion, through a server: its worker resumes what a dead process left
   * running, so those are followed; interrupted ones are reported, as locally (a person decides).
   */
  private resumeAll(hooks: RunHooks): Promise<PromotionRecord[]> {
    return this.following(async (events) => {
      const open = await this.call<PromotionRecord[]>('GET', '/promotions', { state: 'running,rolling-back,interrupted', limit: '1000' });
      const results: PromotionRecord[] = [];
      for (const listed of open.reverse()) {
        const { promotion, steps } = await this.promotion(listed.id);
        results.push(await this.follow(events, promotion, steps, hooks));
      }
      return results;
    });
  }

  async rollback(request: RollbackRequest, hooks: RunHooks): Promise<PromotionRecord> {
    checkConcurrency(request.concurrency);
    return this.following(async (events) => {
      const path = `/environments/${encodeURIComponent(request.environment)}/rollback`;
      const { promotion } = await this.call<{ promotion: PromotionRecord }>('POST', path, undefined, { concurrency: request.concurrency, overrideWindow: request.overrideWindow });
      hooks.onCreated(promotion, await this.planOf(promotion));
      return this.follow(events, promotion, await this.freshSteps(promotion), hooks);
    });
  }

  tick(): Promise<TickOutcome> {
    // Running the engine here would act on this machine's files, not the server's state.
    const note = `the server at ${this.where()} does what tick does continuously (its background worker): nothing to do here`;
    return Promise.resolve({ kind: 'server', note });
  }

  async createToken(input: NewToken): Promise<CreatedToken> {
    const body = { name: input.name, for: input.for, role: input.role, environments: input.environments?.length ? input.environments : undefined, expires: input.expires };
    const { token, record } = await this.call<{ token: string; record: TokenView }>('POST', '/tokens', undefined, body);
    return { token, record };
  }

  listTokens(): Promise<TokenView[]> {
    return this.call('GET', '/tokens');
  }

  revokeToken(name: string): Promise<TokenView> {
    return this.call('DELETE', `/tokens/${encodeURIComponent(name)}`);
  }

  whoami(): Promise<WhoAmI> {
    return this.request('GET', '/api/v1/whoami');
  }

  async cancel(promotion: string, reason: string): Promise<PromotionRecord> {
    return (await this.call<{ promotion: PromotionRecord }>('POST', `/promotions/${encodeURIComponent(promotion)}/cancel`, undefined, { reason })).promotion;
  }

  private async planOf(promotion: PromotionRecord): Promise<{ plan: PromotionPlan; release: ReleaseRecord }> {
    const { release } = await this.release(promotion.releaseId);
    return { plan: promotion.plan, release };
  }

  /**
   * The steps of a promotion recorded just now, as they stood when it was: pending. Read after the
   * request, the record may be further on already; the events say how it got there, in order.
   */
  private async freshSteps(promotion: PromotionRecord): Promise<StepRecord[]> {
    if (!inRun(promotion)) return [];
    const { steps } = await this.promotion(promotion.id);
    return steps.map((s) => ({ ...s, state: 'pending', phase: undefined, startedAt: undefined, finishedAt: undefined, error: undefined }));
  }

  /** Follows a promotion that runs in the server to its end; one that is pending or ended is returned as it is. */
  private async follow(events: EventSubscription, promotion: PromotionRecord, steps: StepRecord[], hooks: RunHooks): Promise<PromotionRecord> {
    if (!inRun(promotion)) return promotion;
    hooks.onWatch(promotion);
    return followRun(events, this, promotion, steps, this.options.observer);
  }

  /**
   * Runs `fn` with the project's event stream open from now: what a request made in `fn` starts is
   * in it from its first event, whenever it is read.
   */
  private async following<T>(fn: (events: EventSubscription) => Promise<T>): Promise<T> {
    const path = await this.projectPath('/events');
    const events = new EventSubscription(async (lastEventId, signal) => {
      const response = await this.send('GET', path, {
        accept: 'text/event-stream',
        query: lastEventId === undefined ? { after: 'now' } : undefined,
        headers: lastEventId === undefined ? {} : { 'Last-Event-ID': lastEventId },
        signal,
      });
      if (!response.ok) throw await this.failure(response);
      if (response.body === null) throw new ConnectionLost('the event stream came without a body');
      return response.body;
    });
    await events.open();
    try {
      return await fn(events);
    } finally {
      events.close();
    }
  }

  /** The project's name: as given, else the one project whose store knows the token. */
  private projectName(): Promise<string> {
    this.project ??= this.connection.project !== undefined ? Promise.resolve(this.connection.project) : this.onlyProject();
    return this.project;
  }

  private async onlyProject(): Promise<string> {
    const { projects } = await this.whoami();
    const [only, ...more] = projects;
    if (only !== undefined && more.length === 0) return only.project;
    throw new InputError(
      `which project on the server? LOCKSTEP_TOKEN is known to ${projects.map((p) => p.project).join(', ')} there: set LOCKSTEP_PROJECT to one of them, or run where its lockstep.yaml is`,
      'LOCKSTEP_PROJECT',
    );
  }

  private async projectPath(path: string): Promise<string> {
    return `/api/v1/projects/${encodeURIComponent(await this.projectName())}${path}`;
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, query?: Record<string, string>, body?: unknown): Promise<T> {
    return this.request(method, await this.projectPath(path), query, body);
  }

  private async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, query?: Record<string, string>, body?: unknown): Promise<T> {
    const response = await this.send(method, path, { query, body, accept: 'application/json' });
    if (!response.ok) throw await this.failure(response);
    return (await this.json(response, method, path)) as T;
  }

  /** One request; a server that cannot be reached is a ConnectionLost naming it, never the token. */
  private async send(
    method: string,
    path: string,
    options: { query?: Record<string, string>; body?: unknown; accept: string; headers?: Record<string, string>; signal?: AbortSignal },
  ): Promise<Response> {
    const base = this.connection.url;
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}${path}`, base);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const token = typeof this.connection.token === 'string' ? this.connection.token : await this.connection.token();
    try {
      return await fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: options.accept,
          ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...options.headers,
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new ConnectionLost(`cannot reach the server at ${this.where()}: ${fetchFailure(error)}`);
    }
  }

  private async json(response: Response, method: string, path: string): Promise<unknown> {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`the server at ${this.connection.url.origin} answered ${method} ${path} with HTTP ${response.status} and no JSON: is it a Lockstep server?`);
    }
  }

  private async failure(response: Response): Promise<Error> {
    let body: ApiErrorBody = {};
    try {
      body = JSON.parse(await response.text()) as ApiErrorBody;
    } catch {
      // No JSON: the status says what there is to say.
    }
    // What was refused, in the words the person used: the variable, or their `lockstep login`.
    return apiError(response.status, body, typeof this.connection.token === 'string' ? 'LOCKSTEP_TOKEN' : 'your lockstep login');
  }

  private where(): string {
    const base = this.connection.url;
    return `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
  }
}

function checkConcurrency(concurrency: number): void {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError('--concurrency must be a whole number ≥ 1', '--concurrency');
}

/** The entries that have a value: an absent query parameter is left out, not sent empty. */
function defined(query: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) if (v !== undefined) out[k] = v;
  return out;
}

/** The API's error as the engine's error class, so the CLI's one catch prints it and exits as locally. */
function apiError(status: number, body: ApiErrorBody, credential: string): Error {
  const raw = typeof body.error?.message === 'string' ? body.error.message : `HTTP ${status}`;
  const field = typeof body.error?.field === 'string' ? body.error.field : undefined;
  const flag = field === undefined ? undefined : flagFor(field);
  // The schema's messages start with the field (`body.to: …`): the flag reads as the command was typed.
  const message = field !== undefined && flag !== undefined && raw.startsWith(`${field}:`) ? `${flag}${raw.slice(field.length)}` : raw;
  switch (status) {
    case 400:
    case 413:
    case 415:
      return new InputError(message, flag ?? field);
    case 401:
      return new NotAllowedError(`the server refused ${credential}: ${message}`);
    case 403:
      return new NotAllowedError(message);
    case 404:
      return new NotFoundError(message);
    case 409:
      return new ConflictError(message);
    case 422:
      return new GateBlocked(message, body.error?.waiting === true);
    case 503:
      // Draining (server.md#shutdown): nothing was done; the same request succeeds on another server or after the restart.
      if (body.error?.code === 'shutting-down') return new Error(message);
      return new Error(`the server failed: ${message}`);
    default:
      return new Error(status >= 500 ? `the server failed: ${message}` : message);
  }
}

/** Request fields whose flag is not the field in kebab case. */
const FLAGS: Readonly<Record<string, string>> = {
  // The commands' arguments (`lockstep promote RELEASE`), wherever the request carries them.
  release: 'release',
  promotion: 'promotion',
  // `lockstep diff LEFT RIGHT`: the arguments.
  left: 'left',
  right: 'right',
  environment: '--env',
  env: '--env',
  environments: '--env',
  labels: '--label',
  overrideWindow: '--override-window',
  'overrideWindow.reason': '--reason',
};

/**
 * The flag (or argument) a request field came from, as the CLI names it: `body.to` → `--to`,
 * `body.retryStep.0` → `--retry-step`, `body.overrideWindow.reason` → `--reason`,
 * `params.promotion` → `promotion`. Undefined for what no flag gives (`body`, a header).
 */
export function flagFor(field: string): string | undefined {
  const [place, ...path] = field.split('.');
  const names = path.filter((p) => !/^\d+$/.test(p));
  const first = names[0];
  if (first === undefined || (place !== 'body' && place !== 'query' && place !== 'params')) return undefined;
  const two = names.slice(0, 2).join('.');
  if (Object.hasOwn(FLAGS, two)) return FLAGS[two];
  if (Object.hasOwn(FLAGS, first)) return FLAGS[first];
  // A path parameter is the command's argument (`lockstep approve PROMOTION`), not a flag.
  if (place === 'params') return first;
  return `--${first.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** notify send|test act on a project's own outbox; a server sends its own, by itself. */
function localNotify(what: 'send' | 'test'): InputError {
  return new InputError(
    `lockstep notify ${what} works on a project's own files (unset LOCKSTEP_SERVER, or leave out --server, where the project is): a server sends its notifications by itself; lockstep notify log shows how they went`,
    '--server',
  );
}
