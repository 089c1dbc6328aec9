import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig, ServerHostKeyAlgorithm, SFTPWrapper } from 'ssh2';
import { limitText } from '../../core/duration.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { checkHostKey, knownHostsName, pinnedKeyTypes } from './known-hosts.js';
import type { HostKeyCheck, KnownHosts } from './known-hosts.js';
import { quote } from './shell.js';
import { notASymlink, OutputCollector } from './transport.js';
import type { HostTarget, RunOptions, RunResult, TransferOptions, Transport } from './transport.js';

/**
 * Transport over SSH (the `ssh2` client): scripts run in exec channels, files move over SFTP. One
 * connection per host per adapter call; it is closed when the call ends or its signal aborts.
 *
 * The host key is checked against the known_hosts file before anything else is sent: an unknown key
 * refuses the connection (never trusted on first use), a different key names both fingerprints.
 */
export interface SshConnectOptions {
  readonly privateKey: string;
  readonly passphrase: string | undefined;
  readonly knownHosts: KnownHosts;
  /** How messages name the known_hosts file (as written in the spec). */
  readonly knownHostsFile: string;
  readonly connectTimeoutMs: number;
  readonly signal: AbortSignal;
}

/** ssh2's host key algorithms, in its default order. */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;

/** The algorithms that make a server present a key of a known_hosts key type. */
function algorithmsFor(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return (HOST_KEY_ALGORITHMS as readonly string[]).includes(keyType) ? [keyType] : [];
}

/** How long a remote command gets between the TERM signal and closing its channel. */
const KILL_GRACE_MS = 2_000;
/** SFTP status code for "no such file". */
const SFTP_NO_SUCH_FILE = 2;
/** What OpenSSH's sftp-server answers when readlink(2) fails with EINVAL (the path is no symlink). */
const SFTP_NOT_A_LINK = [4, 5];

export async function connectSsh(host: HostTarget, options: SshConnectOptions): Promise<Transport> {
  // Loaded by the first connection, not with the adapter: ssh2 takes about 40 ms to load, which
  // commands that never open a connection (`validate`, `schema`, local hosts) must not pay.
  const { Client } = await import('ssh2');
  // After the import: the abort listener below would never hear of an abort that came during it.
  if (options.signal.aborted) throw options.signal.reason;
  const client = new Client();
  const knownName = knownHostsName(host.host, host.port);
  let hostKey: HostKeyCheck | undefined;
  const pinned = pinnedKeyTypes(options.knownHosts, knownName).flatMap(algorithmsFor);
  const config: ConnectConfig = {
    host: host.host,
    port: host.port,
    username: host.user,
    privateKey: options.privateKey,
    ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
    readyTimeout: options.connectTimeoutMs,
    keepaliveInterval: 10_000,
    keepaliveCountMax: 3,
    // Offer the pinned key types first, so a server with several keys shows one we can check.
    algorithms: { serverHostKey: [...new Set([...pinned, ...HOST_KEY_ALGORITHMS])] as ServerHostKeyAlgorithm[] },
    hostVerifier: (key: Buffer): boolean => {
      hostKey = checkHostKey(options.knownHosts, knownName, key);
      return hostKey.kind === 'trusted';
    },
  };

  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      done();
      client.destroy();
      reject(options.signal.reason as Error);
    };
    const done = (): void => {
      options.signal.removeEventListener('abort', onAbort);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      // A client given up on may still report its end ('Connection lost before handshake'): without
      // a listener that would crash the process.
      client.on('error', () => undefined);
    };
    const onError = (error: Error & { level?: string; code?: string }): void => {
      done();
      client.destroy();
      reject(connectFailure(host, error, hostKey, options));
    };
    const onClose = (): void => {
      done();
      reject(new StepFailure(`host ${host.name}: the SSH connection closed before it was ready`, true, { untouched: true }));
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    client.once('ready', () => {
      done();
      resolve();
    });
    client.on('error', onError);
    client.once('close', onClose);
    try {
      client.connect(config);
      // Each exec is a few small request/reply packets: without this, Nagle's algorithm and delayed
      // acknowledgements add ~40 ms to every one.
      client.setNoDelay(true);
    } catch (error) {
      // ssh2 throws here for a key it cannot parse; its message never quotes the key.
      onError(error as Error);
    }
  });
  return new SshTransport(host, client, options.signal);
}

