import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSshAdapter, sshAdapter } from '../../../src/adapters/ssh/ssh-adapter.js';
import { sshSpec, type SshSpec } from '../../../src/adapters/ssh/ssh-spec.js';
import type { Transport } from '../../../src/adapters/ssh/transport.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { StepFailure } from '../../../src/core/errors.js';
import { knownAfter } from '../../../src/core/plan.js';
import { stepContext } from '../../helpers/step-context.js';
import { startSshdLab, type SshdHost, type SshdLab } from './sshd.js';
import { failure } from '../../helpers/step-failure.js';

// Real sshd servers (three "hosts", each its own port, host key and user) and real key
// authentication; the adapter connects through ssh2 and runs curl, tar and sha256sum on the hosts.

let lab: SshdLab;
let project: string;
let health: Server;
let healthUrl: string;
let healthRequests = 0;
/** Every line any test's steps logged: checked for the private key at the end. */
const allLines: string[] = [];
let dirCount = 0;

beforeAll(async () => {
  lab = await startSshdLab(3);
  project = mkdtempSync(join(tmpdir(), 'lockstep-ssh-project-'));
  writeFileSync(join(project, 'known_hosts'), readFileSync(lab.knownHostsFile));
  health = createServer((_req, res) => {
    healthRequests += 1;
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  const address = health.address();
  healthUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/healthz`;
});

afterAll(async () => {
  lab?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
  await new Promise((resolve) => health?.close(resolve));
});

/** A fresh deploy directory (relative: each host puts it in its own home) for one test. */
function freshDir(): string {
  dirCount += 1;
  return `srv/app-${dirCount}`;
}

/** A release directory in the project, `artifacts/<version>/`, with a VERSION file. */
function artifact(version: string): string {
  const dir = join(project, 'artifacts', version);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);
  writeFileSync(join(dir, 'bin', 'run'), '#!/bin/sh\necho running\n', { mode: 0o755 });
  return `artifacts/${version}`;
}

function hostsOf(hosts: SshdHost[] = lab.hosts): { host: string; port: number; user: string }[] {
  return hosts.map((h) => ({ host: '127.0.0.1', port: h.port, user: h.user }));
}

function spec(version: string, dir: string, extra: Record<string, unknown> = {}): SshSpec {
  return sshSpec.parse({
    hosts: hostsOf(),
    privateKey: lab.clientKey,
    knownHosts: 'known_hosts',
    artifact: artifact(version),
    dir,
    restart: 'echo "$LOCKSTEP_VERSION" >> "$LOCKSTEP_DIR/restarts"',
    ...extra,
  });
}

function context(version: string, previous: string | undefined, overrides: Partial<StepContext> = {}) {
  const made = stepContext({
    version,
    previousVersion: previous,
    projectDir: project,
    cacheDir: join(project, '.cache'),
    idempotencyKey: `step-${version}-${dirCount}`,
    ...overrides,
  });
  const log = made.ctx.log;
  return { ...made, ctx: { ...made.ctx, log: (line: string) => (allLines.push(line), log(line)) } };
}

async function deploy(s: SshSpec, version: string, previous: string | undefined, adapter = sshAdapter) {
  const c = context(version, previous);
  await adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx);
  return c;
}

/** What `current` on a host points at, read from its disk (ground truth, not through the adapter). */
function running(host: SshdHost, dir: string): string | undefined {
  const link = join(host.home, dir, 'current');
  return existsSync(link) ? readlinkSync(link).replace(/^releases\//, '') : undefined;
}

function restarts(host: SshdHost, dir: string): string[] {
  const file = join(host.home, dir, 'restarts');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

describe('ssh adapter against real sshd hosts', () => {
  it('rolls a release out host by host: upload, checksum, switch, restart, then an HTTP health check run on the host', async () => {
    const dir = freshDir();
    const before = healthRequests;
    const first = await deploy(spec('1.0.0', dir, { health: { http: healthUrl, timeout: '10s' } }), '1.0.0', undefined);
    for (const host of lab.hosts) {
      expect(running(host, dir)).toBe('1.0.0');
      expect(readFileSync(join(host.home, dir, 'current', 'VERSION'), 'utf8')).toBe('1.0.0\n');
      // Unpacked as the host's user, with modes kept.
      expect(lstatSync(join(host.home, dir, 'releases', '1.0.0', 'bin', 'run')).mode & 0o111).not.toBe(0);
      expect(restarts(host, dir)).toEqual(['1.0.0']);
    }
    // curl on each host fetched the URL once.
    expect(healthRequests - before).toBe(3);
    expect(first.lines.some((l) => l.includes('checksum verified on the host'))).toBe(true);

    const s = spec('2.0.0', dir, { health: { http: healthUrl, timeout: '10s' } });
    const second = await deploy(s, '2.0.0', '1.0.0');
    for (const host of lab.hosts) expect(running(host, dir)).toBe('2.0.0');
    // Every line names its host, and each host finished (healthy) before the next one started.
    const [a, b, c] = lab.hosts.map((h) => h.name);
    const at = (text: string) => second.lines.findIndex((l) => l.startsWith('[') && l.includes(text));
    expect(at(`[${a}] healthy`)).toBeLessThan(at(`[${b}] deploying 2.0.0`));
    expect(at(`[${b}] healthy`)).toBeLessThan(at(`[${c}] deploying 2.0.0`));
    expect(at(`[${c}] healthy`)).toBeGreaterThan(0);
    expect(second.heartbeats()).toBeGreaterThan(0);

    const c2 = context('2.0.0', '1.0.0');
    await sshAdapter.verify?.(s, {}, c2.ctx);
    expect(await sshAdapter.observe?.(s, c2.ctx)).toMatchObject({ version: '2.0.0' });
  });

  it('deploys in batches of `parallel` hosts (here all three at once)', async () => {
    const dir = freshDir();
    // A barrier: each host's restart waits until all three have arrived. One host after another, the
    // first restart would wait in vain and fail after 10 s; in one batch, all three pass it.
    const barrier = mkdtempSync(join(tmpdir(), 'lockstep-ssh-barrier-'));
    chmodSync(barrier, 0o777);
    const restart =
      `touch '${barrier}/'"$LOCKSTEP_HOST"; i=0; ` +
      `while [ "$(ls '${barrier}' | wc -l)" -lt 3 ]; do i=$((i+1)); [ "$i" -gt 100 ] && exit 1; sleep 0.1; done`;
    const s = spec('1.0.0', dir, { parallel: '100%', restart });
    const c = context('1.0.0', undefined);
    await sshAdapter.apply(s, { summary: '' }, c.ctx);
    expect(readdirSync(barrier)).toHaveLength(3);
    rmSync(barrier, { recursive: true, force: true });
    expect(c.lines[0]).toBe('rolling out 1.0.0 to 3 host(s), 3 at a time');
    for (const host of lab.hosts) expect(running(host, dir)).toBe('1.0.0');
  });

  it('refuses to deploy where current is a directory rather than a symlink', async () => {
    const dir = freshDir();
    const [h1] = lab.hosts as [SshdHost];
    mkdirSync(join(h1.home, dir, 'current'), { recursive: true });
    const error = await failure(deploy(spec('1.0.0', dir, { hosts: hostsOf([h1]) }), '1.0.0', undefined));
    expect(error.message).toContain(`host ${h1.name}: ${dir}/current is not a symlink`);
    expect(error.untouched).toBe(true);
  });

  it('stops the rollout at the first unhealthy host; rollback switches the hosts it reached back, so all three run the old version', async () => {
    const dir = freshDir();
    const [h1, h2, h3] = lab.hosts as [SshdHost, SshdHost, SshdHost];
    const healthSpec = (version: string) =>
      spec(version, dir, {
        // Broken releases fail their health check on the second host only.
        health: { command: 'case "$LOCKSTEP_VERSION" in *-broken) test "$LOCKSTEP_HOST" != "$FAIL_ON" ;; esac', timeout: '1s', interval: '200ms' },
        env: { FAIL_ON: h2.name },
      });
    await deploy(healthSpec('1.0.0'), '1.0.0', undefined);

    const broken = healthSpec('2.0.0-broken');
    const c = context('2.0.0-broken', '1.0.0');
    const error = await failure(sshAdapter.apply(broken, { summary: '' }, c.ctx));
    expect(error.message).toContain(`host ${h2.name}: health check failed`);
    expect(error.message).toContain(`switched: ${h1.name}, ${h2.name}`);
    expect(error.message).toContain(`not started: ${h3.name}`);
    expect(error.untouched).toBe(false);
    expect([running(h1, dir), running(h2, dir), running(h3, dir)]).toEqual(['2.0.0-broken', '2.0.0-broken', '1.0.0']);
    // The third host was never touched: nothing uploaded.
    expect(existsSync(join(h3.home, dir, 'releases', '2.0.0-broken'))).toBe(false);

    await sshAdapter.rollback?.(broken, c.ctx);
    for (const host of lab.hosts) expect(running(host, dir)).toBe('1.0.0');
    expect(restarts(h1, dir)).toEqual(['1.0.0', '2.0.0-broken', '1.0.0']);
    expect(restarts(h2, dir)).toEqual(['1.0.0', '2.0.0-broken', '1.0.0']);
    expect(restarts(h3, dir)).toEqual(['1.0.0']);
    expect(c.lines).toContain(`[${h3.name}] not switched by this step: left on 1.0.0`);

    // Rolling back again changes nothing (crash recovery may run it twice).
    await sshAdapter.rollback?.(broken, c.ctx);
    expect(restarts(h1, dir)).toHaveLength(3);
  });

  it('after a restart of Lockstep (nothing remembered), rollback takes the hosts on the undone version back to previousVersion', async () => {
    const dir = freshDir();
    const s1 = spec('1.0.0', dir);
    await deploy(s1, '1.0.0', undefined);
    const s2 = spec('2.0.0', dir);
    await deploy(s2, '2.0.0', '1.0.0');
    const fresh = createSshAdapter();
    await fresh.rollback?.(s2, context('2.0.0', '1.0.0').ctx);
    for (const host of lab.hosts) expect(running(host, dir)).toBe('1.0.0');
  });

  it('applying the version a host runs already touches nothing: no upload, no switch, no restart', async () => {
    const dir = freshDir();
    const s = spec('1.0.0', dir);
    await deploy(s, '1.0.0', undefined);
    const host = lab.hosts[0] as SshdHost;
    const link = join(host.home, dir, 'current');
    const before = { link: lstatSync(link).mtimeMs, release: lstatSync(join(host.home, dir, 'releases', '1.0.0')).mtimeMs };
    const again = await deploy(s, '1.0.0', '1.0.0');
    expect(lstatSync(link).mtimeMs).toBe(before.link);
    expect(lstatSync(join(host.home, dir, 'releases', '1.0.0')).mtimeMs).toBe(before.release);
    for (const h of lab.hosts) expect(restarts(h, dir)).toEqual(['1.0.0']);
    expect(again.lines.filter((l) => l.includes('already on 1.0.0: left alone'))).toHaveLength(3);
    expect(again.lines.some((l) => l.includes('uploading'))).toBe(false);
    const plan = await sshAdapter.plan(s, context('1.0.0', '1.0.0').ctx);
    expect(plan.summary).toBe('all 3 host(s) already run 1.0.0');
  });

  it('plans hosts known only after their producer applies with the stand-in in place, reading only the hosts it can name', async () => {
    const dir = freshDir();
    const [first, second] = lab.hosts as [SshdHost, SshdHost];
    await deploy(spec('1.0.0', dir, { hosts: hostsOf([first, second]) }), '1.0.0', undefined);
    const unknown = knownAfter('infra');
    // One string, as an environment variable or an output gives it: the stand-in stays one host.
    const s = spec('1.1.0', dir, {
      hosts: `${first.user}@127.0.0.1:${first.port}, ${unknown} ${second.user}@127.0.0.1:${second.port}`,
      parallel: '50%',
      artifact: `https://${unknown}/app-1.1.0.tar.gz`,
      health: { http: `http://${unknown}:8080/healthz` },
    });
    const c = context('1.1.0', '1.0.0');
    const plan = await sshAdapter.plan(s, c.ctx);
    expect(plan.summary).toBe(`switch 2 of 2 host(s) and ${unknown} to 1.1.0, 50% at a time`);
    expect(plan.details?.split('\n')).toEqual([
      `${first.name}: 1.0.0 → 1.1.0`,
      `${unknown}: → 1.1.0 (what it runs now is read once it is known)`,
      `${second.name}: 1.0.0 → 1.1.0`,
      `artifact: https://${unknown}/app-1.1.0.tar.gz`,
      'restart: echo "$LOCKSTEP_VERSION" >> "$LOCKSTEP_DIR/restarts"',
      `health: GET http://${unknown}:8080/healthz`,
    ]);
    // The step itself never takes a stand-in for a host.
    const error = await failure(sshAdapter.apply(s, plan, c.ctx));
    expect(error.message).toBe(`hosts: ${unknown} is known only after its producer applies; the step plans again with the real hosts`);
    for (const h of [first, second]) expect(restarts(h, dir)).toEqual(['1.0.0']);
  });

  it('refuses a host whose key is not in known_hosts, naming the host and the key it saw; nothing happens on it', async () => {
    const dir = freshDir();
    const [h1, h2] = lab.hosts as [SshdHost, SshdHost];
    writeFileSync(join(project, 'only-first'), `${h1.knownHostsLine}\n`);
    const s = spec('1.0.0', dir, { hosts: hostsOf([h2]), knownHosts: 'only-first' });
    const error = await failure(deploy(s, '1.0.0', undefined));
    expect(error.message).toContain(`host ${h2.name}: host key ${h2.fingerprint} (ssh-ed25519) is not in the known_hosts file only-first`);
    expect(error.message).toContain('never trusted on first use');
    expect(error.untouched).toBe(true);
    expect(existsSync(join(h2.home, dir))).toBe(false);

    writeFileSync(join(project, 'missing-known-hosts-test'), '');
    const missing = await failure(deploy(spec('1.0.0', dir, { knownHosts: 'no/such/file' }), '1.0.0', undefined));
    expect(missing.message).toContain('knownHosts file no/such/file does not exist');
  });

  it('refuses a host whose key differs from the pinned one, naming both fingerprints', async () => {
    const dir = freshDir();
    const [h1, h2] = lab.hosts as [SshdHost, SshdHost];
    // The entry for host 2's address holds host 1's key: what a man in the middle would look like.
    const wrong = h1.knownHostsLine.replace(`[127.0.0.1]:${h1.port}`, `[127.0.0.1]:${h2.port}`);
    writeFileSync(join(project, 'wrong-key'), `${wrong}\n`);
    const s = spec('1.0.0', dir, { hosts: hostsOf([h2]), knownHosts: 'wrong-key' });
    const error = await failure(deploy(s, '1.0.0', undefined));
    expect(error.message).toContain(`host ${h2.name}: HOST KEY MISMATCH`);
    expect(error.message).toContain(`presented ${h2.fingerprint} (ssh-ed25519)`);
    expect(error.message).toContain(`pins ${h1.fingerprint} (ssh-ed25519)`);
    expect(existsSync(join(h2.home, dir))).toBe(false);
  });

  it('accepts hashed known_hosts entries (HashKnownHosts yes)', async () => {
    const dir = freshDir();
    const file = join(project, 'hashed');
    writeFileSync(file, readFileSync(lab.knownHostsFile));
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    await deploy(spec('1.0.0', dir, { knownHosts: 'hashed' }), '1.0.0', undefined);
    for (const host of lab.hosts) expect(running(host, dir)).toBe('1.0.0');
  });

  it('a key the host does not authorize, an unreadable key and an unreachable host each fail clearly, naming the host', async () => {
    const dir = freshDir();
    const [h1] = lab.hosts as [SshdHost];
    const stranger = await failure(deploy(spec('1.0.0', dir, { hosts: hostsOf([h1]), privateKey: lab.strangerKey }), '1.0.0', undefined));
    expect(stranger.message).toContain(`host ${h1.name}: user ${h1.user} was refused (public key authentication failed)`);
    expect(stranger.untouched).toBe(true);

    const garbage = '-----BEGIN OPENSSH PRIVATE KEY-----\nnot really a key\n-----END OPENSSH PRIVATE KEY-----\n';
    const unreadable = await failure(deploy(spec('1.0.0', dir, { hosts: hostsOf([h1]), privateKey: garbage }), '1.0.0', undefined));
    expect(unreadable.message).toContain(`host ${h1.name}: the private key cannot be used`);
    expect(unreadable.message).not.toContain('not really a key');

    // A port nobody listens on: the lab's ports come from the same range, so take one and close it.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
      });
    });
    writeFileSync(join(project, 'closed-known-hosts'), readFileSync(lab.knownHostsFile));
    const unreachable = await failure(deploy(spec('1.0.0', dir, { hosts: [`127.0.0.1:${closed}`], knownHosts: 'closed-known-hosts' }), '1.0.0', undefined));
    expect(unreachable.message).toContain(`host 127.0.0.1:${closed}: cannot connect to 127.0.0.1 port ${closed}: connection refused`);
    expect(unreachable.retryable).toBe(true);
    expect(existsSync(join(h1.home, dir))).toBe(false);
  });

  it('checks the upload on the host against the local file: a damaged upload stops before the switch', async () => {
    const dir = freshDir();
    const [h1] = lab.hosts as [SshdHost];
    // The upload arrives with one byte more than was sent.
    const damaging = createSshAdapter({
      wrapTransport: (t: Transport): Transport => ({
        ...t,
        host: t.host,
        run: (script, o) => t.run(script, o),
        readlink: (p) => t.readlink(p),
        switchSymlink: (p, target) => t.switchSymlink(p, target),
        close: () => t.close(),
        upload: async (local, remote, o) => {
          await t.upload(local, remote, o);
          await t.run(`printf x >> '${remote}'`, { ...o, timeoutMs: 5_000 });
        },
      }),
    });
    const s = spec('1.0.0', dir, { hosts: hostsOf([h1]) });
    const error = await failure(deploy(s, '1.0.0', undefined, damaging));
    expect(error.message).toMatch(new RegExp(`host ${h1.name.replaceAll('.', '\\.')}: the uploaded artifact's SHA-256 is [0-9a-f]{64}, but the local file's is [0-9a-f]{64}`));
    expect(error.untouched).toBe(true);
    expect(running(h1, dir)).toBeUndefined();
    // Nothing half-unpacked is left behind.
    expect(readdirSync(join(h1.home, dir, 'releases'))).toEqual([]);

    // An artifact that is not the one the spec names is refused before anything is uploaded.
    const other = freshDir();
    writeFileSync(join(project, 'app.tar.gz'), 'not the right bytes');
    const pinned = spec('1.0.0', other, { hosts: hostsOf([h1]), artifact: { path: 'app.tar.gz', sha256: '0'.repeat(64) } });
    const refused = await failure(deploy(pinned, '1.0.0', undefined));
    expect(refused.message).toContain(`but the spec expects ${'0'.repeat(64)}`);
    expect(existsSync(join(h1.home, other))).toBe(false);
  });

  it('keeps `keep` old releases per host, never the current or the previous one', async () => {
    const dir = freshDir();
    const [h1] = lab.hosts as [SshdHost];
    let previous: string | undefined;
    for (const v of ['1', '2', '3', '4', '5']) {
      await deploy(spec(v, dir, { hosts: hostsOf([h1]), keep: 2 }), v, previous);
      previous = v;
    }
    expect(readdirSync(join(h1.home, dir, 'releases')).sort()).toEqual(['3', '4', '5']);
    expect(running(h1, dir)).toBe('5');
  });

  it('observe reads current on every host and reports the hosts that disagree', async () => {
    const dir = freshDir();
    const [h1, h2, h3] = lab.hosts as [SshdHost, SshdHost, SshdHost];
    await deploy(spec('1.0.0', dir), '1.0.0', undefined);
    await deploy(spec('2.0.0', dir, { hosts: hostsOf([h2]) }), '2.0.0', '1.0.0');
    const observed = await sshAdapter.observe?.(spec('2.0.0', dir), context('2.0.0', '1.0.0').ctx);
    expect(observed?.version).toBeUndefined();
    expect(observed?.drift).toEqual([`${h2.name} runs 2.0.0 (others run 1.0.0)`]);
    expect(observed?.details).toEqual({ hosts: { [h1.name]: '1.0.0', [h2.name]: '2.0.0', [h3.name]: '1.0.0' } });
  });

  it('stops when its signal aborts mid-rollout, and the connections are closed', async () => {
    const dir = freshDir();
    const controller = new AbortController();
    const s = spec('1.0.0', dir, { restart: 'sleep 5' });
    const c = context('1.0.0', undefined, { signal: controller.signal });
    const started = Date.now();
    const run = sshAdapter.apply(s, { summary: '' }, { ...c.ctx, log: (line) => (c.ctx.log(line), line.includes('restart: sleep') && controller.abort(new StepFailure('cancelled by the test', false))) });
    await expect(run).rejects.toThrow('cancelled by the test');
    expect(Date.now() - started).toBeLessThan(4_000);
    // The first host was switched, the others never started.
    expect(running(lab.hosts[1] as SshdHost, dir)).toBeUndefined();
  });

  it('never logs the private key', () => {
    expect(allLines.length).toBeGreaterThan(20);
    const keyLines = [...lab.clientKey.split('\n'), ...lab.strangerKey.split('\n')].filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const line of allLines) for (const k of keyLines) expect(line).not.toContain(k);
  });
});
