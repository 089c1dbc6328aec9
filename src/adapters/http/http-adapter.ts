import type { Adapter, AdapterPlan, Outputs, StepContext } from '../../core/adapter.js';
import { limitText, parseDuration } from '../../core/duration.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { holdsUnknown } from '../../core/plan.js';
import { evaluate, ExpressionError, parseExpression, truthy } from '../../core/expression/index.js';
import type { EvalScope } from '../../core/expression/index.js';
import { httpSpec, RESPONSE_ROOTS } from './http-spec.js';
import type { HttpSpec } from './http-spec.js';
import { renderUrlTemplate } from './url-template.js';

/**
 * The `http` component type: trigger a job elsewhere (a CI pipeline, a vendor's deploy API) with one
 * request and, optionally, poll a status URL until an expression over its JSON says success or failure.
 *
 * Retries: polls are reads, so 5xx, 429 and network errors are retried with backoff until the poll
 * timeout. The trigger is not idempotent in general (a second POST may start a second job), so it is
 * retried only when the connection failed before anything was sent, unless `request.idempotent`.
 * Header values are never logged (they carry tokens); response bodies are never logged either.
 */
export const httpAdapter: Adapter<HttpSpec> = {
  type: 'http',
  description:
    'Triggers a job over HTTP (a CI pipeline, a platform API) and polls its status URL until an expression over the JSON response says success or failure.',
  spec: httpSpec,
  // The poll URL reads the trigger's response: `${{ response.id }}` there is ours to render.
  lateBound: { fields: [['poll', 'url']], roots: RESPONSE_ROOTS },

  capabilities(spec) {
    return { reversible: false, idempotentApply: spec.request.idempotent, observe: false };
  },

  plan(spec, ctx): Promise<AdapterPlan> {
    // Read-only: nothing is sent at plan time, so a URL holding a value known only after its producer
    // applies is shown as it stands.
    const trigger = `${spec.request.method} ${spec.request.url}`;
    const summary = spec.poll === undefined ? trigger : `${trigger}, then poll until ${spec.poll.success}`;
    const details = planDetails(spec, ctx);
    return Promise.resolve({ summary, ...(details.length === 0 ? {} : { details: details.join('\n') }), risk: 'low' });
  },

  async apply(spec, _plan, ctx): Promise<Outputs> {
    throwIfAborted(ctx.signal);
    const trigger = await send(spec, ctx);
    let last = trigger;
    if (spec.poll !== undefined) last = await poll(spec, spec.poll, trigger, ctx);
    return pickOutputs(spec, last, trigger);
  },
};

/**
 * What the request carries beyond its method and URL: header names (their values carry tokens, so a
 * value is never shown, only whether it holds a value known after apply), the body as JSON with
 * values from secrets or sensitive outputs named as such, and the poll.
 */
function planDetails(spec: HttpSpec, ctx: StepContext): string[] {
  const lines: string[] = [];
  const names = Object.entries(spec.request.headers).map(([name, value]) => (holdsUnknown(value) ? `${name} (holds a value known after apply)` : name));
  if (names.length > 0) lines.push(`headers: ${names.join(', ')}`);
  if (spec.request.body !== undefined) lines.push(`body: ${JSON.stringify(hideSensitive(spec.request.body, ctx.isSensitive))}`);
  if (spec.poll !== undefined) {
    lines.push(`poll: GET ${spec.poll.url} every ${spec.poll.interval}, at most ${spec.poll.timeout}`);
  }
  return lines;
}

/** `value` with every string that came from a secret or a sensitive output replaced by `(sensitive)`. */
function hideSensitive(value: unknown, isSensitive: (text: string) => boolean): unknown {
  if (typeof value === 'string') return isSensitive(value) ? '(sensitive)' : value;
  if (Array.isArray(value)) return value.map((item) => hideSensitive(item, isSensitive));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, hideSensitive(item, isSensitive)]));
  }
  return value;
}

/** A response as expressions see it: `response` is the JSON body (or the text when it is not JSON). */
interface Reply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Base of the backoff between retries; doubles each time up to MAX_BACKOFF_MS. */
const RETRY_BASE_MS = 500;
const MAX_BACKOFF_MS = 60_000;
const TRIGGER_ATTEMPTS = 5;
/** How often waits wake to heartbeat. */
const HEARTBEAT_MS = 2_000;

/** Errors from fetch that mean the request never reached the server: safe to retry even a POST. */
const NOT_SENT_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];

type Attempt =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'network'; error: unknown; notSent: boolean }
  /** The attempt ran out of its time: no answer, or (`headers`) the status and headers but no complete body. */
  | { kind: 'timeout'; limitMs: number; headers: boolean };

/** The least time a poll made at the deadline gets to answer. */
const MIN_ATTEMPT_MS = 1_000;

