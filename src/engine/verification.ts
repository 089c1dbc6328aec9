import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { recordStarted, stopRecordedRuns } from '../adapters/command/run-journal.js';
import { errorMessage } from '../core/errors.js';

/**
 * Post-promotion verification, in the manner of an Argo Rollouts analysis: each check takes `count`
 * measurements `intervalMs` apart and fails once its failures exceed `failureLimit`. The first check to
 * fail cancels the others, and the whole run resolves at once rather than waiting out their intervals.
 *
 * Never throws for a probe's failure or for cancellation: the outcome is a `VerificationResult`.
 * Header values never reach a message or a log line (they may carry tokens), and URLs are shown
 * without userinfo, query string or fragment.
 */

export interface HttpProbe {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** Run without a shell: `argv[0]` is the program, searched on PATH unless it holds a slash. */
export interface CommandProbe {
  argv: string[];
}

export interface VerifyCheck {
  /** Shown in logs and results: e.g. "verify[0] GET https://staging.example.com/healthz". */
  name: string;
  http?: HttpProbe;
  command?: CommandProbe;
  /** HTTP only: decides success from the response; default: status 200-299. May throw (counts as a failure, with the message). */
  expect?: (response: { status: number; headers: Record<string, string>; body: unknown }) => boolean;
  /** Between the starts of two measurements; a measurement that takes longer delays the next one, never overlaps it. */
  intervalMs: number;
  /** Measurements to take (≥1). */
  count: number;
  /** Failures tolerated; the check fails as soon as failures > failureLimit. */
  failureLimit: number;
  /** Wait before the first measurement. */
  initialDelayMs: number;
}

export interface CheckResult {
  name: string;
  state: 'passed' | 'failed' | 'cancelled';
  measurements: Measurement[];
  failures: number;
  message: string;
}

export interface Measurement {
  /** ISO time of the measurement's start, from `VerificationOptions.now`. */
  at: string;
  ok: boolean;
  /** "HTTP 200", "HTTP 503: expect was false", "exit 1: <last stderr line>", "timeout after 5s", "connection refused". */
  detail: string;
}

export interface VerificationResult {
  passed: boolean;
  checks: CheckResult[];
  /** One sentence: "3 checks passed" / "verify[0] GET … failed on measurement 3 of 5: HTTP 503 (failures 2 > failureLimit 1)". */
  message: string;
}

export interface VerificationOptions {
  signal: AbortSignal;
  /**
   * Where command probes record their pid while they run. A probe only observes, so one that
   * outlived the process that started it (killed with its whole group) is stopped when verification
   * starts again, rather than waited for: its measurement is taken anew.
   */
  recordDir?: string;
  /** Working directory of command probes. */
  cwd: string;
  /** Environment of command probes. */
  env: NodeJS.ProcessEnv;
  /** The engine's clock: for `Measurement.at` and for the time a measurement took. */
  now(): Date;
  /** Default: a real timer. Need not honour the signal: a wait ends on abort regardless. */
  sleep?(ms: number, signal: AbortSignal): Promise<void>;
  /** Each measurement, and command output lines. */
  log?(check: string, line: string): void;
  onMeasurement?(check: string, m: Measurement): void;
}

/** What we read of a response body at most; the rest is discarded. */
export const MAX_BODY_BYTES = 1_000_000;
/** After a command exits, how long its pipes may stay open (held by something it left running). */
const DRAIN_AFTER_EXIT_MS = 200;
/** Longest stderr line quoted in a measurement's detail. */
const MAX_DETAIL_LINE = 300;

/**
 * Runs every check concurrently. Resolves with `passed: false` as soon as one check fails (the others
 * are then 'cancelled'), or promptly after `options.signal` aborts (every unfinished check 'cancelled').
 * Command probes still running at that point are killed with their whole process group.
 */
export async function runVerification(
  checks: readonly VerifyCheck[],
  options: VerificationOptions,
): Promise<VerificationResult> {
  if (options.recordDir !== undefined) {
    await stopRecordedRuns(options.recordDir, 'a probe left over from before a restart', 0);
    rmSync(options.recordDir, { recursive: true, force: true });
  }
  // Aborted by the first failure; the outer signal aborts it too.
  const stopOthers = new AbortController();
  const signal = AbortSignal.any([options.signal, stopOthers.signal]);
  let firstFailed: CheckResult | undefined;

  const runs = checks.map(async (check) => {
    const result = await runCheck(check, signal, options);
    if (result.state === 'failed') {
      firstFailed ??= result;
      stopOthers.abort();
    }
    return result;
  });
  let results: CheckResult[];
  try {
    results = await Promise.all(runs);
  } finally {
    // Also when a callback threw: nothing of ours keeps running after we return.
    stopOthers.abort();
  }

  const why = firstFailed === undefined ? 'verification was cancelled' : `${firstFailed.name} failed`;
  for (const result of results) {
    if (result.state === 'cancelled') result.message += ` because ${why}`;
  }
  return {
    passed: results.every((r) => r.state === 'passed'),
    checks: results,
    message: summary(results, firstFailed),
  };
}

function summary(results: readonly CheckResult[], firstFailed: CheckResult | undefined): string {
  if (firstFailed !== undefined) {
    const others = results.filter((r) => r.state === 'failed').length - 1;
    const more = others === 0 ? '' : ` (and ${others} other ${plural(others, 'check')} failed)`;
    return `${firstFailed.name} ${firstFailed.message}${more}`;
  }
  const cancelled = results.filter((r) => r.state === 'cancelled').length;
  if (cancelled > 0)
    return `verification was cancelled before ${cancelled} of ${plural(results.length, 'check')} finished`;
  if (results.length === 0) return 'no checks to run';
  return `${plural(results.length, 'check')} passed`;
}

/** The outcome of one probe; 'cancelled' when the run was stopped while it was under way. */
type Outcome = { kind: 'measured'; ok: boolean; detail: string } | { kind: 'cancelled' };

const CANCELLED: Outcome = { kind: 'cancelled' };

function measured(ok: boolean, detail: string): Outcome {
  return { kind: 'measured', ok, detail };
}

async function runCheck(check: VerifyCheck, signal: AbortSignal, options: VerificationOptions): Promise<CheckResult> {
  const name = withoutUrlSecrets(check.name);
  const measurements: Measurement[] = [];
  let failures = 0;
  const result = (state: CheckResult['state'], message: string): CheckResult => ({
    name,
    state,
    measurements,
    failures,
    message,
  });
  const cancelled = (): CheckResult =>
    result('cancelled', `cancelled after ${measurements.length} of ${plural(check.count, 'measurement')}`);

  const problem = invalidCheck(check);
  if (problem !== undefined) return result('failed', `was not run: ${problem}`);

  await pause(check.initialDelayMs, signal, options);
  for (let n = 1; n <= check.count; n++) {
    if (signal.aborted) return cancelled();
    const started = options.now();
    const outcome = await measure(check, name, signal, options);
    // A measurement cut short by cancellation says nothing about the target: it is not recorded.
    if (outcome.kind === 'cancelled' || signal.aborted) return cancelled();

    const measurement: Measurement = { at: started.toISOString(), ok: outcome.ok, detail: outcome.detail };
    measurements.push(measurement);
    if (!measurement.ok) failures++;
    options.log?.(
      name,
      `measurement ${n} of ${check.count} ${measurement.ok ? 'ok' : 'failed'}: ${measurement.detail}`,
    );
    options.onMeasurement?.(name, measurement);
    if (failures > check.failureLimit) {
      return result(
        'failed',
        `failed on measurement ${n} of ${check.count}: ${measurement.detail} (failures ${failures} > failureLimit ${check.failureLimit})`,
      );
    }
    if (n < check.count) {
      const took = options.now().getTime() - started.getTime();
      await pause(check.intervalMs - took, signal, options);
    }
  }
  const succeeded = check.count - failures;
  const tolerated = failures === 0 ? '' : ` (failures ${failures} ≤ failureLimit ${check.failureLimit})`;
  return result('passed', `passed: ${succeeded} of ${plural(check.count, 'measurement')} succeeded${tolerated}`);
}

/**
 * The config schema should have rejected these; a check that cannot be run as written fails rather
 * than passing with no measurement.
 */
function invalidCheck(check: VerifyCheck): string | undefined {
  if ((check.http === undefined) === (check.command === undefined)) return 'it needs exactly one of http and command';
  if (!Number.isInteger(check.count) || check.count < 1) return `count is ${check.count}, not an integer ≥ 1`;
  if (!Number.isInteger(check.failureLimit) || check.failureLimit < 0)
    return `failureLimit is ${check.failureLimit}, not an integer ≥ 0`;
  if (!(check.intervalMs >= 0) || !(check.initialDelayMs >= 0)) return 'intervalMs and initialDelayMs must be ≥ 0';
  if (check.http !== undefined && !(check.http.timeoutMs > 0)) return 'http.timeoutMs must be > 0';
  return undefined;
}

function measure(
  check: VerifyCheck,
  name: string,
  signal: AbortSignal,
  options: VerificationOptions,
): Promise<Outcome> {
  if (check.http !== undefined) return probeHttp(check.http, check.expect, name, signal, options);
  if (check.command !== undefined) return probeCommand(check.command, name, signal, options);
  return Promise.resolve(measured(false, 'no probe'));
}

/** Waits `ms` (nothing when ≤ 0); returns early, without throwing, when `signal` aborts. */
async function pause(ms: number, signal: AbortSignal, options: VerificationOptions): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  let onAbort = (): void => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const sleeping = options.sleep !== undefined ? options.sleep(ms, signal) : delay(ms, undefined, { signal });
    await Promise.race([sleeping, aborted]);
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

// ---------------------------------------------------------------------------------------------------
// HTTP

async function probeHttp(
  probe: HttpProbe,
  expect: VerifyCheck['expect'],
  name: string,
  signal: AbortSignal,
  options: VerificationOptions,
): Promise<Outcome> {
  let target: { url: string; headers: Record<string, string> };
  try {
    target = requestTarget(probe);
  } catch {
    return measured(false, `invalid URL ${withoutUrlSecrets(probe.url)}`);
  }
  const timeout = AbortSignal.timeout(probe.timeoutMs);
  try {
    const response = await fetch(target.url, {
      method: probe.method,
      headers: target.headers,
      body: probe.body,
      signal: AbortSignal.any([signal, timeout]),
    });
    const status = response.status;
    if (expect === undefined) {
      // Only the status matters; do not download the body.
      await response.body?.cancel();
      return measured(status >= 200 && status < 300, `HTTP ${status}`);
    }
    const { text, truncated } = await readCapped(response, MAX_BODY_BYTES);
    if (truncated) options.log?.(name, `response body cut at ${MAX_BODY_BYTES} bytes`);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      headers[key] = value;
    });
    let verdict: unknown;
    try {
      verdict = expect({ status, headers, body: parseBody(text) });
    } catch (error) {
      return measured(false, `HTTP ${status}: expect threw: ${withoutUrlSecrets(errorMessage(error))}`);
    }
    // Strictly true: a Promise or any other truthy value returned by mistake must not pass the check.
    return verdict === true ? measured(true, `HTTP ${status}`) : measured(false, `HTTP ${status}: expect was false`);
  } catch (error) {
    if (signal.aborted) return CANCELLED;
    if (timeout.aborted) return measured(false, `timeout after ${shortDuration(probe.timeoutMs)}`);
    return measured(false, networkReason(error));
  }
}

