import { limitText } from '../../core/duration.js';

/**
 * Deadlines of the AWS SDK clients. The SDK's own retries (`maxAttempts`) multiply its per-attempt
 * limits, so besides them each call, retries included, gets one overall limit: an endpoint that
 * accepts the connection and never answers fails the step in time, naming the endpoint.
 */
export interface AwsDeadlines {
  /** Opening the TCP (and TLS) connection, per attempt. */
  readonly connectMs: number;
  /** Per attempt: the longest the SDK waits for the answer once the request is sent. */
  readonly requestMs: number;
  /** One call with all its attempts. */
  readonly callMs: number;
}

export const AWS_DEADLINES: AwsDeadlines = { connectMs: 10_000, requestMs: 30_000, callMs: 120_000 };

/**
 * `requestHandler` options of an SDK client: the SDK builds its Node HTTP handler from them. Without
 * `throwOnRequestTimeout` the handler only warns when `requestTimeout` passes, and keeps waiting.
 */
export function awsRequestHandler(deadlines: AwsDeadlines): { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: boolean } {
  return { connectionTimeout: deadlines.connectMs, requestTimeout: deadlines.requestMs, throwOnRequestTimeout: true };
}

interface Sendable {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/**
 * `client` with each `send` bounded by `deadlines.callMs` as well as by the caller's signal. A call
 * that runs out rejects with a TimeoutError (code ETIMEDOUT, so the adapters word it as an endpoint
 * that could not be reached) saying what it waited for: `where` names the endpoint, never a key.
 */
export function withCallDeadline<C>(client: C & Sendable, deadlines: AwsDeadlines, where: string): C {
  const send = async (command: unknown, options: { abortSignal?: AbortSignal } = {}): Promise<unknown> => {
    const timer = AbortSignal.timeout(deadlines.callMs);
    const abortSignal = options.abortSignal === undefined ? timer : AbortSignal.any([options.abortSignal, timer]);
    try {
      return await client.send(command, { ...options, abortSignal });
    } catch (error) {
      if (!timer.aborted || options.abortSignal?.aborted === true) throw error;
      const name = (command as { constructor?: { name?: string } }).constructor?.name?.replace(/Command$/, '') ?? 'call';
      throw Object.assign(new Error(`no answer from ${where} within ${limitText(deadlines.callMs)} (${name}, the SDK's retries included)`, { cause: error }), {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      });
    }
  };
  return { send } as unknown as C;
}