async function send(spec: HttpSpec, ctx: StepContext): Promise<Reply> {
  const { request } = spec;
  const timeoutMs = durationMs(request.timeout);
  const headers: Record<string, string> = { accept: 'application/json', ...lowerKeys(request.headers) };
  let body: string | undefined;
  if (request.body !== undefined) {
    body = JSON.stringify(request.body);
    headers['content-type'] ??= 'application/json';
  }
  if (request.idempotencyHeader !== undefined) headers[request.idempotencyHeader.toLowerCase()] = ctx.idempotencyKey;
  const label = `${request.method} ${request.url}`;
  for (let attempt = 1; ; attempt++) {
    const result = await attemptFetch(request.url, { method: request.method, headers, body }, timeoutMs, ctx);
    if (result.kind === 'reply') {
      const { reply } = result;
      ctx.log(`${label} → ${reply.status}`);
      if (reply.status >= 200 && reply.status < 300) return reply;
      const transient = reply.status >= 500 || reply.status === 429;
      if (transient && request.idempotent && attempt < TRIGGER_ATTEMPTS) {
        await wait(backoff(attempt, reply), ctx);
        continue;
      }
      throw new StepFailure(
        `request: ${label} answered ${reply.status}${transient && !request.idempotent ? ' (not retried: the request may have started something; set request.idempotent if repeating it is safe)' : ''}`,
        false,
        { untouched: !transient && reply.status !== 409 },
      );
    }
    const why = attemptReason(result);
    const notSent = result.kind === 'network' && result.notSent;
    const retry = (notSent || request.idempotent) && attempt < TRIGGER_ATTEMPTS;
    ctx.log(`${label} failed: ${why}${retry ? `; retrying (attempt ${attempt + 1} of ${TRIGGER_ATTEMPTS})` : ''}`);
    if (retry) {
      await wait(backoff(attempt), ctx);
      continue;
    }
    if (result.kind === 'timeout') {
      // Not retryable: the server may have started the job before it stalled.
      throw new StepFailure(`http: ${timeoutText(result, request.url)} (${request.method} request)`, false);
    }
    throw new StepFailure(`request: ${label} failed: ${why}`, result.notSent, {
      cause: result.error,
      untouched: result.notSent,
    });
  }
}

async function poll(
  spec: HttpSpec,
  poll: NonNullable<HttpSpec['poll']>,
  trigger: Reply,
  ctx: StepContext,
): Promise<Reply> {
  let url: string;
  try {
    url = renderUrlTemplate(poll.url, scopeOf(trigger, trigger));
  } catch (error) {
    if (error instanceof ExpressionError)
      throw new StepFailure(`poll.url: ${error.message} in the trigger's response`, false, { cause: error });
    throw error;
  }
  if (!/^https?:\/\/\S+$/.test(url))
    throw new StepFailure(`poll.url: the trigger's response gave no http(s) URL`, false);
  const headers = { accept: 'application/json', ...lowerKeys(poll.headers ?? spec.request.headers) };
  const intervalMs = durationMs(poll.interval);
  // Each poll may take as long as the trigger may (request.timeout).
  const requestTimeoutMs = durationMs(spec.request.timeout);
  const deadline = Date.now() + durationMs(poll.timeout);
  const success = parseExpression(poll.success);
  const failure = poll.failure === undefined ? undefined : parseExpression(poll.failure);
  let failures = 0;
  let lastStatus = 'no answer yet';
  for (let count = 1; ; count++) {
    // A poll never outlasts poll.timeout by more than a moment, whatever request.timeout says.
    const limitMs = Math.min(requestTimeoutMs, Math.max(deadline - Date.now(), MIN_ATTEMPT_MS));
    const result = await attemptFetch(url, { method: 'GET', headers }, limitMs, ctx);
    let delay = intervalMs;
    if (result.kind !== 'reply') {
      failures++;
      lastStatus = result.kind === 'timeout' ? timeoutText(result, url) : attemptReason(result);
      ctx.log(`poll ${count}: GET ${url} failed: ${attemptReason(result)}; retrying`);
      delay = backoff(failures);
    } else if (result.reply.status >= 500 || result.reply.status === 429) {
      failures++;
      lastStatus = `HTTP ${result.reply.status}`;
      ctx.log(`poll ${count}: GET ${url} → ${result.reply.status}; retrying`);
      delay = backoff(failures, result.reply);
    } else if (result.reply.status < 200 || result.reply.status >= 300) {
      throw new StepFailure(`poll: GET ${url} answered ${result.reply.status}`, false);
    } else {
      failures = 0;
      const reply = result.reply;
      const scope = scopeOf(reply, trigger);
      if (failure !== undefined && truthy(check(failure, scope, 'poll.failure'))) {
        throw new StepFailure(`poll: the job failed (poll.failure is true: ${poll.failure})`, false);
      }
      if (truthy(check(success, scope, 'poll.success'))) {
        ctx.log(`poll ${count}: done (poll.success is true)`);
        return reply;
      }
      lastStatus = 'running';
      ctx.log(`poll ${count}: GET ${url} → ${reply.status}, not finished`);
    }
    if (Date.now() >= deadline) {
      throw new StepFailure(`poll: not finished after ${poll.timeout} (last: ${lastStatus})`, false);
    }
    // The last wait is cut short so one more poll happens at the deadline.
    await wait(Math.min(delay, deadline - Date.now()), ctx);
  }
}

