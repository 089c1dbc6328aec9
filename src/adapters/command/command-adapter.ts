import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Adapter, AdapterPlan, Observed, Outputs, StepContext } from '../../core/adapter.js';
import { parseDuration } from '../../core/duration.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { commandSpec } from './command-spec.js';
import type { CommandKind, CommandLine, CommandSpec } from './command-spec.js';
import { nextRecordDir, runRecorded } from './run-journal.js';
import { runProcess } from './run-process.js';
import type { ProcessOutput, ProcessResult } from './run-process.js';

/**
 * The general-purpose component type: Lockstep runs the user's own programs for apply, and optionally
 * plan, verify, rollback and observe. What it can do follows from which commands the spec has.
 *
 * Failures are StepFailure and not retryable: we cannot know whether a half-run deploy script is safe
 * to run again (the `idempotent` flag is for crash recovery, decided by the engine).
 */
export const commandAdapter: Adapter<CommandSpec> = {
  type: 'command',
  description:
    'Runs your own commands (argv, or /bin/sh with shell: true) to apply, plan, verify, roll back and observe.',
  spec: commandSpec,

  capabilities(spec) {
    return {
      reversible: spec.rollback !== undefined,
      idempotentApply: spec.idempotent,
      observe: spec.observe !== undefined,
    };
  },

  async plan(spec, ctx) {
    const summary = `run ${displayCommand(spec.apply)}`;
    if (spec.plan === undefined) return { summary, risk: 'low' };
    const { output, outputs } = await runCommand(spec, 'plan', spec.plan, ctx);
    const details = output.truncated ? `${output.stdout}\n… (output truncated)` : output.stdout;
    const plan: AdapterPlan = { summary, details, risk: 'low' };
    // What the plan command wrote is what it can predict. `unknown` stays empty: the adapter does not
    // see the declared outputs, and the engine shows each one the plan did not write as known only
    // after the apply.
    if (Object.keys(outputs).length > 0) plan.outputs = { known: outputs, unknown: [] };
    return plan;
  },

  async apply(spec, _plan: AdapterPlan, ctx): Promise<Outputs> {
    const { outputs } = await runCommand(spec, 'apply', spec.apply, ctx);
    return outputs;
  },

  async verify(spec, _outputs, ctx) {
    if (spec.verify === undefined) return;
    await runCommand(spec, 'verify', spec.verify, ctx);
  },

  async rollback(spec, ctx) {
    if (spec.rollback === undefined) {
      // The engine only calls rollback when capabilities say reversible; this is a guard, not a path.
      throw new StepFailure('rollback: this component has no rollback command', false);
    }
    await runCommand(spec, 'rollback', spec.rollback, ctx);
  },

  async observe(spec, ctx): Promise<Observed> {
    if (spec.observe === undefined) return {};
    const { output } = await runCommand(spec, 'observe', spec.observe, ctx);
    const version = output.stdout.trim().split('\n')[0]?.trim();
    return version === undefined || version === '' ? {} : { version };
  },
};

interface CommandRun {
  output: ProcessOutput;
  /**
   * What the command wrote to $LOCKSTEP_OUTPUTS; read for apply (its outputs) and plan (the outputs
   * it predicts), the same way, so a plan script writes what its apply will.
   */
  outputs: Outputs;
}

/**
 * Runs one of the spec's commands to success, or throws StepFailure (or the abort reason). Every run
 * gets its own empty outputs file, removed afterwards whatever happened.
 */
