import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { StepContext } from '../../core/adapter.js';
import {
  DEFAULT_KILL_GRACE_MS,
  HEARTBEAT_INTERVAL_MS,
  LineSplitter,
  OutputCapture,
  type ProcessRequest,
  type ProcessResult,
} from './run-process.js';

/**
 * Recorded runs: a process whose start, output and end are kept on disk beside the state, so that a
 * Lockstep killed at any moment can, when started again, tell what became of it:
 *
 * - it finished: its exit status (and whatever it wrote into the record, such as the outputs file)
 *   is read back, and it is not run again;
 * - it still runs: Lockstep attaches to it (streams its output files, waits, enforces the timeout
 *   and abort as for its own child) instead of starting a second one beside it;
 * - it ended without a record (killed from outside, the machine restarted): nobody knows whether it
 *   did its work, and the engine applies its rules for an interrupted step.
 *
 * The process is started under a tiny `/bin/sh` supervisor (one exec of the system shell, not a
 * Node process: on a loaded machine that is the difference between a few and hundreds of
 * milliseconds per step). The supervisor leads its own process group and session, writes its
 * children's stdout and stderr to files (so nothing dies of SIGPIPE when Lockstep does), waits for
 * the command, and writes `exit.json` in one small write. When Lockstep is gone by then (the crash
 * case) it also fsyncs the record, since nothing else will; while Lockstep lives, the store's own
 * commit of the step, which follows at once, is what makes the outcome durable.
 *
 * A record directory holds: `run.json` (pid, the process's start time and the boot id, so that a
 * reused pid is never mistaken for ours; the fingerprint of what ran), `stdout`, `stderr`,
 * `exit.json`, and whatever the caller adds (the command adapter's `outputs.json`). No argument or
 * environment value is written: they may hold secrets. Everything is private to the user (0700/0600).
 */

export interface RecordedRequest extends ProcessRequest {
  /** This process's record directory: unique within its step attempt, the same after a restart. */
  readonly recordDir: string;
  /** Called once the directory is empty and ready, just before a fresh start (never when recovering). */
  readonly beforeStart?: (recordDir: string) => void;
  /** One line for the step log when a run is recovered or reattached rather than started. */
  readonly note?: (line: string) => void;
}

/** What a record says about its process. */
export type RecordState = 'running' | 'finished' | 'stopped';

/** What the records of one step attempt say, taken together (`none`: nothing was started there). */
export type RecordedRunsState = RecordState | 'none';

interface RunRecord {
  pid: number;
  /** /proc/<pid>/stat field 22 (clock ticks since boot), where the system has /proc. */
  startTime?: string;
  bootId?: string;
  startedAt: string;
  fingerprint: string;
}

interface ExitRecord {
  code?: number;
  /** Written by Lockstep when it ended the run itself (timeout, abort, stop on request). */
  stopped?: string;
}

const POLL_MS = 100;
/** The supervisor: `sh -c WRAPPER lockstep-run DIR PROGRAM ARGS…`. PROGRAM is a path, so no builtin or function runs instead. */
const WRAPPER = [
  'dir=$1; shift',
  '"$@"',
  'code=$?',
  `printf '{"code":%d,"end":true}\\n' "$code" > "$dir/exit.json"`,
  'kill -0 "$PPID" 2>/dev/null || sync "$dir/exit.json" "$dir" 2>/dev/null',
  'exit "$code"',
].join('\n');
const WRAPPER_NAME = 'lockstep-run';

/**
 * Runs `request` as a recorded run, or recovers the recorded one: see the module comment. Never
 * throws for the program's own failures (same contract as runProcess).
 */
