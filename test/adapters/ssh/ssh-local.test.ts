import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sshAdapter } from '../../../src/adapters/ssh/ssh-adapter.js';
import { sshSpec, type SshSpec } from '../../../src/adapters/ssh/ssh-spec.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { stepContext } from '../../helpers/step-context.js';
import { failure } from '../../helpers/step-failure.js';

// `host: local`: the same layout, scripts and health checks as over SSH, in a directory of this
// machine. Real processes (sh, tar, sha256sum, curl, wget) and a real HTTP server for downloads.

let project: string;

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'lockstep-ssh-local-'));
});

afterEach(() => {
  rmSync(project, { recursive: true, force: true });
});

function release(version: string, healthy = true): string {
  const dir = join(project, 'build', version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'VERSION'), version);
  writeFileSync(join(dir, 'health.sh'), `#!/bin/sh\n${healthy ? 'exit 0' : 'echo "billing $LOCKSTEP_VERSION: database unreachable" >&2; exit 1'}\n`, { mode: 0o755 });
  return `build/${version}`;
}

function spec(input: Record<string, unknown>): SshSpec {
  return sshSpec.parse({ hosts: ['local'], dir: 'deploy', restart: 'echo "$LOCKSTEP_VERSION" >> "$LOCKSTEP_DIR/restarts"', ...input });
}

function context(version: string, previous: string | undefined, overrides: Partial<StepContext> = {}) {
  return stepContext({ version, previousVersion: previous, projectDir: project, cacheDir: join(project, '.cache'), ...overrides });
}

async function deploy(s: SshSpec, version: string, previous: string | undefined) {
  const c = context(version, previous);
  await sshAdapter.apply(s, await sshAdapter.plan(s, c.ctx), c.ctx);
  return c;
}

const current = (): string | undefined => {
  const link = join(project, 'deploy', 'current');
  return existsSync(link) ? readlinkSync(link) : undefined;
};

/** Runs `fn` with PATH holding only the named programs (each linked from /usr/bin or /bin). */
async function withPath<T>(programs: string[], fn: () => Promise<T>): Promise<T> {
  const bin = mkdtempSync(join(tmpdir(), 'lockstep-path-'));
  for (const p of programs) {
    const found = [`/usr/bin/${p}`, `/bin/${p}`].find((f) => existsSync(f));
    if (found === undefined) throw new Error(`${p} is missing: apt-get install -y --no-install-recommends ${p}`);
    symlinkSync(found, join(bin, p));
  }
  const saved = process.env.PATH;
  process.env.PATH = bin;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
    rmSync(bin, { recursive: true, force: true });
  }
}

