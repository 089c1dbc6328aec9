import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { lockstepAsync } from './cli.js';

/** `lockstep serve` in its own process, as a user runs it, on a free port. */
export interface ServeProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** What it printed on stderr so far (its log). */
  stderr(): string;
  /** Resolves with its exit code (null when a signal ended it) and the signal. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

export async function startServe(dir: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = lockstepAsync(dir, ['serve', '--listen', '127.0.0.1:0', ...args], env);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => line as string),
    exited.then(([code]) => `exited with ${code} before listening`),
  ]);
  const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(first);
  if (!match?.[1]) throw new Error(`lockstep serve did not start: ${first}\n${stderr}`);
  return { child, url: match[1], stderr: () => stderr, exited };
}

/** Stops a server the test started and left running (SIGKILL: its own state no longer matters). */
export async function stopServe(server: ServeProcess | undefined): Promise<void> {
  if (server === undefined || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGKILL');
  await server.exited;
}
