import { errorMessage, StepFailure } from '../../core/errors.js';

/** AWS error names we word ourselves; anything else keeps the service's message and is not retryable. */
const RETRYABLE = new Set([
  'TooManyRequestsException',
  'ThrottlingException',
  'Throttling',
  'ResourceConflictException',
  'ServiceException',
  'EC2ThrottledException',
]);

export function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export interface FailureOptions {
  /** The system was not changed (the call was a read before any write). */
  untouched?: boolean;
  /** Values that must not appear in the message (the environment values we sent). */
  secrets?: readonly string[];
}

/**
 * Lambda quotes the environment it refused ("… exceeded the 4KB limit. String measured: {…}"), so a
 * message is cut there, and any value we sent is replaced by ***. Values shorter than 4 characters
 * are left: replacing "1" or "on" everywhere would garble the message and protect nothing.
 */
export function withoutSecrets(message: string, secrets: readonly string[]): string {
  let text = message.replace(/String measured:[\s\S]*$/i, 'String measured: (withheld, it holds the environment values)');
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4) text = text.replaceAll(secret, '***');
  }
  return text;
}

/**
 * A failed AWS call as a StepFailure worded for the step log. `what` names the call and its target
 * ("UpdateAlias live of billing-worker"). Cancellation passes the engine's own reason through. AWS
 * messages are kept, without the environment values we sent (see withoutSecrets).
 */
export function awsFailure(what: string, error: unknown, signal: AbortSignal, options: FailureOptions = {}): Error {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof Error ? reason : new StepFailure(`${what}: cancelled`, false, { cause: reason });
  }
  const name = errorName(error) ?? 'Error';
  const message = withoutSecrets(errorMessage(error), options.secrets ?? []);
  const failure = { cause: error, untouched: options.untouched ?? false };
  switch (name) {
    case 'ResourceNotFoundException':
      return new StepFailure(`${what}: not found (${message}); check the function name, alias and region`, false, failure);
    case 'AccessDeniedException':
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
      return new StepFailure(`${what}: AWS refused the credentials (${name}: ${message})`, false, failure);
    case 'CredentialsProviderError':
      return new StepFailure(
        `${what}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role`,
        false,
        failure,
      );
    case 'PreconditionFailedException':
      return new StepFailure(
        `${what}: the function changed under us (${message}); is another deploy running against it?`,
        false,
        failure,
      );
    default:
      if (RETRYABLE.has(name)) return new StepFailure(`${what}: ${name}: ${message} (still failing after the SDK's retries)`, true, failure);
      if (isConnectionError(error)) {
        return new StepFailure(`${what}: could not reach the Lambda endpoint (${message})`, true, failure);
      }
      return new StepFailure(`${what}: ${name}: ${message}`, false, failure);
  }
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code);
}
