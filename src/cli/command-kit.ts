import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import type { RunObserver } from '../engine/deps.js';
import type { Backend } from './backend.js';
import { readConfig, type GlobalOptions, type StateAccess } from './context.js';
import { HttpBackend, serverToken, serverUrl } from './http-backend.js';
import { LocalBackend } from './local-backend.js';
import { storedToken } from './stored-login.js';

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
  const o = cmd.optsWithGlobals<{ config: string; state?: string; actor?: string; secretsFile?: string; output: 'text' | 'json'; server?: string }>();
  const server = o.server ?? (process.env.LOCKSTEP_SERVER || undefined);
  return { config: o.config, state: o.state, actor: o.actor, secretsFile: o.secretsFile, output: o.output, command: commandPath(cmd), server };
}

/** `release create`, as typed: the names from the program's subcommand down to this one. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

/** Thrown by an action that has already printed its result, to set the exit code. */
export class ReportedError extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * The backend a command talks to: the team server when `--server` or LOCKSTEP_SERVER names one
 * (with LOCKSTEP_TOKEN, or the login `lockstep login` stored), else the engine over the project's files. The only place that asks.
 */
export function openBackend(opts: GlobalOptions, access: StateAccess, observer?: RunObserver): Backend {
  if (opts.server === undefined) return new LocalBackend(opts, access, { command: opts.command, observer });
  // Through a server the actor is whom the token stands for: a claim would be a lie the audit log keeps.
  if (opts.actor !== undefined)
    throw new InputError('--actor cannot be used with a server: the actor is whom LOCKSTEP_TOKEN stands for', '--actor');
  const url = serverUrl(opts.server);
  // LOCKSTEP_TOKEN wins; without it, the login `lockstep login` stored for this server.
  const token = process.env.LOCKSTEP_TOKEN?.trim() ? serverToken(process.env) : storedToken(url);
  return new HttpBackend({ url, token, project: serverProject(opts) }, { command: opts.command, observer });
}

/**
 * Which of the server's projects: LOCKSTEP_PROJECT, else the `project:` of the config here, else
 * none: the backend asks the server which projects know the token (there must be one).
 */
function serverProject(opts: GlobalOptions): string | undefined {
  const named = process.env.LOCKSTEP_PROJECT?.trim();
  if (named) return named;
  if (existsSync(opts.config)) return readConfig(opts.config).config.project;
  return undefined;
}

export async function withBackend<T>(cmd: Command, access: StateAccess, fn: (backend: Backend, opts: GlobalOptions) => Promise<T>, observer?: RunObserver): Promise<T> {
  const opts = globals(cmd);
  const backend = openBackend(opts, access, observer);
  try {
    return await fn(backend, opts);
  } finally {
    await backend.close();
  }
}
