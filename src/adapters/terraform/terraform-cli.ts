import path from 'node:path';
import type { StepContext } from '../../core/adapter.js';
import { parseDuration } from '../../core/duration.js';
import { StepFailure } from '../../core/errors.js';
import { nextRecordDir, runRecorded } from '../command/run-journal.js';
import { runProcess } from '../command/run-process.js';
import type { ProcessOutput } from '../command/run-process.js';
import type { TerraformSpec } from './terraform-spec.js';

/**
 * Runs the Terraform (or OpenTofu) CLI through its documented contract only: arguments, exit codes,
 * and the JSON of `show -json` and `output -json`. Nothing else of Terraform's is read.
 */
export interface TerraformRun {
  /** The subcommand and its arguments (`['plan', '-input=false', …]`). */
  args: string[];
  /** Where terraform runs: the root module. */
  cwd: string;
  /** Exit codes that are not failures (plan -detailed-exitcode: 0 and 2). */
  okCodes?: readonly number[];
  /**
   * Whether the output lines go to the step log. Off for `show -json` and `output -json`: they print
   * variable values and sensitive outputs in clear.
   */
  log: boolean;
  /** For messages: what this run was for (`plan`, `apply`, `observe`). */
  phase: string;
}

export interface TerraformResult {
  code: number;
  output: ProcessOutput;
}

/** Terraform's data directory for this component in this environment. */
export function dataDir(ctx: StepContext): string {
  const safe = (name: string): string => encodeURIComponent(name === '' ? '_' : name);
  return path.join(
    ctx.cacheDir,
    'terraform',
    'data',
    safe(ctx.project),
    safe(ctx.component),
    safe(ctx.environment.name),
  );
}

export async function runTerraform(spec: TerraformSpec, run: TerraformRun, ctx: StepContext): Promise<TerraformResult> {
  const timeoutMs = parseDuration(spec.timeout);
  if (timeoutMs === undefined) throw new Error(`timeout ${spec.timeout} is not a duration: the spec was not parsed`);
  const file = spec.binary.includes('/') ? path.resolve(ctx.projectDir, spec.binary) : spec.binary;
  // Terraform keeps the initialised backend and the selected workspace in its data directory (normally
  // `.terraform` in the module). One per component and environment, under the cache, so environments
  // with different backend settings or workspaces never share, or race on, one.
  const env: NodeJS.ProcessEnv = { ...process.env, TF_DATA_DIR: dataDir(ctx) };
  for (const [name, value] of Object.entries(spec.env)) env[name] = String(value);
  // Terraform's documented switches for running without a person: no prompts, no "next steps" hints.
  env.TF_IN_AUTOMATION = '1';
  env.TF_INPUT = '0';
  const subcommand = run.args[0] ?? '';
  if (run.log) ctx.log(`$ ${spec.binary} ${subcommand}`);
  const request = {
    file,
    args: [...run.args],
    cwd: run.cwd,
    env,
    timeoutMs,
    signal: ctx.signal,
    onLine: (line: string) => {
      if (run.log) ctx.log(line);
    },
    onAlive: ctx.heartbeat,
  };
  // In apply and rollback every terraform run is recorded: after a crash, an apply that finished is
  // read back and one still running is waited for, never raced by a second one on the same state.
  const recordDir = nextRecordDir(ctx, `terraform-${subcommand}`);
  const result =
    recordDir === undefined
      ? await runProcess(request)
      : await runRecorded({ ...request, recordDir, note: (line) => ctx.log(`${spec.binary} ${subcommand}: ${line}`) });
  const what = `${run.phase}: ${spec.binary} ${subcommand}`;
  switch (result.kind) {
    case 'exited': {
      const ok = run.okCodes ?? [0];
      if (ok.includes(result.code)) return { code: result.code, output: result.output };
      // The last stderr line is Terraform's error summary; stdout of the JSON commands may hold values.
      const last = result.output.lastStderrLine ?? (run.log ? result.output.lastStdoutLine : undefined);
      throw new StepFailure(
        `${what} exited with code ${result.code}${last === undefined ? '' : `: ${last.trim()}`}`,
        false,
      );
    }
    case 'signalled':
      throw new StepFailure(`${what} was killed by signal ${result.signal}`, false);
    case 'timed-out':
      throw new StepFailure(`${what} timed out after ${spec.timeout}`, false);
    case 'vanished':
      throw new StepFailure(`${what} was started before Lockstep stopped and ended without recording how (killed from outside, or the machine restarted)`, false);
    case 'aborted':
      throw result.reason instanceof Error
        ? result.reason
        : new StepFailure(`${run.phase}: cancelled`, false, { cause: result.reason });
    case 'spawn-failed': {
      const hint =
        result.error.code === 'ENOENT'
          ? `not found (${file.includes('/') ? 'a path' : 'searched on PATH'}); install Terraform or OpenTofu, or set binary`
          : result.error.message;
      throw new StepFailure(`${run.phase}: could not start ${spec.binary}: ${hint}`, false, {
        cause: result.error,
        untouched: true,
      });
    }
  }
}