async function runCommand(
  spec: CommandSpec,
  kind: CommandKind,
  command: CommandLine,
  ctx: StepContext,
): Promise<CommandRun> {
  throwIfAborted(ctx.signal, kind);
  const timeoutMs = parseDuration(spec.timeout);
  if (timeoutMs === undefined) throw new Error(`timeout ${spec.timeout} is not a duration: the spec was not parsed`);
  const cwd = path.resolve(ctx.projectDir, spec.cwd ?? '.');

  const { file, args } = toArgv(command, spec.shell);
  const recordDir = nextRecordDir(ctx, kind);
  // A recorded run keeps its outputs file in its record, so that the outputs of an apply that
  // finished while Lockstep was down are read back with its exit status.
  const outputsFile = recordDir === undefined ? createOutputsFile() : path.join(recordDir, 'outputs.json');
  try {
    const request = {
      file,
      args,
      cwd,
      env: buildEnv(spec, ctx, outputsFile),
      timeoutMs,
      signal: ctx.signal,
      onLine: (line: string) => ctx.log(line),
      onAlive: ctx.heartbeat,
    };
    const result =
      recordDir === undefined
        ? await runProcess(request)
        : await runRecorded({ ...request, recordDir, beforeStart: () => closeSync(openSync(outputsFile, 'w', 0o600)), note: (line) => ctx.log(line) });
    // Spawn reports a missing cwd as ENOENT, which would read as "program not found".
    if (result.kind === 'spawn-failed' && ['ENOENT', 'ENOTDIR'].includes(result.error.code ?? ''))
      checkDirectory(cwd, kind, spec.cwd);
    const output = checkResult(result, { kind, name: commandName(command), file, cwd, timeout: spec.timeout });
    const outputs = kind === 'apply' || kind === 'plan' ? readOutputs(outputsFile, kind) : {};
    return { output, outputs };
  } finally {
    // A record's outputs file stays with the record (removed when the promotion finishes).
    if (recordDir === undefined) removeOutputsFile(outputsFile);
  }
}

/**
 * The outputs files live in one private directory per process (mode 0700, from mkdtemp), removed when
 * the process exits: one directory per run cost a mkdtemp and a rmdir on every command.
 *
 * The file operations here are synchronous: they touch one small file in the temp directory, and each
 * asynchronous call was a round trip through the thread pool that a step waited for (half a
 * millisecond or more per step while other steps were finishing; docs/performance.md, Known gaps 3).
 */
let outputsDir: string | undefined;
let outputsCount = 0;

function createOutputsFile(): string {
  for (let attempt = 1; ; attempt++) {
    outputsDir ??= makeOutputsDir();
    const file = path.join(outputsDir, `outputs-${++outputsCount}.json`);
    try {
      closeSync(openSync(file, 'wx', 0o600));
      return file;
    } catch (error) {
      // Removed under us (a temp cleaner, in a long-running process): make a new one, once.
      if (attempt > 1 || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      outputsDir = undefined;
    }
  }
}

function makeOutputsDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-command-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function removeOutputsFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // The command removed it itself.
  }
}

/** The parent's environment, then the spec's `env`, then what Lockstep tells every command. */
function buildEnv(spec: CommandSpec, ctx: StepContext, outputsFile: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(spec.env)) env[name] = String(value);
  return {
    ...env,
    LOCKSTEP_ENVIRONMENT: ctx.environment.name,
    LOCKSTEP_COMPONENT: ctx.component,
    LOCKSTEP_VERSION: ctx.version,
    LOCKSTEP_PREVIOUS_VERSION: ctx.previousVersion ?? '',
    LOCKSTEP_RELEASE: ctx.release.id,
    LOCKSTEP_PROMOTION: ctx.promotionId,
    LOCKSTEP_IDEMPOTENCY_KEY: ctx.idempotencyKey,
    LOCKSTEP_PROJECT: ctx.project,
    LOCKSTEP_OUTPUTS: outputsFile,
  };
}

function toArgv(command: CommandLine, shell: boolean): { file: string; args: string[] } {
  // The spec guarantees the form matches `shell`; a mismatch here means it was not parsed.
  if (shell) {
    if (typeof command !== 'string') throw new Error('shell: true needs the command as one string');
    return { file: '/bin/sh', args: ['-c', command] };
  }
  if (typeof command === 'string') throw new Error('shell: false needs the command as an argv array');
  const [file, ...args] = command;
  if (file === undefined) throw new Error('an argv array needs at least the program');
  return { file, args };
}

interface RunLabel {
  kind: CommandKind;
  /** How messages name the command: the program, or the shell text. */
  name: string;
  file: string;
  cwd: string;
  timeout: string;
}