function check(expr: ReturnType<typeof parseExpression>, scope: EvalScope, field: string): unknown {
  try {
    return evaluate(expr, scope);
  } catch (error) {
    if (error instanceof ExpressionError) throw new StepFailure(`${field}: ${error.message}`, false, { cause: error });
    throw error;
  }
}

function pickOutputs(spec: HttpSpec, last: Reply, trigger: Reply): Outputs {
  const scope = scopeOf(last, trigger);
  const outputs: Outputs = {};
  for (const [name, source] of Object.entries(spec.outputs)) {
    const value = check(parseExpression(source), scope, `outputs.${name}`);
    // A missing field is left out, so the engine reports it as declared but not produced.
    if (value !== undefined) outputs[name] = value;
  }
  return outputs;
}

function scopeOf(reply: Reply, trigger: Reply): EvalScope {
  return {
    values: {
      response: reply.body,
      status: reply.status,
      headers: reply.headers,
      trigger: { response: trigger.body, status: trigger.status, headers: trigger.headers },
    },
    // The spec refuses `secrets` in these expressions; nothing is looked up.
    secret: () => undefined,
  };
}

async function attemptFetch(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  timeoutMs: number,
  ctx: StepContext,
): Promise<Attempt> {
  throwIfAborted(ctx.signal);
  // One limit for the whole exchange, body included: headers followed by a stalled body time out too.
  const timer = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([ctx.signal, timer]);
  const beat = setInterval(ctx.heartbeat, HEARTBEAT_MS);
  let answered = false;
  try {
    const response = await fetch(url, { ...init, signal, redirect: 'follow' });
    answered = true;
    const text = await response.text();
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { kind: 'reply', reply: { status: response.status, headers, body: parseBody(text) } };
  } catch (error) {
    throwIfAborted(ctx.signal);
    if (timer.aborted) return { kind: 'timeout', limitMs: timeoutMs, headers: answered };
    return { kind: 'network', error, notSent: NOT_SENT_CODES.includes(errorCode(error) ?? '') };
  } finally {
    clearInterval(beat);
    ctx.heartbeat();
  }
}

function parseBody(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function errorCode(error: unknown): string | undefined {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  const own = (error as { code?: unknown } | null)?.code;
  return typeof own === 'string' ? own : undefined;
}

/** Why an attempt got no reply, for the step log. */
function attemptReason(attempt: Exclude<Attempt, { kind: 'reply' }>): string {
  if (attempt.kind === 'timeout') return `${attempt.headers ? 'no complete answer' : 'no answer'} within ${limitText(attempt.limitMs)}`;
  return networkReason(attempt.error);
}

/** "no answer from URL within 30s": what was waited for, from whom, and how long. */
function timeoutText(attempt: { limitMs: number; headers: boolean }, url: string): string {
  return `${attempt.headers ? 'no complete answer' : 'no answer'} from ${url} within ${limitText(attempt.limitMs)}`;
}

function networkReason(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  const code = errorCode(error);
  return code ?? errorMessage(error);
}

/** Exponential backoff with jitter; a 429's or 503's Retry-After (seconds) wins when longer. */
function backoff(attempt: number, reply?: Reply): number {
  const exponential = Math.min(MAX_BACKOFF_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  const jittered = exponential / 2 + Math.random() * (exponential / 2);
  const retryAfter = Number(reply?.headers['retry-after']);
  return Number.isFinite(retryAfter) && retryAfter > 0
    ? Math.max(jittered, Math.min(retryAfter * 1000, MAX_BACKOFF_MS))
    : jittered;
}

/** Sleeps, heartbeating, and stops at once when the step is cancelled. */
async function wait(ms: number, ctx: StepContext): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    throwIfAborted(ctx.signal);
    ctx.heartbeat();
    const step = Math.min(HEARTBEAT_MS, until - Date.now());
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, step);
      function done(): void {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', done);
        resolve();
      }
      ctx.signal.addEventListener('abort', done, { once: true });
    });
  }
  throwIfAborted(ctx.signal);
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`${text} is not a duration: the spec was not parsed`);
  return ms;
}

function throwIfAborted(signal: AbortSignal): void {
  if (!signal.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof Error ? reason : new StepFailure('http: cancelled', false, { cause: reason });
}