export async function runRecorded(request: RecordedRequest): Promise<ProcessResult> {
  const dir = request.recordDir;
  const fingerprint = fingerprintOf(request);
  const found = readRecord(dir);
  if (found !== undefined && found.run?.fingerprint !== undefined && found.run.fingerprint !== fingerprint) {
    // Another command ran under this name before the restart (the adapter took another path this
    // time). Never two at once: wait for it, then start this one afresh.
    if (found.state === 'running' && found.pid !== undefined) {
      request.note?.(`waiting for a different command (pid ${found.pid}) left running under this record before the restart`);
      await attach(request, dir, found.pid, found.run, { quiet: true });
    }
  } else if (found?.state === 'finished') {
    request.note?.('recovered: this command had finished while Lockstep was not running; its recorded output follows');
    return replay(request, dir);
  } else if (found?.state === 'running' && found.pid !== undefined) {
    request.note?.(`reattached: this command (pid ${found.pid}) was still running from before the restart; waiting for it`);
    return attach(request, dir, found.pid, found.run, { quiet: false });
  }
  return start(request, dir, fingerprint);
}

/** The state of one record directory; undefined when there is none. */
export function recordState(dir: string): RecordState | undefined {
  return readRecord(dir)?.state;
}

/**
 * Taken together, the records under `attemptDir` (one subdirectory per process): `running` when any
 * process still runs, else `stopped` when any ended without a recorded exit, else `finished` when
 * there is at least one record, else `none`.
 */
export function recordedRunsState(attemptDir: string): RecordedRunsState {
  const states = recordDirs(attemptDir).map((d) => readRecord(d)?.state);
  if (states.includes('running')) return 'running';
  if (states.includes('stopped') || states.includes(undefined)) return 'stopped';
  return states.length > 0 ? 'finished' : 'none';
}

/**
 * Stops every process still running under `attemptDir`: SIGTERM to its group, SIGKILL after the
 * grace period, then records it as stopped. For `resume --stop-running`, and for read-only probes.
 */
export async function stopRecordedRuns(attemptDir: string, why: string, graceMs = DEFAULT_KILL_GRACE_MS): Promise<number> {
  let stopped = 0;
  for (const dir of recordDirs(attemptDir)) {
    const found = readRecord(dir);
    if (found?.state !== 'running' || found.pid === undefined) continue;
    const pid = found.pid;
    killGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (groupAlive(pid) && Date.now() < deadline) await sleep(50);
    killGroup(pid, 'SIGKILL');
    writeExit(dir, { stopped: why });
    stopped++;
  }
  return stopped;
}

/**
 * Records a process started elsewhere (a read-only probe with its own pipes) so that the next process
 * can find and stop it if it outlives this one: `run.json` only, in `dir`.
 */
export function recordStarted(dir: string, pid: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const run: RunRecord = { pid, startTime: processStartTime(pid), bootId: bootId(), startedAt: new Date().toISOString(), fingerprint: '' };
  writeAtomically(path.join(dir, 'run.json'), JSON.stringify(run));
}

/**
 * The record directory for the next process named `name` in this call of an adapter (numbered per
 * name, so the same call made again after a restart finds the same records in the same order), or
 * undefined when the engine keeps no records for this call.
 */
export function nextRecordDir(ctx: StepContext, name: string): string | undefined {
  if (ctx.runDir === undefined) return undefined;
  let counts = counters.get(ctx);
  if (counts === undefined) {
    counts = new Map();
    counters.set(ctx, counts);
  }
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  return path.join(ctx.runDir, `${safeName(name)}-${n}`);
}

/** Where nextRecordDir will put the next process named `name`, without taking the place. */
export function peekRecordDir(ctx: StepContext, name: string): string | undefined {
  if (ctx.runDir === undefined) return undefined;
  const n = (counters.get(ctx)?.get(name) ?? 0) + 1;
  return path.join(ctx.runDir, `${safeName(name)}-${n}`);
}

const counters = new WeakMap<StepContext, Map<string, number>>();

/** A name that is one path segment whatever it holds. */
export function safeName(name: string): string {
  return encodeURIComponent(name === '' ? '_' : name).replaceAll('.', '%2E');
}

// ------------------------------------------------------------------------------------------ reading

interface FoundRecord {
  state: RecordState;
  run: RunRecord | undefined;
  pid: number | undefined;
}