/** Words a failed connection for the person reading the step log: always names the host. */
function connectFailure(
  host: HostTarget,
  error: Error & { level?: string; code?: string },
  hostKey: HostKeyCheck | undefined,
  options: SshConnectOptions,
): StepFailure {
  const where = `host ${host.name}`;
  const file = options.knownHostsFile;
  const untouched = { cause: error, untouched: true };
  if (hostKey !== undefined && hostKey.kind !== 'trusted') {
    const seen = `${hostKey.seen.fingerprint} (${hostKey.seen.type})`;
    const name = knownHostsName(host.host, host.port);
    switch (hostKey.kind) {
      case 'unknown':
        return new StepFailure(
          `${where}: host key ${seen} is not in the known_hosts file ${file}, so the connection was refused ` +
            `(host keys are pinned, never trusted on first use). If that is the host's key, add it: ` +
            `ssh-keyscan ${host.port === 22 ? '' : `-p ${host.port} `}${host.host} >> ${file} (the entry is for ${name}), and compare the fingerprint with ssh-keygen -lf ${file}`,
          false,
          untouched,
        );
      case 'mismatch':
        return new StepFailure(
          `${where}: HOST KEY MISMATCH: the host presented ${seen}, but ${file} pins ` +
            `${hostKey.expected.map((k) => `${k.fingerprint} (${k.type})`).join(', ')} for ${name}. ` +
            'Someone may be intercepting the connection, or the host was reinstalled; check with its owner before updating the file',
          false,
          untouched,
        );
      case 'revoked':
        return new StepFailure(`${where}: host key ${seen} is marked @revoked in ${file} (line ${hostKey.line}); refusing to connect`, false, untouched);
    }
  }
  const message = error.message;
  if (/privateKey|private key|passphrase/i.test(message)) {
    return new StepFailure(`${where}: the private key cannot be used: ${message}`, false, untouched);
  }
  switch (error.level) {
    case 'client-authentication':
      return new StepFailure(
        `${where}: user ${host.user} was refused (public key authentication failed): the key is not authorized for ${host.user} on ${host.name}, or it is the wrong key`,
        false,
        untouched,
      );
    case 'client-timeout':
      // readyTimeout covers everything before the first command: a listener that never sends its
      // banner, a key exchange or a login that never completes.
      return new StepFailure(
        `${where}: no answer from ${host.host} port ${host.port} within ${limitText(options.connectTimeoutMs)} (SSH banner, key exchange and login; connectTimeout)`,
        true,
        untouched,
      );
    case 'client-socket': {
      const why = socketReason(error.code) ?? message;
      return new StepFailure(`${where}: cannot connect to ${host.host} port ${host.port}: ${why}`, true, untouched);
    }
    default:
      return new StepFailure(`${where}: the SSH connection failed: ${message}`, false, untouched);
  }
}

function socketReason(code: string | undefined): string | undefined {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is sshd running, and is this the right port?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the name does not resolve';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ECONNRESET':
      return 'the connection was reset';
    default:
      return undefined;
  }
}

class SshTransport implements Transport {
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private closed = false;
  /** Why the connection ended under us, for the operations that were waiting on it. */
  private lost: string | undefined;

  constructor(
    readonly host: HostTarget,
    private readonly client: Client,
    private readonly signal: AbortSignal,
  ) {
    client.on('error', (error: Error) => {
      this.lost = error.message;
    });
    client.on('close', () => {
      this.lost ??= 'the connection closed';
      this.closed = true;
    });
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => this.close();

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.client.end();
  }

  /** The error for an operation that failed: the abort reason when aborted, else a StepFailure naming the host. */
  private failure(what: string, error: unknown): Error {
    if (this.signal.aborted) return this.signal.reason as Error;
    if (error instanceof StepFailure) return error;
    const why = this.lost !== undefined ? `the SSH connection was lost (${this.lost})` : errorMessage(error);
    return new StepFailure(`host ${this.host.name}: ${what}: ${why}`, this.lost !== undefined, { cause: error });
  }

  run(script: string, options: RunOptions): Promise<RunResult> {
    if (options.signal.aborted) return Promise.reject(options.signal.reason as Error);
    return new Promise<RunResult>((resolve, reject) => {
      // The command's limit starts now: a server that never opens the channel cannot stall the step.
      const started = Date.now();
      let opened = false;
      const giveUp = (error: Error): void => {
        if (opened) return;
        opened = true;
        clearTimeout(unopened);
        options.signal.removeEventListener('abort', onAbort);
        this.close();
        reject(error);
      };
      const unopened = setTimeout(
        () => giveUp(new StepFailure(`host ${this.host.name}: no answer within ${limitText(options.timeoutMs)} (opening a session for a command)`, true)),
        options.timeoutMs,
      );
      const onAbort = (): void => giveUp(options.signal.reason as Error);
      options.signal.addEventListener('abort', onAbort, { once: true });
      // The login shell may be anything; /bin/sh runs the script the same way everywhere.
      this.client.exec(`/bin/sh -c ${quote(script)}`, (error, channel) => {
        clearTimeout(unopened);
        options.signal.removeEventListener('abort', onAbort);
        if (opened) {
          channel?.close();
          return;
        }
        opened = true;
        if (error) {
          reject(this.failure('could not start a command', error));
          return;
        }
        this.watch(channel, { ...options, timeoutMs: Math.max(0, options.timeoutMs - (Date.now() - started)) }, resolve, reject);
      });
    });
  }