/**
 * fetch refuses URLs with credentials in them; `https://user:pass@host/` means Basic authentication
 * (as it does to curl), unless the probe sets its own Authorization header.
 */
function requestTarget(probe: HttpProbe): { url: string; headers: Record<string, string> } {
  const url = new URL(probe.url);
  const headers = { ...probe.headers };
  if (url.username === '' && url.password === '') return { url: url.href, headers };
  const hasAuthorization = Object.keys(headers).some((key) => key.toLowerCase() === 'authorization');
  if (!hasAuthorization) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  url.username = '';
  url.password = '';
  return { url: url.href, headers };
}

/** Reads at most `limit` bytes of the body as UTF-8 and cancels the rest of the download. */
async function readCapped(response: Response, limit: number): Promise<{ text: string; truncated: boolean }> {
  if (response.body === null) return { text: '', truncated: false };
  // undici types the stream's chunks loosely; a fetch body is always bytes.
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text: text + decoder.decode(), truncated: false };
    const room = limit - bytes;
    if (value.byteLength > room) {
      text += decoder.decode(value.subarray(0, room));
      await reader.cancel();
      return { text, truncated: true };
    }
    bytes += value.byteLength;
    text += decoder.decode(value, { stream: true });
  }
}

/**
 * JSON when the text parses as JSON (whatever the content-type says: a JSON content-type with a body
 * that does not parse gives the text too), else the text itself.
 */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
};