function readRecord(dir: string): FoundRecord | undefined {
  if (!existsSync(dir)) return undefined;
  const run = readJson<RunRecord>(path.join(dir, 'run.json'));
  const exit = readExit(dir);
  if (exit?.code !== undefined) return { state: 'finished', run, pid: run?.pid };
  if (exit?.stopped !== undefined) return { state: 'stopped', run, pid: run?.pid };
  if (run !== undefined) {
    if (isOurs(run)) return { state: 'running', run, pid: run.pid };
    // It may have ended between the two reads: look at the exit record once more.
    return { state: readExit(dir)?.code !== undefined ? 'finished' : 'stopped', run, pid: run.pid };
  }
  // Killed between starting the supervisor and writing run.json: find the supervisor by its
  // arguments, which hold this directory.
  const pid = findSupervisor(dir);
  if (pid !== undefined) return { state: 'running', run: undefined, pid };
  return { state: readExit(dir)?.code !== undefined ? 'finished' : 'stopped', run: undefined, pid: undefined };
}

/** A complete exit record, or undefined (absent, or torn: cut short by a crash while being written). */
function readExit(dir: string): ExitRecord | undefined {
  const exit = readJson<ExitRecord & { end?: boolean }>(path.join(dir, 'exit.json'));
  if (exit === undefined) return undefined;
  if (typeof exit.code === 'number' && exit.end === true) return { code: exit.code };
  if (typeof exit.stopped === 'string') return { stopped: exit.stopped };
  return undefined;
}

function readJson<T>(file: string): T | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof value === 'object' && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

function recordDirs(attemptDir: string): string[] {
  try {
    return readdirSync(attemptDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => path.join(attemptDir, e.name));
  } catch {
    return [];
  }
}

// ------------------------------------------------------------------------------------------ identity

let cachedBootId: string | null | undefined;

function bootId(): string | undefined {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId ?? undefined;
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether `run.pid` is still the process that was recorded: alive, and (where the system has /proc)
 * started at the recorded time in the same boot. A pid reused by another process does not pass.
 */
function isOurs(run: RunRecord): boolean {
  if (!Number.isInteger(run.pid) || run.pid <= 0) return false;
  if (run.bootId !== undefined && run.bootId !== bootId()) return false;
  if (run.startTime !== undefined) {
    const now = processStartTime(run.pid);
    // A zombie still has its stat; it has ended, and its exit record says how.
    return now === run.startTime && !isZombie(run.pid);
  }
  return pidAlive(run.pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** The supervisor whose arguments name `dir`, found through /proc (Linux); undefined elsewhere. */
function findSupervisor(dir: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes(WRAPPER_NAME) && argv.includes(dir) && !isZombie(Number(entry))) return Number(entry);
    } catch {
      // Gone while we looked.
    }
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------ running

function fingerprintOf(request: ProcessRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([request.file, request.args, request.cwd]))
    .digest('hex')
    .slice(0, 32);
}

/**
 * execvp's lookup, done before the start so that a missing or non-executable program is reported as
 * today (spawn-failed ENOENT/EACCES), and so that the supervisor runs a path, never a builtin.
 */
function resolveProgram(file: string, cwd: string, env: NodeJS.ProcessEnv): string | NodeJS.ErrnoException {
  const candidates = file.includes('/')
    ? [path.resolve(cwd, file)]
    : (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').map((d) => path.resolve(cwd, d === '' ? '.' : d, file));
  let denied = false;
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES') denied = true;
    }
  }
  const code = denied ? 'EACCES' : 'ENOENT';
  return Object.assign(new Error(`spawn ${file} ${code}`), { code, path: file, syscall: `spawn ${file}` });
}

