import { randomUUID } from 'node:crypto';
import { errorMessage } from '../core/errors.js';
import { renderTemplates, isTemplate } from '../core/expression/index.js';
import type { NotifyTargetConfig } from '../core/notify/notify-events.js';
import { Redactor } from '../core/redact.js';
import { postWebhook, type WebhookResult } from '../notify/webhook.js';
import type { AttemptOutcome, DeliveryRecord } from '../store/store.js';
import type { EngineDeps } from './deps.js';

export interface RetryPolicy {
  /** The wait after the first failed attempt; it doubles after each further one. */
  baseMs: number;
  /** The longest wait between two attempts. */
  capMs: number;
  /** A delivery still failing this long after it was queued is given up (`failed`), and the next one goes. */
  giveUpAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1_000, capMs: 5 * 60_000, giveUpAfterMs: 24 * 3_600_000 };
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000;

export interface DispatchOptions {
  /** How long one request may take (default 10 s). */
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Aborts requests in flight (a shutdown); their deliveries stay pending and go out later. */
  signal?: AbortSignal;
  /** No attempt starts after this time (ms since the epoch): how the CLI bounds its flush. */
  deadline?: number;
  /** Try pending deliveries now, whatever their backoff says (`lockstep notify send`: a person asks). */
  ignoreBackoff?: boolean;
  /** One line per failed attempt, for the server log. Secrets are redacted. */
  log?(line: string): void;
}

export interface DispatchResult {
  delivered: number;
  /** Given up: refused by the receiver, or failing for longer than giveUpAfterMs. */
  failed: number;
  /** Attempts that failed and will be made again. */
  retrying: number;
  /** The soonest time a pending head of line may be tried again, if one waits. */
  nextAttemptAt?: string;
}

/**
 * Sends what is due, per target head of line: a target's deliveries go in the order they were
 * queued, and one that fails holds the ones after it until it is delivered or given up. Targets do
 * not wait for each other. Each attempt is claimed in the store first (two processes never send one
 * delivery at once) and recorded after, with the HTTP status or the reason, secrets redacted. A
 * delivery a receiver acknowledged (2xx) is never sent again; one whose outcome is unknown (no
 * answer in time, a crash before the record) is, with the same X-Lockstep-Delivery id.
 */
export async function deliverDue(deps: Pick<EngineDeps, 'store' | 'loaded' | 'secrets' | 'clock'>, options: DispatchOptions = {}): Promise<DispatchResult> {
  const result: DispatchResult = { delivered: 0, failed: 0, retrying: 0 };
  const targets = deps.loaded.config.notify ?? [];
  for (const one of await Promise.all(targets.map((target) => deliverTarget(deps, target, options)))) {
    result.delivered += one.delivered;
    result.failed += one.failed;
    result.retrying += one.retrying;
    if (one.nextAttemptAt !== undefined) soonest(result, one.nextAttemptAt);
  }
  return result;
}

/** deliverDue for one target: what the server's notifier runs per target, so that targets never wait for each other. */
export async function deliverTarget(
  deps: Pick<EngineDeps, 'store' | 'secrets' | 'clock'>,
  target: NotifyTargetConfig,
  options: DispatchOptions = {},
): Promise<DispatchResult> {
  const result: DispatchResult = { delivered: 0, failed: 0, retrying: 0 };
  await deliverHeads(deps, target, options, result);
  return result;
}

