import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real OpenSSH servers for the ssh adapter tests: one sshd per "host", each on its own free loopback
 * port with its own generated host key, logging in its own user (made with useradd, so each host has
 * its own home directory, and a relative `dir` lands in a different place on each).
 *
 * Needs root (useradd) and /usr/sbin/sshd.
 */
export const SSHD = '/usr/sbin/sshd';
export const INSTALL_HINT = 'install openssh-server (apt-get install -y --no-install-recommends openssh-server)';

export interface SshdHost {
  /** `127.0.0.1:PORT`, as hosts are written in the spec and named in messages. */
  name: string;
  port: number;
  user: string;
  home: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…`: this host's known_hosts line. */
  knownHostsLine: string;
  /** The host key's fingerprint as OpenSSH prints it (SHA256:…). */
  fingerprint: string;
  /** What sshd printed (for failure messages). */
  log(): string;
}

export interface SshdLab {
  dir: string;
  hosts: SshdHost[];
  /** The client's private key (OpenSSH format), authorized on every host. */
  clientKey: string;
  /** Another valid private key that no host authorizes. */
  strangerKey: string;
  /** A known_hosts file pinning every host. */
  knownHostsFile: string;
  stop(): void;
}

export async function startSshdLab(count: number): Promise<SshdLab> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: ${INSTALL_HINT}`);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-sshd-'));
  // Each host's user must reach its home and the shared authorized_keys below this directory.
  chmodSync(dir, 0o755);
  mkdirSync('/run/sshd', { recursive: true });
  const clientKey = keygen(join(dir, 'client'));
  const strangerKey = keygen(join(dir, 'stranger'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  chmodSync(join(dir, 'authorized_keys'), 0o644);

  const suffix = randomBytes(3).toString('hex');
  const users: string[] = [];
  const servers: ChildProcess[] = [];
  const stop = (): void => {
    for (const server of servers) server.kill('SIGTERM');
    for (const user of users) {
      try {
        // -f: a command a test cancelled may still be running as this user.
        execFileSync('userdel', ['-f', user], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const hosts: SshdHost[] = [];
    for (let i = 1; i <= count; i++) {
      const user = `lockstep-${suffix}-${i}`;
      const home = join(dir, `home-${i}`);
      await withPasswdLock(() => execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/sh', user], { stdio: 'pipe' }));
      users.push(user);
      // useradd locks the account, and sshd refuses even keys for a locked account.
      await withPasswdLock(() => execFileSync('usermod', ['-p', '*', user], { stdio: 'pipe' }));
      mkdirSync(home);
      execFileSync('chown', [user, home]);

      const hostKey = join(dir, `host-${i}`);
      keygen(hostKey);
      const port = await freePort();
      const config = join(dir, `sshd-${i}.conf`);
      writeFileSync(
        config,
        [
          `Port ${port}`,
          'ListenAddress 127.0.0.1',
          `HostKey ${hostKey}`,
          `PidFile ${join(dir, `sshd-${i}.pid`)}`,
          'UsePAM no',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PubkeyAuthentication yes',
          'PermitRootLogin prohibit-password',
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          'StrictModes no',
          'Subsystem sftp internal-sftp',
          'LogLevel ERROR',
          '',
        ].join('\n'),
      );
      let log = '';
      const server = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      server.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
      servers.push(server);
      await waitForBanner(port, () => log);
      const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
      const fingerprint = execFileSync('ssh-keygen', ['-lf', `${hostKey}.pub`], { encoding: 'utf8' }).split(/\s+/)[1] ?? '';
      hosts.push({
        name: `127.0.0.1:${port}`,
        port,
        user,
        home,
        knownHostsLine: `[127.0.0.1]:${port} ${type} ${key}`,
        fingerprint,
        log: () => log,
      });
    }
    const knownHostsFile = join(dir, 'known_hosts');
    writeFileSync(knownHostsFile, hosts.map((h) => h.knownHostsLine).join('\n') + '\n');
    return { dir, hosts, clientKey, strangerKey, knownHostsFile, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/**
 * Test files run in parallel, and useradd/usermod give up when another one holds the lock on
 * /etc/passwd: try again a few times.
 */
async function withPasswdLock(run: () => unknown): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      run();
      return;
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      if (attempt >= 20 || !/lock/i.test(stderr)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** Generates an ed25519 key pair at `file` (+ `.pub`) and returns the private key's text. */
export function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', file]);
  return readFileSync(file, 'utf8');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once the server on `port` sends its SSH banner. */
async function waitForBanner(port: number, log: () => string): Promise<void> {
  const until = Date.now() + 5_000;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.setTimeout(500);
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('SSH-'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
      socket.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`sshd on port ${port} did not start: ${log()}`);
}