function start(request: RecordedRequest, dir: string, fingerprint: string): Promise<ProcessResult> {
  if (request.signal.aborted) {
    return Promise.resolve({ kind: 'aborted', reason: request.signal.reason as unknown, output: new OutputCapture().result() });
  }
  const program = resolveProgram(request.file, request.cwd, request.env);
  if (typeof program !== 'string') return Promise.resolve({ kind: 'spawn-failed', error: program });

  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  request.beforeStart?.(dir);
  const out = openSync(path.join(dir, 'stdout'), 'w', 0o600);
  const err = openSync(path.join(dir, 'stderr'), 'w', 0o600);
  let child;
  try {
    child = spawn('/bin/sh', ['-c', WRAPPER, WRAPPER_NAME, dir, program, ...request.args], {
      cwd: request.cwd,
      env: request.env,
      shell: false,
      detached: true,
      stdio: ['ignore', out, err],
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  const pid = child.pid;
  if (pid !== undefined) {
    const run: RunRecord = { pid, startTime: processStartTime(pid), bootId: bootId(), startedAt: new Date().toISOString(), fingerprint };
    writeAtomically(path.join(dir, 'run.json'), JSON.stringify(run));
  }
  return new Promise<ProcessResult>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Without a pid the supervisor could not be started (a missing cwd): nothing ran.
      if (child.pid === undefined) {
        rmSync(dir, { recursive: true, force: true });
        resolve({ kind: 'spawn-failed', error });
      }
    });
    if (pid === undefined) return;
    let exited: { signal: NodeJS.Signals | null } | undefined;
    let poke = (): void => undefined;
    child.once('exit', (_code, signal) => {
      exited = { signal };
      poke();
    });
    request.onAlive();
    void follow(request, dir, pid, Date.now(), {
      ended: () => exited !== undefined,
      onPoke: (fn) => (poke = fn),
      killedBy: () => exited?.signal ?? undefined,
    }).then(resolve);
  });
}

function attach(request: RecordedRequest, dir: string, pid: number, run: RunRecord | undefined, options: { quiet: boolean }): Promise<ProcessResult> {
  const started = run?.startedAt === undefined ? Date.now() : Date.parse(run.startedAt);
  const identity: RunRecord = run ?? { pid, startTime: processStartTime(pid), bootId: bootId(), startedAt: new Date().toISOString(), fingerprint: '' };
  const quiet: RecordedRequest = options.quiet ? { ...request, onLine: () => undefined } : request;
  return follow(quiet, dir, pid, Number.isNaN(started) ? Date.now() : started, { ended: () => !isOurs(identity) });
}

/**
 * Streams the output files and waits for the supervisor (our child, or one started before a
 * restart) to end, with runProcess's timeout, abort and kill semantics.
 */
interface Supervisor {
  /** Whether the supervisor has ended. */
  ended(): boolean;
  /** For our own child: lets its exit event end the wait at once rather than at the next poll. */
  onPoke?(poke: () => void): void;
  /** For our own child: the signal that ended the supervisor itself, if one did. */
  killedBy?(): NodeJS.Signals | undefined;
}

