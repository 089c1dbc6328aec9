import { printable } from './printable.js';

/**
 * The few error classes Lockstep uses. Each carries a reason; the CLI maps them to exit codes in one
 * place (src/cli/exit-codes.ts) and the server to HTTP status in one place.
 */

/** A position in a config file, 1-based. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** One problem found in a config file; `path` is the dotted path of the field (`components.api.with`). */
export interface ConfigProblem extends SourcePosition {
  path: string;
  message: string;
}

/** One line, whatever the keys and values in the config hold (a key may contain a line break). */
export function formatProblem(p: ConfigProblem): string {
  return printable(`${p.file}:${p.line}:${p.column}: ${p.path === '' ? '(root)' : p.path}: ${p.message}`);
}

/** The config is invalid. Carries every problem found, not just the first. Exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    super(problems.map(formatProblem).join('\n'), options);
  }
}

/** A bad argument or request field. `field` names it (`--set`, `release`). Exit code 2. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Something named does not exist (a release id, a promotion, an environment). Exit code 2. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The environment is busy, or a record changed under us. Exit code 4. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The actor may not do this (an approval outside `from`, a self-approval, an override). Exit code 2. */
export class NotAllowedError extends Error {
  override readonly name = 'NotAllowedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A gate does not pass (yet). `waiting` is true when a person or time can still satisfy it. Exit code 3. */
export class GateBlocked extends Error {
  override readonly name = 'GateBlocked';
  constructor(
    message: string,
    readonly waiting: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A step failed. `retryable` is decided where the failure happens; an unknown failure is not
 * retryable, because re-running a deploy blindly is worse than stopping. Exit code 1.
 */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
  /**
   * True when the adapter knows the system was not touched (the program could not even start): the
   * step then needs no rollback and is not reported as left at the new version.
   */
  readonly untouched: boolean;
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; untouched?: boolean },
  ) {
    super(message, options);
    this.untouched = options?.untouched ?? false;
  }
}

/** The message of any thrown value, for logs and records. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
