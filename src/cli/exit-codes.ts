import { ConfigError, ConflictError, GateBlocked, InputError, NotAllowedError, NotFoundError, StepFailure } from '../core/errors.js';

/** Exit codes, as documented in the README. The only place errors become exit codes. */
export const EXIT = { ok: 0, failed: 1, invalid: 2, waiting: 3, conflict: 4 } as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError || error instanceof InputError || error instanceof NotFoundError || error instanceof NotAllowedError) return EXIT.invalid;
  if (error instanceof GateBlocked) return EXIT.waiting;
  if (error instanceof ConflictError) return EXIT.conflict;
  if (error instanceof StepFailure) return EXIT.failed;
  return EXIT.failed;
}