function follow(request: RecordedRequest, dir: string, pid: number, startedAt: number, supervisor: Supervisor): Promise<ProcessResult> {
  return new Promise<ProcessResult>((resolve) => {
    const capture = new OutputCapture();
    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      capture.line(line, stream);
      request.onLine(line, stream);
      request.onAlive();
    };
    const stdout = new FileTail(path.join(dir, 'stdout'), onLine('stdout'), (chunk) => capture.stdoutChunk(chunk));
    const stderr = new FileTail(path.join(dir, 'stderr'), onLine('stderr'));
    const grace = request.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    let ending: { kind: 'timed-out' } | { kind: 'aborted'; reason: unknown } | undefined;
    let killAt: number | undefined;
    let settled = false;

    const heartbeat = setInterval(request.onAlive, HEARTBEAT_INTERVAL_MS);
    const stop = (why: NonNullable<typeof ending>): void => {
      // Once the supervisor has ended the run is over; what it left running is not ours to stop.
      if (ending !== undefined || settled || supervisor.ended()) return;
      ending = why;
      killGroup(pid, 'SIGTERM');
      killAt = Date.now() + grace;
    };
    const onAbort = (): void => stop({ kind: 'aborted', reason: request.signal.reason });
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener('abort', onAbort, { once: true });
    const timeout = setTimeout(() => stop({ kind: 'timed-out' }), Math.max(0, startedAt + request.timeoutMs - Date.now()));

    const finish = (): void => {
      settled = true;
      clearInterval(timer);
      clearInterval(heartbeat);
      clearTimeout(timeout);
      request.signal.removeEventListener('abort', onAbort);
      stdout.read();
      stderr.read();
      stdout.end();
      stderr.end();
      const output = capture.result();
      if (ending !== undefined) {
        // Whatever is left of the group belongs to a run we are stopping.
        killGroup(pid, 'SIGKILL');
        if (readExit(dir) === undefined) writeExit(dir, { stopped: ending.kind });
        return resolve(ending.kind === 'timed-out' ? { kind: 'timed-out', output } : { ...ending, output });
      }
      const exit = readExit(dir);
      const signal = supervisor.killedBy?.();
      // The supervisor itself was killed (from outside, with its group): it could not write a record.
      if (exit === undefined && signal !== undefined) return resolve({ kind: 'signalled', signal, output });
      resolve(resultOf(exit, output));
    };

    const tick = (): void => {
      if (settled) return;
      stdout.read();
      stderr.read();
      if (ending === undefined) {
        if (supervisor.ended()) finish();
        return;
      }
      // Stopping: the supervisor may be gone while the command ignores SIGTERM; give the group its grace.
      if (!groupAlive(pid) || (killAt !== undefined && Date.now() >= killAt)) finish();
    };
    const timer = setInterval(tick, POLL_MS);
    supervisor.onPoke?.(tick);
  });
}

/** The result a finished record stands for; `vanished` when it has no exit status. */
function resultOf(exit: ExitRecord | undefined, output: ReturnType<OutputCapture['result']>): ProcessResult {
  if (exit?.code === undefined) return { kind: 'vanished', output };
  // The supervisor reports a command killed by signal N as 128+N, as every shell does.
  if (exit.code > 128) {
    const signal = Object.entries(osConstants.signals).find(([, n]) => n === exit.code! - 128)?.[0];
    if (signal !== undefined) return { kind: 'signalled', signal, output };
  }
  return { kind: 'exited', code: exit.code, output };
}

/** A finished record's result, its output fed through onLine as if it ran now. */
function replay(request: RecordedRequest, dir: string): ProcessResult {
  const capture = new OutputCapture();
  for (const stream of ['stdout', 'stderr'] as const) {
    const tail = new FileTail(
      path.join(dir, stream),
      (line) => {
        capture.line(line, stream);
        request.onLine(line, stream);
      },
      stream === 'stdout' ? (chunk) => capture.stdoutChunk(chunk) : undefined,
    );
    tail.read();
    tail.end();
  }
  request.onAlive();
  return resultOf(readExit(dir), capture.result());
}

function writeExit(dir: string, exit: ExitRecord): void {
  try {
    writeAtomically(path.join(dir, 'exit.json'), JSON.stringify(exit));
  } catch {
    // The record directory was removed (the promotion finished): nothing left to say.
  }
}

function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
}

/** Reads what was appended to a file since the last read, line by line. */
class FileTail {
  private offset = 0;
  private readonly splitter: LineSplitter;
  private readonly buffer = Buffer.alloc(64 * 1024);

  constructor(
    private readonly file: string,
    onLine: (line: string) => void,
    private readonly onChunk?: (chunk: Buffer) => void,
  ) {
    this.splitter = new LineSplitter(onLine);
  }

  read(): void {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return;
    }
    try {
      for (;;) {
        const n = readSync(fd, this.buffer, 0, this.buffer.length, this.offset);
        if (n <= 0) return;
        this.offset += n;
        const chunk = Buffer.from(this.buffer.subarray(0, n));
        this.onChunk?.(chunk);
        this.splitter.push(chunk);
      }
    } finally {
      closeSync(fd);
    }
  }

  end(): void {
    this.splitter.end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
