import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';

/**
 * Runs one program to completion and reports what happened as a value (never throws for the
 * program's own failures: the caller knows which command it was and words the error).
 *
 * - No shell: `file` and `args` go to execvp as they are, so spaces, quotes, `;` and `$(…)` in them are
 *   data. Callers that want a shell pass `/bin/sh` and `['-c', text]` themselves.
 * - The child leads its own process group (`detached`), so a timeout or an abort can kill everything it
 *   started (`kill(-pid)`), not just the direct child.
 * - stdin is closed: a deploy script that prompts gets end-of-file instead of hanging forever.
 */
export interface ProcessRequest {
  readonly file: string;
  readonly args: readonly string[];
  /** Absolute; `file` is resolved against it when it holds a slash, else searched on PATH. */
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Each complete line of stdout or stderr, in the order they arrive per stream (no trailing newline). */
  readonly onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Called on every line and at least every HEARTBEAT_INTERVAL_MS while the process runs. */
  readonly onAlive: () => void;
  /** Between SIGTERM and SIGKILL of the process group. */
  readonly killGraceMs?: number;
}

/** What the run ended with. `tail` holds the last TAIL_LINES lines of both streams, interleaved. */
export type ProcessResult =
  | { readonly kind: 'exited'; readonly code: number; readonly output: ProcessOutput }
  | { readonly kind: 'signalled'; readonly signal: string; readonly output: ProcessOutput }
  | { readonly kind: 'timed-out'; readonly output: ProcessOutput }
  | { readonly kind: 'aborted'; readonly reason: unknown; readonly output: ProcessOutput }
  | { readonly kind: 'spawn-failed'; readonly error: NodeJS.ErrnoException }
  /**
   * Only from a recorded run (run-journal.ts): the process was started before a restart and ended
   * without recording how (killed with its group from outside, or the machine restarted), so nobody
   * knows whether it finished its work.
   */
  | { readonly kind: 'vanished'; readonly output: ProcessOutput };

export interface ProcessOutput {
  /** All of stdout, up to MAX_CAPTURED_STDOUT characters (then `truncated`). */
  readonly stdout: string;
  readonly truncated: boolean;
  readonly tail: readonly string[];
  readonly lastStdoutLine: string | undefined;
  readonly lastStderrLine: string | undefined;
}

export const HEARTBEAT_INTERVAL_MS = 2_000;
export const DEFAULT_KILL_GRACE_MS = 5_000;
export const TAIL_LINES = 20;
export const MAX_CAPTURED_STDOUT = 1_000_000;
/** A "line" longer than this is passed on in pieces rather than buffered without bound. */
const MAX_LINE_LENGTH = 64 * 1024;
/** After the child exits, how long we wait for its stdout/stderr to close (see drainThenComplete). */
const DRAIN_AFTER_EXIT_MS = 500;

