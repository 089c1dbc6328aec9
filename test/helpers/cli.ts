import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built CLI, run as a user runs it. `npm test` builds first. */
export const CLI = fileURLToPath(new URL('../../bin/lockstep.js', import.meta.url));
/** What bin/lockstep.js runs (scripts/bundle.mjs). */
const BUILT = fileURLToPath(new URL('../../dist/bundle/lockstep.cjs', import.meta.url));

export function requireBuild(): void {
  if (!existsSync(BUILT)) throw new Error('the CLI is not built: run `npm run build` (npm test does it first)');
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function lockstep(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): CliResult {
  requireBuild();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, LOCKSTEP_ACTOR: 'tester@example.com', ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function lockstepAsync(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  requireBuild();
  return spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, LOCKSTEP_ACTOR: 'tester@example.com', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * As lockstep(), without blocking this process: for tests whose fakes (an HTTP server) run in the
 * test's own event loop and must answer while the CLI runs.
 */
export function lockstepAwait(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const child = lockstepAsync(cwd, args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
