import { createHmac } from 'node:crypto';

/** One POST of a delivery. `url`, `secret` and header values may be secrets: they are never in the result. */
export interface WebhookRequest {
  url: string;
  body: string;
  contentType: string;
  deliveryId: string;
  /** X-Lockstep-Event: the notify event (or the CloudEvent type). */
  event: string;
  /** The HMAC-SHA256 key: the request then carries X-Lockstep-Signature. */
  secret?: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborts the request (the server shuts down): the delivery stays pending and is sent again. */
  signal?: AbortSignal;
}

/**
 * How an attempt went. A 2xx is delivered. A refused request (a 4xx other than 408 and 429, or a
 * redirect, which is not followed) is not retryable: sending the same bytes again gets the same
 * answer. Everything else (no connection, no answer in time, a 5xx, 408, 429) is tried again.
 */
export type WebhookResult =
  | { ok: true; status: number }
  | { ok: false; status?: number; error: string; retryable: boolean };

export const SIGNATURE_HEADER = 'X-Lockstep-Signature';
export const DELIVERY_HEADER = 'X-Lockstep-Delivery';
export const EVENT_HEADER = 'X-Lockstep-Event';

/** `sha256=<hex HMAC-SHA256 of body>`: what X-Lockstep-Signature holds. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Sends one delivery. Never throws: every failure is a result. */
export async function postWebhook(request: WebhookRequest): Promise<WebhookResult> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal === undefined ? timeout : AbortSignal.any([timeout, request.signal]);
  const headers: Record<string, string> = {
    ...request.headers,
    'Content-Type': request.contentType,
    'User-Agent': 'Lockstep-Webhook/1',
    [DELIVERY_HEADER]: request.deliveryId,
    [EVENT_HEADER]: request.event,
  };
  if (request.secret !== undefined) headers[SIGNATURE_HEADER] = signature(request.secret, request.body);
  let response: Response;
  try {
    response = await fetch(request.url, { method: 'POST', headers, body: request.body, redirect: 'manual', signal });
  } catch (error) {
    if (timeout.aborted) return { ok: false, error: `no answer within ${request.timeoutMs} ms`, retryable: true };
    if (request.signal?.aborted === true) return { ok: false, error: 'stopped (the process is shutting down)', retryable: true };
    return { ok: false, error: fetchProblem(error), retryable: true };
  }
  // The answer's body is not read: it is not recorded, and a large one must not hold the connection.
  await response.body?.cancel().catch(() => undefined);
  if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
  const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
  return { ok: false, status: response.status, error: `HTTP ${response.status}`, retryable };
}

/** fetch says "fetch failed"; the reason (ECONNREFUSED, a TLS error) is in its cause. */
function fetchProblem(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const text = (value: unknown): string => (value instanceof Error ? value.message : String(value));
  return cause === undefined ? text(error) : `${text(error)}: ${text(cause)}`;
}
