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

/**
 * A failed AWS call as a StepFailure worded for the step log. `what` names the call and its target
 * ("UpdateAlias live of billing-worker"). Cancellation passes the engine's own reason through. AWS
 * messages are kept: they name resources, never the environment values we sent.
 */
export function awsFailure(what: string, error: unknown, signal: AbortSignal, untouched = false): Error {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof Error ? reason : new StepFailure(`${what}: cancelled`, false, { cause: reason });
  }
  const name = errorName(error) ?? 'Error';
  const message = errorMessage(error);
  const options = { cause: error, untouched };
  switch (name) {
    case 'ResourceNotFoundException':
      return new StepFailure(`${what}: not found (${message}); check the function name, alias and region`, false, options);
    case 'AccessDeniedException':
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
      return new StepFailure(`${what}: AWS refused the credentials (${name}: ${message})`, false, options);
    case 'CredentialsProviderError':
      return new StepFailure(
        `${what}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role`,
        false,
        options,
      );
    case 'PreconditionFailedException':
      return new StepFailure(
        `${what}: the function changed under us (${message}); is another deploy running against it?`,
        false,
        options,
      );
    default:
      if (RETRYABLE.has(name)) return new StepFailure(`${what}: ${name}: ${message} (still failing after the SDK's retries)`, true, options);
      if (isConnectionError(error)) {
        return new StepFailure(`${what}: could not reach the Lambda endpoint (${message})`, true, options);
      }
      return new StepFailure(`${what}: ${name}: ${message}`, false, options);
  }
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code);
}
