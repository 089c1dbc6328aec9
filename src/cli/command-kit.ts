import { Option, type Command } from 'commander';
import type { EngineDeps } from '../engine/deps.js';
import { openProject, type GlobalOptions, type StateAccess } from './context.js';
import type { Progress } from './progress.js';

/** What the command files share: options, output, and opening the project. */

/** For repeatable options: `--env a --env b`. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<{ config: string; state?: string; actor?: string; secretsFile?: string; output: 'text' | 'json' }>();
  return { config: o.config, state: o.state, actor: o.actor, secretsFile: o.secretsFile, output: o.output };
}

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

export async function withProject<T>(cmd: Command, access: StateAccess, fn: (deps: EngineDeps, opts: GlobalOptions) => Promise<T>, progress?: Progress): Promise<T> {
  const opts = globals(cmd);
  const deps = await openProject(opts, access, progress);
  try {
    return await fn(deps, opts);
  } finally {
    await deps.store.close();
  }
}
