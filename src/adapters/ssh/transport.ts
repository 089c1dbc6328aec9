/**
 * The Transport port: what the ssh adapter needs from a host, and nothing more. Two implementations:
 * `ssh-transport.ts` (ssh2: exec channels and SFTP) and `local-transport.ts` (this machine, for
 * `host: local`). The deploy logic (host-release.ts) is written once against this interface, so both
 * lay out and switch releases the same way.
 *
 * Paths may be relative: over SSH to the login (home) directory, locally to the project directory.
 */
export interface Transport {
  readonly host: HostTarget;
  /**
   * Runs a POSIX shell script on the host (`/bin/sh -c`), streaming its lines. Resolves with how the
   * script ended (a non-zero exit is a value, not an error: the caller knows what ran and words the
   * failure). Rejects with the abort reason when `signal` aborts, and with StepFailure when the
   * connection breaks.
   */
  run(script: string, options: RunOptions): Promise<RunResult>;
  /** Copies a local file to `path` on the host, replacing what is there. Not atomic: upload to a temporary name. */
  upload(localFile: string, path: string, options: TransferOptions): Promise<void>;
  /** Where the symlink at `path` points, or undefined when nothing is there. */
  readlink(path: string): Promise<string | undefined>;
  /**
   * Points the symlink `path` at `target` atomically: a `<path>.tmp` symlink is created, then renamed
   * over `path` (rename(2)), so a reader sees the old link or the new one, never none.
   */
  switchSymlink(path: string, target: string): Promise<void>;
  /** Closes the connection. Safe to call twice. */
  close(): void;
}

/** One host as the adapter resolved it from the spec. */
export interface HostTarget {
  /** How log lines and messages name the host: `web-1`, `web-1:2222`, `local`. */
  readonly name: string;
  readonly kind: 'ssh' | 'local';
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

export interface TransferOptions {
  readonly signal: AbortSignal;
  /** Called as bytes move, so long uploads keep the step alive. */
  readonly onAlive: () => void;
}

export interface RunOptions extends TransferOptions {
  readonly timeoutMs: number;
  /** Each complete line of stdout or stderr, without the newline. */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export type RunResult =
  | { readonly kind: 'exited'; readonly code: number; readonly output: RunOutput }
  | { readonly kind: 'signalled'; readonly signal: string; readonly output: RunOutput }
  | { readonly kind: 'timed-out'; readonly output: RunOutput };

export interface RunOutput {
  /** All of stdout, up to MAX_STDOUT characters. */
  readonly stdout: string;
  /** The last non-blank line of stderr, else of stdout: what a failure message quotes. */
  readonly lastLine: string | undefined;
}

export const MAX_STDOUT = 1_000_000;

/** Collects what RunOutput holds from a stream of lines and stdout chunks. */
export class OutputCollector {
  private stdout = '';
  private lastStdout: string | undefined;
  private lastStderr: string | undefined;

  stdoutText(text: string): void {
    if (this.stdout.length < MAX_STDOUT) this.stdout = (this.stdout + text).slice(0, MAX_STDOUT);
  }

  line(line: string, stream: 'stdout' | 'stderr'): void {
    if (line.trim() === '') return;
    if (stream === 'stdout') this.lastStdout = line;
    else this.lastStderr = line;
  }

  result(): RunOutput {
    return { stdout: this.stdout, lastLine: this.lastStderr ?? this.lastStdout };
  }
}

/** The message for a path Lockstep manages as a symlink that is something else on the host. */
export function notASymlink(host: HostTarget, path: string): string {
  return (
    `host ${host.name}: ${path} is not a symlink; Lockstep manages it as a symlink to releases/<version>: ` +
    'move what is there aside (or deploy into another dir)'
  );
}