async function deliverHeads(
  deps: Pick<EngineDeps, 'store' | 'secrets' | 'clock'>,
  target: NotifyTargetConfig,
  options: DispatchOptions,
  result: DispatchResult,
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
  const retry = options.retry ?? DEFAULT_RETRY;
  for (;;) {
    if (options.signal?.aborted === true) return;
    const now = deps.clock.now();
    if (options.deadline !== undefined && now.getTime() >= options.deadline) return;
    const head = await deps.store.nextDelivery(target.name);
    if (head === undefined) return;
    if (head.nextAttemptAt > now.toISOString() && options.ignoreBackoff !== true) {
      soonest(result, head.nextAttemptAt);
      return;
    }
    const token = randomUUID();
    // The claim outlasts the request, so no other process sends it while this one waits for an answer.
    const until = new Date(now.getTime() + timeoutMs + 30_000).toISOString();
    if (!(await deps.store.claimDelivery(head.id, { token, until, now: now.toISOString() }))) return;
    const started = Date.now();
    const redactor = new Redactor();
    const sent = await attempt(deps, target, head, redactor, timeoutMs, options.signal);
    const at = deps.clock.now();
    const base = { at: at.toISOString(), durationMs: Date.now() - started };
    let outcome: AttemptOutcome;
    if (sent.ok) {
      outcome = { status: 'delivered', attempt: { ...base, httpStatus: sent.status } };
    } else {
      const error = redactor.redact(sent.error);
      const attemptRecord = { ...base, error, ...(sent.status === undefined ? {} : { httpStatus: sent.status }) };
      const expired = at.getTime() - Date.parse(head.createdAt) >= retry.giveUpAfterMs;
      let next: string;
      if (!sent.retryable || expired) {
        outcome = { status: 'failed', attempt: attemptRecord };
        next = sent.retryable ? 'given up: failing for too long' : 'given up: the receiver refused it';
      } else {
        const wait = Math.min(retry.capMs, retry.baseMs * 2 ** Math.min(head.attempts, 30));
        const nextAttemptAt = new Date(at.getTime() + wait).toISOString();
        outcome = { status: 'pending', nextAttemptAt, attempt: attemptRecord };
        next = `tried again at ${nextAttemptAt}`;
      }
      options.log?.(`notify ${target.name}: delivery ${head.deliveryId} (${head.event}), attempt ${head.attempts + 1}: ${error}; ${next}`);
    }
    // A claim lost meanwhile (it ran out, another process took it): that process records the delivery.
    if (!(await deps.store.finishAttempt(head.id, token, outcome))) return;
    if (outcome.status === 'pending') {
      result.retrying++;
      soonest(result, outcome.nextAttemptAt);
      return;
    }
    if (outcome.status === 'delivered') result.delivered++;
    else result.failed++;
  }
}

/** Renders the target's URL, headers and secret (adding every secret to `redactor`), then posts. */
async function attempt(
  deps: Pick<EngineDeps, 'secrets'>,
  target: NotifyTargetConfig,
  delivery: DeliveryRecord,
  redactor: Redactor,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<WebhookResult> {
  let rendered: { url: string; headers: Record<string, string>; secret?: string };
  try {
    rendered = renderTarget(target, (name) => deps.secrets.get(name), redactor);
  } catch (error) {
    // A secret that is not set (yet): kept pending, tried again once it may be.
    return { ok: false, error: `cannot make the request: ${errorMessage(error)}`, retryable: true };
  }
  return postWebhook({
    url: rendered.url,
    body: delivery.body,
    contentType: delivery.contentType,
    deliveryId: delivery.deliveryId,
    event: delivery.cloudEventType ?? delivery.event,
    headers: rendered.headers,
    timeoutMs,
    ...(rendered.secret === undefined ? {} : { secret: rendered.secret }),
    ...(signal === undefined ? {} : { signal }),
  });
}

/** The target with its `${{ secrets.NAME }}` filled in; everything secret is in `redactor` afterwards. */
export function renderTarget(
  target: Pick<NotifyTargetConfig, 'name' | 'url' | 'headers' | 'secret'>,
  secret: (name: string) => string | undefined,
  redactor: Redactor,
): { url: string; headers: Record<string, string>; secret?: string } {
  const scope = { values: {}, secret, redactor };
  const text = (value: string, field: string): string => String(renderTemplates(value, scope, { path: ['notify', target.name, field] }));
  const url = text(target.url, 'url');
  // A URL with a secret in it is a secret as a whole: its other parts would tell where to send.
  if (isTemplate(target.url)) redactor.add(url);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(target.headers)) {
    headers[name] = text(value, `headers.${name}`);
    if (isTemplate(value)) redactor.add(headers[name]);
  }
  const key = target.secret === undefined ? undefined : text(target.secret, 'secret');
  return key === undefined ? { url, headers } : { url, headers, secret: key };
}

function soonest(result: DispatchResult, at: string): void {
  if (result.nextAttemptAt === undefined || at < result.nextAttemptAt) result.nextAttemptAt = at;
}