export function runProcess(request: ProcessRequest): Promise<ProcessResult> {
  if (request.signal.aborted) {
    const reason: unknown = request.signal.reason;
    return Promise.resolve({ kind: 'aborted', reason, output: new OutputCapture().result() });
  }
  return new Promise<ProcessResult>((resolve) => {
    const capture = new OutputCapture();
    const grace = request.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    const timers = new Set<NodeJS.Timeout>();
    let settled = false;
    /** Why we are stopping the process, once we are. */
    let ending: { kind: 'timed-out' } | { kind: 'aborted'; reason: unknown } | undefined;
    let killed = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

    const child = spawn(request.file, [...request.args], {
      cwd: request.cwd,
      env: request.env,
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

    const later = (ms: number, fn: () => void): void => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    };

    const finish = (result: ProcessResult): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      clearInterval(heartbeat);
      request.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };

    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // ESRCH: the group is gone already. Nothing else can fail for our own child's group.
      }
    };

    const complete = (): void => {
      if (settled) return;
      stdout.end();
      stderr.end();
      const output = capture.result();
      if (ending !== undefined) {
        // The leader is gone and the pipes are closed; anything left in its group is a straggler of a run
        // we are stopping. The group id cannot have been reused while any member lives.
        if (!killed) killGroup('SIGKILL');
        return finish(ending.kind === 'timed-out' ? { kind: 'timed-out', output } : { ...ending, output });
      }
      if (exit?.signal) return finish({ kind: 'signalled', signal: exit.signal, output });
      finish({ kind: 'exited', code: exit?.code ?? 0, output });
    };

    /**
     * After the leader exits, wait a little for the pipes to close, then stop reading them: a script that
     * starts a daemon (`nohup server &`) leaves them open in the daemon, and we must not wait for it.
     */
    const drainThenComplete = (): void =>
      later(DRAIN_AFTER_EXIT_MS, () => {
        child.stdout.destroy();
        child.stderr.destroy();
        complete();
      });

    /** Stops the run: SIGTERM to the whole group, SIGKILL to whatever is left after the grace period. */
    const stop = (why: NonNullable<typeof ending>): void => {
      // Once the leader has exited the run is over; what it left running (a daemon) is not ours to stop.
      if (ending !== undefined || exit !== undefined || settled) return;
      ending = why;
      killGroup('SIGTERM');
      later(grace, () => {
        killGroup('SIGKILL');
        killed = true;
        if (exit !== undefined) drainThenComplete();
      });
    };

    const onAbort = (): void => stop({ kind: 'aborted', reason: request.signal.reason });

    const heartbeat = setInterval(request.onAlive, HEARTBEAT_INTERVAL_MS);

    child.on('error', (error: NodeJS.ErrnoException) => {
      // Without a pid the program could not be started (ENOENT, EACCES). With one, nothing we call
      // emits 'error' (killGroup does not use child.kill); the listener still keeps it from throwing.
      if (child.pid === undefined) finish({ kind: 'spawn-failed', error });
    });

    child.once('spawn', () => {
      request.onAlive();
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });
      later(request.timeoutMs, () => stop({ kind: 'timed-out' }));
    });

    const pipe = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): LineSplitter => {
      const splitter = new LineSplitter((line) => {
        capture.line(line, name);
        request.onLine(line, name);
        request.onAlive();
      });
      stream.on('data', (chunk: Buffer) => {
        if (name === 'stdout') capture.stdoutChunk(chunk);
        splitter.push(chunk);
      });
      return splitter;
    };
    const stdout = pipe(child.stdout, 'stdout');
    const stderr = pipe(child.stderr, 'stderr');

    child.once('exit', (code, signal) => {
      if (child.pid === undefined) return;
      exit = { code, signal };
      // While stopping, the group gets its full grace period before we stop waiting for the pipes.
      if (ending === undefined || killed) drainThenComplete();
    });

    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (child.pid === undefined) return;
      exit ??= { code, signal };
      complete();
    });
  });
}

/** Splits a byte stream into UTF-8 lines; `\r\n` counts as one line end. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: Buffer): void {
    this.pending += this.decoder.write(chunk);
    let newline = this.pending.indexOf('\n');
    while (newline !== -1) {
      this.emitLine(this.pending.slice(0, newline));
      this.pending = this.pending.slice(newline + 1);
      newline = this.pending.indexOf('\n');
    }
    while (this.pending.length > MAX_LINE_LENGTH) {
      this.emit(this.pending.slice(0, MAX_LINE_LENGTH));
      this.pending = this.pending.slice(MAX_LINE_LENGTH);
    }
  }

  /** Flushes a last line that had no newline. Safe to call twice. */
  end(): void {
    this.pending += this.decoder.end();
    if (this.pending !== '') this.emitLine(this.pending);
    this.pending = '';
  }

  private emitLine(line: string): void {
    this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}

/** What a run's result says of its output, fed chunk by chunk and line by line. */
export class OutputCapture {
  private readonly stdoutDecoder = new StringDecoder('utf8');
  private stdout = '';
  private truncated = false;
  private readonly tail: string[] = [];
  private lastStdoutLine: string | undefined;
  private lastStderrLine: string | undefined;

  stdoutChunk(chunk: Buffer): void {
    if (this.truncated) return;
    this.stdout += this.stdoutDecoder.write(chunk);
    if (this.stdout.length > MAX_CAPTURED_STDOUT) {
      this.stdout = this.stdout.slice(0, MAX_CAPTURED_STDOUT);
      this.truncated = true;
    }
  }

  line(line: string, stream: 'stdout' | 'stderr'): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    // Blank lines say nothing in an error message; keep the last line with content.
    if (line.trim() === '') return;
    if (stream === 'stdout') this.lastStdoutLine = line;
    else this.lastStderrLine = line;
  }

  result(): ProcessOutput {
    if (!this.truncated) this.stdout += this.stdoutDecoder.end();
    return {
      stdout: this.stdout,
      truncated: this.truncated,
      tail: [...this.tail],
      lastStdoutLine: this.lastStdoutLine,
      lastStderrLine: this.lastStderrLine,
    };
  }
}