describe('ssh adapter, host: local', () => {
  it('a release whose health check fails is switched back by rollback: current points at the old release again', async () => {
    const health = { command: ['./health.sh'], timeout: '500ms', interval: '100ms' };
    await deploy(spec({ artifact: release('3.0.0'), health }), '3.0.0', undefined);
    expect(current()).toBe('releases/3.0.0');

    const broken = spec({ artifact: release('3.1.0-broken', false), health });
    const c = context('3.1.0-broken', '3.0.0');
    const error = await failure(sshAdapter.apply(broken, { summary: '' }, c.ctx));
    expect(error.message).toContain('host local: health check failed');
    expect(error.message).toContain('billing 3.1.0-broken: database unreachable');
    // Every attempt is in the step log, with its result and the wait before the next one.
    const attempts = Number(/and (\d+) attempt\(s\)/.exec(error.message)?.[1]);
    const logged = c.lines.filter((l) => l.startsWith('[local] not healthy yet (attempt '));
    expect(attempts).toBeGreaterThan(1);
    expect(logged).toHaveLength(attempts);
    logged.forEach((line, i) => {
      expect(line).toMatch(new RegExp(`^\\[local\\] not healthy yet \\(attempt ${i + 1}, [\\d.]+s\\): .*billing 3\\.1\\.0-broken: database unreachable; `));
      expect(line).toMatch(i < attempts - 1 ? /; next attempt in 100ms$/ : /; no time left for another attempt$/);
    });
    expect(current()).toBe('releases/3.1.0-broken');
    expect(c.lines).toContain('[local] switched current → releases/3.1.0-broken');

    await sshAdapter.rollback?.(broken, c.ctx);
    expect(current()).toBe('releases/3.0.0');
    expect(readFileSync(join(project, 'deploy', 'restarts'), 'utf8').trim().split('\n')).toEqual(['3.0.0', '3.1.0-broken', '3.0.0']);
    expect(c.lines).toContain('[local] rolled back: current → releases/3.0.0 (was 3.1.0-broken)');
    // The failed release stays on disk for a look, and the old one is intact.
    expect(readdirSync(join(project, 'deploy', 'releases')).sort()).toEqual(['3.0.0', '3.1.0-broken']);
  });

  it('a version starting with "-" reaches rm and mv on the host as a name, never as an option', async () => {
    // release create refuses such versions (docs/promotions.md); the adapter must still be safe
    // with one, as a release made before that rule may hold it.
    await deploy(spec({ artifact: release('1.0.0') }), '1.0.0', undefined);
    const c = await deploy(spec({ artifact: release('-rf') }), '-rf', '1.0.0');
    expect(current()).toBe('releases/-rf');
    expect(readFileSync(join(project, 'deploy', 'releases', '-rf', 'VERSION'), 'utf8')).toBe('-rf');
    // The release before it is untouched, and deploying again replaces only releases/-rf.
    expect(readdirSync(join(project, 'deploy', 'releases')).sort()).toEqual(['-rf', '1.0.0']);
    await deploy(spec({ artifact: release('-rf') }), '-rf', '-rf');
    expect(readdirSync(join(project, 'deploy', 'releases')).sort()).toEqual(['-rf', '1.0.0']);
    expect(c.lines.join('\n')).toContain('switched current → releases/-rf');
  });

  it('`transport: local` needs no hosts, and a `before` hook runs in the new release directory before the switch', async () => {
    const s = spec({ hosts: undefined, transport: 'local', artifact: release('1.0.0'), before: ['pwd -P > "$LOCKSTEP_DIR/hook-ran-in"; test ! -e "$LOCKSTEP_DIR/current"'] });
    await deploy(s, '1.0.0', undefined);
    expect(readFileSync(join(project, 'deploy', 'hook-ran-in'), 'utf8').trim()).toBe(join(project, 'deploy', 'releases', '1.0.0'));

    // A failing hook stops before the switch: the old release keeps running, and nothing needs a rollback.
    const failing = spec({ transport: 'local', hosts: undefined, artifact: release('1.1.0'), before: [['sh', '-c', 'echo "config invalid" >&2; exit 3']] });
    const error = await failure(deploy(failing, '1.1.0', '1.0.0'));
    expect(error.message).toContain('host local: before hook sh -c');
    expect(error.message).toContain('exited with code 3: config invalid');
    expect(current()).toBe('releases/1.0.0');
  });

  it('checks HTTP health with curl, falls back to wget (saying so), and says when the host has neither', async () => {
    let answer = 200;
    const server = createServer((_req, res) => res.writeHead(answer).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const s = spec({ artifact: release('1.0.0'), health: { http: `http://127.0.0.1:${port}/healthz`, timeout: '400ms', interval: '100ms' } });
      await deploy(s, '1.0.0', undefined);

      const c = context('1.0.0', undefined);
      await withPath(['wget'], () => sshAdapter.verify?.(s, {}, c.ctx) ?? Promise.resolve());
      expect(c.lines).toContain('[local] curl is not installed on this host; checking with wget');

      answer = 503;
      const unhealthy = await failure(sshAdapter.verify?.(s, {}, c.ctx) ?? Promise.resolve());
      expect(unhealthy.message).toMatch(/host local: health check failed after [\d.]+s and \d+ attempt\(s\): GET http:\/\/127\.0\.0\.1:\d+\/healthz: HTTP 503/);

      const neither = await failure(withPath([], () => sshAdapter.verify?.(s, {}, c.ctx) ?? Promise.resolve()));
      expect(neither.message).toContain('host local: the http health check needs curl or wget on the host, and neither is installed');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('downloads an http(s) artifact into the cache, unpacks it on the host, and reuses the download when its sha256 matches', async () => {
    const src = join(project, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(join(src, 'bin', 'billing'), '#!/bin/sh\necho billing\n', { mode: 0o755 });
    const archive = join(project, 'billing-2.0.0.tar.gz');
    await createTar({ gzip: true, file: archive, cwd: src }, ['bin']);
    const bytes = readFileSync(archive);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    let downloads = 0;
    const server: Server = createServer((req, res) => {
      downloads += 1;
      if (req.url === '/billing/2.0.0.tar.gz') res.writeHead(200).end(bytes);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const url = `http://127.0.0.1:${port}/billing/2.0.0.tar.gz`;
      await deploy(spec({ artifact: { url, sha256 } }), '2.0.0', undefined);
      expect(readFileSync(join(project, 'deploy', 'current', 'bin', 'billing'), 'utf8')).toContain('echo billing');
      expect(statSync(join(project, 'deploy', 'current', 'bin', 'billing')).mode & 0o111).not.toBe(0);
      expect(readdirSync(join(project, '.cache', 'ssh', 'downloads'))).toHaveLength(1);

      // Another version's directory was removed meanwhile: deploying 2.0.0 there again uses the cached file.
      rmSync(join(project, 'deploy'), { recursive: true });
      await deploy(spec({ artifact: { url, sha256 } }), '2.0.0', undefined);
      expect(downloads).toBe(1);

      const missing = await failure(deploy(spec({ artifact: `http://127.0.0.1:${port}/billing/9.9.9.tar.gz` }), '9.9.9', '2.0.0'));
      expect(missing.message).toContain('artifact download failed: HTTP 404 Not Found for 9.9.9.tar.gz');
      expect(missing.untouched).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('copies a single file that is not an archive into the release directory, keeping its mode', async () => {
    writeFileSync(join(project, 'billing.jar'), 'jar bytes', { mode: 0o750 });
    await deploy(spec({ artifact: 'billing.jar' }), '1.0.0', undefined);
    const file = join(project, 'deploy', 'releases', '1.0.0', 'billing.jar');
    expect(readFileSync(file, 'utf8')).toBe('jar bytes');
    expect(statSync(file).mode & 0o777).toBe(0o750);
  });

  it('refuses, before touching anything, a missing artifact and a version that cannot be a directory name', async () => {
    const missing = await failure(deploy(spec({ artifact: 'dist/nothing.tar.gz' }), '1.0.0', undefined));
    expect(missing.message).toContain('artifact dist/nothing.tar.gz does not exist');
    const bad = await failure(deploy(spec({ artifact: release('x') }), '../../etc', undefined));
    expect(bad.message).toContain('version "../../etc" starts with "."');
    expect(bad.untouched).toBe(true);
    expect(existsSync(join(project, 'deploy'))).toBe(false);
  });

  it('rollback refuses, naming the host, when the release to go back to was removed by hand', async () => {
    await deploy(spec({ artifact: release('1.0.0') }), '1.0.0', undefined);
    const s2 = spec({ artifact: release('2.0.0') });
    const c = await deploy(s2, '2.0.0', '1.0.0');
    rmSync(join(project, 'deploy', 'releases', '1.0.0'), { recursive: true });
    const error = await failure(sshAdapter.rollback?.(s2, c.ctx) ?? Promise.resolve());
    expect(error.message).toContain('host local: releases/1.0.0 is no longer on the host');
    expect(current()).toBe('releases/2.0.0');
  });
});