/** The output of a successful run, or the failure worded for the person reading the step log. */
function checkResult(result: ProcessResult, label: RunLabel): ProcessOutput {
  const { kind, name } = label;
  switch (result.kind) {
    case 'exited':
      if (result.code === 0) return result.output;
      throw new StepFailure(`${kind}: ${name} exited with code ${result.code}${lastLine(result.output)}`, false);
    case 'signalled':
      throw new StepFailure(`${kind}: ${name} was killed by signal ${result.signal}${lastLine(result.output)}`, false);
    case 'timed-out':
      throw new StepFailure(`${kind} timed out after ${label.timeout}`, false);
    case 'aborted':
      throw abortError(result.reason, kind);
    case 'spawn-failed':
      throw spawnFailure(result.error, label);
    case 'vanished':
      throw new StepFailure(
        `${kind}: ${name} was started before Lockstep stopped and ended without recording how (killed from outside, or the machine restarted)${lastLine(result.output)}`,
        false,
      );
  }
}

function lastLine(output: ProcessOutput): string {
  const line = output.lastStderrLine ?? output.lastStdoutLine;
  return line === undefined ? '' : `: ${line.trim()}`;
}

function spawnFailure(error: NodeJS.ErrnoException, { kind, file, cwd }: RunLabel): StepFailure {
  // A name without a slash is looked up on PATH; one with a slash is a path relative to cwd.
  const where = file.includes('/') ? `resolved against cwd ${cwd}` : 'searched on PATH';
  switch (error.code) {
    case 'ENOENT':
      return new StepFailure(
        `${kind}: not found: ${file} (${where}); check the path, or give it relative to the project directory or with cwd`,
        false,
        { cause: error, untouched: true },
      );
    case 'EACCES':
      return new StepFailure(
        `${kind}: permission denied: ${file} (${where}); make it an executable file (chmod +x ${file})`,
        false,
        { cause: error, untouched: true },
      );
    default:
      return new StepFailure(`${kind}: could not start ${file} (${where}): ${error.message}`, false, {
        cause: error,
        untouched: true,
      });
  }
}

/** The abort reason when it is an Error (the engine's own reason for cancelling), else a StepFailure. */
function abortError(reason: unknown, kind: CommandKind): Error {
  if (reason instanceof Error) return reason;
  return new StepFailure(`${kind}: cancelled`, false, { cause: reason });
}

function throwIfAborted(signal: AbortSignal, kind: CommandKind): void {
  if (signal.aborted) throw abortError(signal.reason, kind);
}

function checkDirectory(cwd: string, kind: CommandKind, written: string | undefined): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(cwd).isDirectory();
  } catch {
    // Missing: reported below.
  }
  if (isDirectory) return;
  const from = written === undefined ? 'the project directory' : `cwd: ${written}, relative to the project directory`;
  throw new StepFailure(`${kind}: working directory ${cwd} (${from}) does not exist or is not a directory`, false);
}

/**
 * The outputs from the file at $LOCKSTEP_OUTPUTS (apply's, or those a plan predicts): nothing written
 * means none; otherwise it must be one JSON object. The content is never put in the message: outputs
 * may be secrets, and the engine cannot redact values it never learned.
 */
function readOutputs(file: string, kind: 'apply' | 'plan'): Outputs {
  const text = readFileSync(file, 'utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8 quotes the text in its message; keep only where it went wrong.
    const position = /at position \d+(?: \(line \d+ column \d+\))?/.exec(errorMessage(error))?.[0];
    throw new StepFailure(
      `${kind}: the outputs file ($LOCKSTEP_OUTPUTS) is not valid JSON${position === undefined ? '' : ` (${position})`}; ` +
        'write one JSON object, such as {"role_arn": "arn:aws:iam::123456789012:role/app"}',
      false,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new StepFailure(
      `${kind}: the outputs file ($LOCKSTEP_OUTPUTS) must hold one JSON object of outputs, but holds ${got}`,
      false,
    );
  }
  return value as Outputs;
}

/**
 * The command in one-line messages: the program for argv (the arguments can be long, and the log has
 * them), the shell text (shortened) for shell: true.
 */
function commandName(command: CommandLine): string {
  if (typeof command !== 'string') return command[0] ?? '';
  const oneLine = command.trim().replace(/\s+/g, ' ');
  return oneLine.length > 60 ? `${oneLine.slice(0, 59)}…` : oneLine;
}

/** The command as a person would type it: argv elements quoted for a POSIX shell where needed. */
export function displayCommand(command: CommandLine): string {
  if (typeof command === 'string') return command;
  return command.map(shellQuote).join(' ');
}

function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_\-+=.,/:@%]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