/** fetch's own message is only "fetch failed"; what went wrong is in its cause. */
function networkReason(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_REASONS[code] !== undefined) return NETWORK_REASONS[code];
  return withoutUrlSecrets(errorMessage(cause));
}

/** "5s", "1.5s", "250ms": for "timeout after …". */
function shortDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  return `${Number((ms / 1000).toFixed(1))}s`;
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/**
 * Every URL in `text` without userinfo, query string or fragment; the rest as written (not normalised,
 * so a name reads as the user wrote it). The authority ends at the first `/`, `?` or `#`, as in WHATWG
 * URL parsing, and userinfo at its last `@`.
 */
function withoutUrlSecrets(text: string): string {
  return text.replace(URL_IN_TEXT, (url) =>
    url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1').replace(/[?#].*$/, ''),
  );
}

// ---------------------------------------------------------------------------------------------------
// Commands

/**
 * Runs `argv` without a shell and measures its exit status. The child leads its own process group so
 * that cancellation kills everything it started; a probe only observes, so it gets SIGKILL at once
 * rather than a grace period, and nothing of it outlives the verification into a rollback.
 */
function probeCommand(
  probe: CommandProbe,
  name: string,
  signal: AbortSignal,
  options: VerificationOptions,
): Promise<Outcome> {
  const [file, ...args] = probe.argv;
  if (file === undefined || file === '') return Promise.resolve(measured(false, 'failed to start: argv is empty'));
  if (signal.aborted) return Promise.resolve(CANCELLED);

  return new Promise<Outcome>((resolve) => {
    let settled = false;
    let lastStderrLine: string | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

    const record = options.recordDir === undefined ? undefined : path.join(options.recordDir, `probe-${++probes}`);
    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(drainTimer);
      if (record !== undefined) rmSync(record, { recursive: true, force: true });
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };

    const onAbort = (): void => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // ESRCH: the group is gone already.
        }
      }
      finish(CANCELLED);
    };

    child.on('error', (error: NodeJS.ErrnoException) => {
      // Without a pid the program could not be started (ENOENT, EACCES).
      if (child.pid === undefined) finish(measured(false, `failed to start: ${error.code ?? errorMessage(error)}`));
    });
    child.once('spawn', () => {
      if (record !== undefined && child.pid !== undefined) recordStarted(record, child.pid);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });

    // Lines still buffered when the measurement was cancelled are dropped: the caller has moved on.
    forEachLine(child.stdout, (line) => {
      if (!settled) options.log?.(name, line);
    });
    forEachLine(child.stderr, (line) => {
      if (!settled) options.log?.(name, line);
      // Blank lines say nothing in a detail; keep the last line with content.
      if (line.trim() !== '') lastStderrLine = line;
    });

    child.once('exit', () => {
      // Something the command left running may hold its pipes open; do not wait for it.
      drainTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, DRAIN_AFTER_EXIT_MS);
    });
    child.once('close', (code: number | null, killedBy: NodeJS.Signals | null) => {
      if (child.pid === undefined) return;
      if (killedBy !== null) return finish(measured(false, `killed by ${killedBy}`));
      if (code === 0) return finish(measured(true, 'exit 0'));
      const last = lastStderrLine === undefined ? '' : `: ${lastStderrLine.slice(0, MAX_DETAIL_LINE)}`;
      finish(measured(false, `exit ${code ?? 'unknown'}${last}`));
    });
  });
}

/** Numbers probe records within this process. */
let probes = 0;

function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
