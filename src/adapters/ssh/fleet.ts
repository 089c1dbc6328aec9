import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { StepContext } from '../../core/adapter.js';
import { parseDuration } from '../../core/duration.js';
import { StepFailure } from '../../core/errors.js';
import { HostRelease } from './host-release.js';
import { parseKnownHosts } from './known-hosts.js';
import type { KnownHosts } from './known-hosts.js';
import { nextRecordDir } from '../command/run-journal.js';
import { localTransport } from './local-transport.js';
import { hostList, isUnknownHost, LOCAL_HOST, parseHost } from './ssh-spec.js';
import type { HostEntry, SshSpec } from './ssh-spec.js';
import { connectSsh } from './ssh-transport.js';
import type { HostTarget, Transport } from './transport.js';

/** Lets a caller wrap each opened transport (tests use it to damage an upload on its way). */
export type TransportWrapper = (transport: Transport) => Transport;

/**
 * The spec's hosts, resolved: default user and port filled in, each with the name logs use. A host
 * named by a value known only after its producer applies is refused: only a plan may meet one (see
 * plannedTargets), and nothing is ever sent to it.
 */
export function hostTargets(spec: SshSpec): HostTarget[] {
  const targets = plannedTargets(spec);
  const unknown = targets.filter((t): t is string => typeof t === 'string');
  if (unknown.length > 0) {
    throw new StepFailure(
      `hosts: ${unknown.join(', ')} is known only after its producer applies; the step plans again with the real hosts`,
      false,
      { untouched: true },
    );
  }
  return targets.filter((t): t is HostTarget => typeof t !== 'string');
}

/**
 * The hosts in the order written, each resolved as by hostTargets, or (named by a value known only
 * after its producer applies) as written, for the plan to show in place.
 */
export function plannedTargets(spec: SshSpec): (HostTarget | string)[] {
  const local: HostTarget = { name: LOCAL_HOST, kind: 'local', host: LOCAL_HOST, port: 0, user: '' };
  if (spec.transport === 'local') return [local];
  return hostList(spec.hosts).map((entry): HostTarget | string => {
    if (isUnknownHost(entry)) return shownEntry(entry);
    const written = typeof entry === 'string' ? entry.trim() : entry.host.trim();
    if (written === LOCAL_HOST) return local;
    const parsed = parseHost(written);
    // The spec refused anything parseHost does not accept.
    if (typeof parsed === 'string') throw new Error(`host ${written}: ${parsed}: the spec was not parsed`);
    const port = (typeof entry === 'object' ? entry.port : undefined) ?? parsed.port ?? spec.port;
    const user = (typeof entry === 'object' ? entry.user : undefined) ?? parsed.user ?? spec.user ?? userInfo().username;
    const shown = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
    return { name: port === 22 ? shown : `${shown}:${port}`, kind: 'ssh', host: parsed.host, port, user };
  });
}

/** A host entry as written: `deploy@(known after infra applies)`, `(known after infra applies):2222`. */
function shownEntry(entry: HostEntry): string {
  if (typeof entry === 'string') return entry.trim();
  const user = entry.user === undefined ? '' : `${entry.user}@`;
  return `${user}${entry.host.trim()}${entry.port === undefined ? '' : `:${entry.port}`}`;
}

/** How many hosts one batch holds: `parallel` as a number, or a percentage of the hosts (at least one). */
export function batchSize(parallel: SshSpec['parallel'], hosts: number): number {
  if (typeof parallel === 'number') return Math.max(1, Math.min(parallel, hosts));
  const percent = Number(parallel.slice(0, -1));
  return Math.max(1, Math.ceil((hosts * percent) / 100));
}

export function inBatches<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

/**
 * The connections of one adapter call: opened on first use, one per host, all closed by `close()`.
 * The known_hosts file is read once, when the first SSH host is opened.
 */
export class Fleet {
  private readonly transports = new Map<string, Promise<Transport>>();
  private knownHosts: Promise<KnownHosts> | undefined;

  constructor(
    private readonly spec: SshSpec,
    private readonly ctx: StepContext,
    private readonly wrap: TransportWrapper | undefined,
  ) {}

  /** Log lines for one host carry its name first. */
  log(host: HostTarget): (line: string) => void {
    return (line) => this.ctx.log(`[${host.name}] ${line}`);
  }

  async release(host: HostTarget): Promise<HostRelease> {
    const transport = await this.transport(host);
    return new HostRelease({
      transport,
      dir: this.spec.dir,
      signal: this.ctx.signal,
      log: this.log(host),
      heartbeat: this.ctx.heartbeat,
      timeoutMs: parseDuration(this.spec.timeout) ?? 600_000,
      env: {
        ...Object.fromEntries(Object.entries(this.spec.env).map(([k, v]) => [k, String(v)])),
        LOCKSTEP_ENVIRONMENT: this.ctx.environment.name,
        LOCKSTEP_COMPONENT: this.ctx.component,
        LOCKSTEP_RELEASE: this.ctx.release.id,
        LOCKSTEP_PROMOTION: this.ctx.promotionId,
      },
    });
  }

  private transport(host: HostTarget): Promise<Transport> {
    let opened = this.transports.get(host.name);
    if (opened === undefined) {
      opened = this.open(host).then((t) => (this.wrap ? this.wrap(t) : t));
      this.transports.set(host.name, opened);
    }
    return opened;
  }

  private async open(host: HostTarget): Promise<Transport> {
    if (host.kind === 'local') return localTransport(host, this.ctx.projectDir, () => nextRecordDir(this.ctx, `host-${host.name}`));
    const knownHosts = await this.loadKnownHosts(host);
    return connectSsh(host, {
      // The spec requires both for SSH hosts.
      privateKey: this.spec.privateKey ?? '',
      passphrase: this.spec.passphrase,
      knownHosts,
      knownHostsFile: this.spec.knownHosts ?? '',
      connectTimeoutMs: parseDuration(this.spec.connectTimeout) ?? 20_000,
      signal: this.ctx.signal,
    });
  }

  private loadKnownHosts(host: HostTarget): Promise<KnownHosts> {
    this.knownHosts ??= (async () => {
      const written = this.spec.knownHosts ?? '';
      const file = path.resolve(this.ctx.projectDir, written);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        throw new StepFailure(
          missing
            ? `knownHosts file ${written} does not exist (looked for ${file}); create it with ssh-keyscan ` +
                `(ssh-keyscan ${host.port === 22 ? '' : `-p ${host.port} `}${host.host} >> ${written}) and check the fingerprints with the hosts' owners`
            : `knownHosts file ${written} cannot be read: ${(error as Error).message}`,
          false,
          { cause: error, untouched: true },
        );
      }
      const parsed = parseKnownHosts(text);
      for (const problem of parsed.problems) this.ctx.log(`warning: ${written}: ${problem} (ignored)`);
      return parsed;
    })();
    return this.knownHosts;
  }

  /** Closes every connection that was opened. */
  async close(): Promise<void> {
    const opened = await Promise.allSettled(this.transports.values());
    for (const result of opened) if (result.status === 'fulfilled') result.value.close();
    this.transports.clear();
  }
}

/** Runs `work` over `items` with at most `limit` at once; results in input order, failures as values. */
export async function settleAll<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      const item = items[index] as T;
      try {
        results[index] = { status: 'fulfilled', value: await work(item) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
