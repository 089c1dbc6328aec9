import { serve as listen, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { InputError } from '../core/errors.js';
import type { ProjectHandle } from '../project/project-handle.js';
import { createApp } from './app.js';
import { BackgroundRuns } from './background.js';
import { ConfigWatcher } from './config-reload.js';
import type { AppOptions } from './server-env.js';
import { BackgroundWorker } from '../engine/worker.js';
import type { NotifierOptions } from '../engine/notifier.js';

/** The actor of what the server's worker does by itself (audit entries say `identity: automatic`). */
export const SERVER_ACTOR = 'lockstep:server';

/** `HOST:PORT` (`[::1]:8417` for IPv6); port 0 picks a free port. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new InputError(
      `--listen takes HOST:PORT (like 127.0.0.1:8417, or port 0 for a free one), not ${JSON.stringify(value)}`,
      '--listen',
    );
  return { host: match[1] ?? match[2] ?? '', port };
}

export interface RunningServer {
  /** `http://HOST:PORT`, with the port actually bound. */
  url: string;
  /**
   * Stops taking requests, lets those in flight finish, waits for the promotions requests started,
   * then closes the stores.
   */
  close(): Promise<void>;
  /**
   * Reads every project's config again (SIGHUP), as a change on disk does: a valid one is put in
   * force, one with problems is refused and the previous one kept; the server log and the audit log
   * say which. Resolves when that is done; never rejects.
   */
  reloadConfigs(): Promise<void>;
}

/** Serves the API for `projects` until `close`. */
export async function startServer(
  options: Omit<AppOptions, 'background' | 'shutdown'> & {
    host: string;
    port: number;
    /** Run each project's background worker (engine/worker.ts); default true. */
    worker?: boolean;
    /** Read each project's lockstep.yaml again when it changes on disk; default true. */
    watchConfig?: boolean;
    /** How notifications are sent (timeouts, retries); defaults in engine/notify-dispatch.ts. */
    notify?: NotifierOptions;
  },
): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const background = new BackgroundRuns(log);
  const workers =
    options.worker === false
      ? []
      : [...options.projects.values()].map(
          (p) =>
            new BackgroundWorker(
              () => p.deps({ actor: SERVER_ACTOR, actorProof: { identity: 'automatic' } }),
              { log: (line) => log(`${p.name}: ${line}`) },
              undefined,
              options.notify,
            ),
        );
  const configs = [...options.projects.values()].map(
    (p) => new ConfigWatcher(p, { log, actor: SERVER_ACTOR, actorProof: { identity: 'automatic' } }),
  );
  const shutdown = new AbortController();
  const app = createApp({ ...options, log, background, shutdown: shutdown.signal });
  const { server, address } = await new Promise<{ server: ServerType; address: AddressInfo }>((resolve, reject) => {
    const s = listen({ fetch: app.fetch, hostname: options.host, port: options.port }, (info) =>
      resolve({ server: s, address: info }),
    );
    s.once('error', reject);
  });
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  for (const w of workers) w.start();
  if (options.watchConfig !== false) for (const c of configs) c.start();
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    close() {
      closing ??= (async () => {
        // Event streams never end by themselves: end them, or server.close() would wait for them.
        shutdown.abort();
        await new Promise<void>((resolve) => {
          // Keep-alive connections with no request in flight would hold close() open, and so would
          // those whose request ends during the shutdown (an event stream, a slow request) until
          // their keep-alive timeout: close them as they go idle.
          const idle = setInterval(() => closeIdle(server), 50);
          server.close(() => {
            clearInterval(idle);
            resolve();
          });
          closeIdle(server);
        });
        for (const w of workers) w.stop();
        await Promise.all(configs.map((c) => c.stop()));
        const running = workers.reduce((n, w) => n + w.running().length, 0);
        if (running > 0) log(`waiting for ${running} promotion run(s) the background worker started to end`);
        await Promise.all(workers.map((w) => w.idle()));
        if (background.size > 0)
          log(
            `waiting for ${background.size} promotion run(s) started through the API to end (a second signal exits at once; \`lockstep resume\` continues them)`,
          );
        await background.idle();
        await closeAll(options.projects.values());
      })();
      return closing;
    },
    async reloadConfigs() {
      await Promise.all(configs.map((c) => c.reload(true)));
    },
  };
}

function closeIdle(server: ServerType): void {
  if ('closeIdleConnections' in server) server.closeIdleConnections();
}

async function closeAll(projects: Iterable<ProjectHandle>): Promise<void> {
  for (const p of projects) await p.close();
}
