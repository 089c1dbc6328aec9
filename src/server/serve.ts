import { serve as listen, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { limitText } from '../core/duration.js';
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

/**
 * How long a shutdown waits for running steps to end before handing their promotions back anyway:
 * below Kubernetes' default grace period (30 s between SIGTERM and SIGKILL), leaving time for the
 * hand-back commits and the exit.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 20_000;

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
   * Drains, then stops (see docs/server.md, "Shutdown"). At once: /readyz answers 503 `draining`,
   * requests that would change something are refused (503), event streams end, the background worker
   * starts nothing more, and every promotion this server runs starts no new step. Steps already
   * running get `drainTimeoutMs` to end (their commits land); then each promotion is handed back
   * (lease released, left resumable, an audit entry saying so), a step still running included: it
   * is left to crash recovery, as after a kill. Then the listener closes once the requests in flight
   * are answered, and the stores close. Resolves when done; never waits longer for a step.
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
    /** How long `close` lets running steps run before handing their promotions back; default DEFAULT_DRAIN_TIMEOUT_MS. */
    drainTimeoutMs?: number;
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
        // Event streams never end by themselves: end them, or server.close() would wait for them. The
        // same signal makes /readyz say `draining` and refuses requests that would start work.
        shutdown.abort();
        for (const w of workers) w.stop();
        await drain([...options.projects.values()], [...workers.map((w) => w.idle()), background.idle()], options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS, log);
        await Promise.all(configs.map((c) => c.stop()));
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
        await closeAll(options.projects.values());
      })();
      return closing;
    },
    async reloadConfigs() {
      await Promise.all(configs.map((c) => c.reload(true)));
    },
  };
}

/**
 * Every project's runners start no new step; `runs` (the worker's and the requests' promotion runs)
 * end as their running steps end and they hand their promotions back. Past `timeoutMs`, those still
 * running hand theirs back without waiting for their steps.
 */
async function drain(projects: ProjectHandle[], runs: Promise<void>[], timeoutMs: number, log: (line: string) => void): Promise<void> {
  const count = projects.reduce((n, p) => n + p.running.size, 0);
  if (count > 0)
    log(`draining: ${count} promotion run(s) start no new step; running steps get ${limitText(timeoutMs)} to end, then each promotion is handed back (a second signal exits at once)`);
  for (const p of projects) {
    p.running.drain({
      handedBack: (promotion, stillRunning) =>
        log(
          `${p.name}: handed back promotion ${promotion.id.slice(0, 12)} (${promotion.environment}, ${promotion.state})${stillRunning.length > 0 ? ` with ${stillRunning.join(', ')} still running: the next owner recovers them as after a crash` : ''}; the next server to start (or \`lockstep resume\`) carries it on`,
        ),
    });
  }
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    Promise.allSettled(runs).then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (ended) return;
  const left = projects.reduce((n, p) => n + p.running.size, 0);
  log(`drain time (${limitText(timeoutMs)}) is up: handing back ${left} promotion(s) whose steps still run`);
  await Promise.all(projects.map((p) => p.running.abandon()));
}

function closeIdle(server: ServerType): void {
  if ('closeIdleConnections' in server) server.closeIdleConnections();
}

async function closeAll(projects: Iterable<ProjectHandle>): Promise<void> {
  for (const p of projects) await p.close();
}