  private watch(
    channel: ClientChannel,
    options: RunOptions,
    resolve: (result: RunResult) => void,
    reject: (error: Error) => void,
  ): void {
    const output = new OutputCollector();
    let exit: { code: number | null; signal: string | undefined } | undefined;
    let ending: 'timed-out' | 'aborted' | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];

    const stop = (why: 'timed-out' | 'aborted'): void => {
      if (ending !== undefined || settled) return;
      ending = why;
      // OpenSSH delivers the signal to the command; closing the channel afterwards ends it for us either way.
      try {
        channel.signal('TERM');
      } catch {
        // The channel may be gone already.
      }
      timers.push(setTimeout(() => channel.close(), KILL_GRACE_MS));
    };
    const onAbort = (): void => stop('aborted');
    options.signal.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => stop('timed-out'), options.timeoutMs));
    const heartbeat = setInterval(options.onAlive, 2_000);

    const lines = (stream: Readable, name: 'stdout' | 'stderr'): void => {
      if (name === 'stdout') stream.on('data', (chunk: Buffer) => output.stdoutText(chunk.toString('utf8')));
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        output.line(line, name);
        options.onLine?.(line, name);
        options.onAlive();
      });
    };
    lines(channel, 'stdout');
    lines(channel.stderr, 'stderr');

    channel.on('exit', (code: number | null, signal?: string) => {
      exit = { code, signal: signal ?? undefined };
    });
    channel.on('close', () => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      clearInterval(heartbeat);
      options.signal.removeEventListener('abort', onAbort);
      if (ending === 'aborted') return reject(options.signal.reason as Error);
      if (ending === 'timed-out') return resolve({ kind: 'timed-out', output: output.result() });
      if (exit === undefined) return reject(this.failure('a command did not finish', new Error('no exit status')));
      if (exit.code !== null) return resolve({ kind: 'exited', code: exit.code, output: output.result() });
      resolve({ kind: 'signalled', signal: exit.signal ?? 'unknown', output: output.result() });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((error, sftp) => (error ? reject(this.failure('could not open SFTP', error)) : resolve(sftp)));
    });
    return this.sftpSession;
  }

  async upload(localFile: string, path: string, options: TransferOptions): Promise<void> {
    if (options.signal.aborted) throw options.signal.reason;
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      sftp.fastPut(localFile, path, { step: () => options.onAlive() }, (error) =>
        error ? reject(this.failure(`upload to ${path} failed`, error)) : resolve(),
      );
    });
  }

  async readlink(path: string): Promise<string | undefined> {
    const sftp = await this.sftp();
    return new Promise<string | undefined>((resolve, reject) => {
      sftp.readlink(path, (error: (Error & { code?: number }) | undefined, target) => {
        if (!error) return resolve(target);
        if (error.code === SFTP_NO_SUCH_FILE) return resolve(undefined);
        if (error.code !== undefined && SFTP_NOT_A_LINK.includes(error.code)) return reject(new StepFailure(notASymlink(this.host, path), false, { cause: error, untouched: true }));
        reject(this.failure(`cannot read the symlink ${path}`, error));
      });
    });
  }

  async switchSymlink(path: string, target: string): Promise<void> {
    const sftp = await this.sftp();
    const temporary = `${path}.tmp`;
    await new Promise<void>((resolve) => sftp.unlink(temporary, () => resolve()));
    await new Promise<void>((resolve, reject) =>
      sftp.symlink(target, temporary, (error) => (error ? reject(this.failure(`cannot create the symlink ${temporary}`, error)) : resolve())),
    );
    // posix-rename@openssh.com is rename(2): atomic, replacing the old link.
    await new Promise<void>((resolve, reject) =>
      sftp.ext_openssh_rename(temporary, path, (error) => (error ? reject(error) : resolve())),
    ).catch(async (error: unknown) => {
      if (this.signal.aborted) throw this.signal.reason;
      // A server without the extension: GNU mv -T renames the same way.
      const result = await this.run(`mv -Tf -- ${quote(temporary)} ${quote(path)}`, {
        signal: this.signal,
        timeoutMs: 60_000,
        onAlive: () => undefined,
      });
      if (result.kind !== 'exited' || result.code !== 0) {
        throw this.failure(`cannot rename ${temporary} over ${path}`, new Error(result.output.lastLine ?? errorMessage(error)));
      }
    });
  }
}
