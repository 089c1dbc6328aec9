import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batchSize, hostTargets, inBatches, plannedTargets } from '../../../src/adapters/ssh/fleet.js';
import { versionOfTarget, versionProblem } from '../../../src/adapters/ssh/host-release.js';
import { checkHostKey, fingerprint, knownHostsName, parseKnownHosts } from '../../../src/adapters/ssh/known-hosts.js';
import { summarise } from '../../../src/adapters/ssh/ssh-adapter.js';
import { parseHost, sshSpec } from '../../../src/adapters/ssh/ssh-spec.js';
import { commandText, quote } from '../../../src/adapters/ssh/shell.js';
import { knownAfter } from '../../../src/core/plan.js';

// Pure parts of the ssh adapter: the spec, host names, known_hosts matching, batching, drift.

const base = { hosts: ['web-1'], privateKey: 'KEY', knownHosts: 'ops/known_hosts', artifact: 'dist/app.tar.gz', dir: '/srv/app' };

function issues(input: unknown): { path: string; message: string }[] {
  const result = sshSpec.safeParse(input);
  expect(result.success, JSON.stringify(input)).toBe(false);
  return (result.error as z.ZodError).issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('ssh spec', () => {
  it('fills in defaults', () => {
    const spec = sshSpec.parse(base);
    expect(spec).toMatchObject({ transport: 'ssh', port: 22, parallel: 1, keep: 5, before: [], env: {}, timeout: '10m', connectTimeout: '20s' });
    expect(sshSpec.parse({ ...base, health: { http: 'http://127.0.0.1:8080/healthz' } }).health).toEqual({
      http: 'http://127.0.0.1:8080/healthz',
      timeout: '60s',
      interval: '1s',
    });
  });

  it('accepts every host form, a list rendered from an env var, and a comma-separated string', () => {
    const spec = sshSpec.parse({
      ...base,
      user: 'deploy',
      port: 2200,
      hosts: ['web-1', 'web-2:2222', 'ops@web-3', '[2001:db8::1]:22', { host: 'web-4', port: 2201, user: 'svc' }, 'local'],
    });
    expect(hostTargets(spec).map((h) => [h.name, h.kind, h.host, h.port, h.user])).toEqual([
      ['web-1:2200', 'ssh', 'web-1', 2200, 'deploy'],
      ['web-2:2222', 'ssh', 'web-2', 2222, 'deploy'],
      ['web-3:2200', 'ssh', 'web-3', 2200, 'ops'],
      ['[2001:db8::1]', 'ssh', '2001:db8::1', 22, 'deploy'],
      ['web-4:2201', 'ssh', 'web-4', 2201, 'svc'],
      ['local', 'local', 'local', 0, ''],
    ]);
    expect(hostTargets(sshSpec.parse({ ...base, hosts: 'a, b c' })).map((h) => h.name)).toEqual(['a', 'b', 'c']);
    expect(parseHost('web-1:99999')).toBe('port "99999" is not 1 to 65535');
    expect(parseHost('bad host')).toContain('is not a host name');
  });

  it('keeps a host known only after its producer applies whole, in every form, for the plan only', () => {
    const unknown = knownAfter('infra');
    const spec = sshSpec.parse({ ...base, hosts: ['web-1', `ops@${unknown}:2222`, { host: unknown, port: 2201, user: 'svc' }] });
    expect(plannedTargets(spec).map((h) => (typeof h === 'string' ? h : h.name))).toEqual(['web-1', `ops@${unknown}:2222`, `svc@${unknown}:2201`]);
    expect(() => hostTargets(spec)).toThrow(`hosts: ops@${unknown}:2222, svc@${unknown}:2201 is known only after its producer applies`);
    expect(plannedTargets(sshSpec.parse({ ...base, hosts: `a,${unknown}, b` })).map((h) => (typeof h === 'string' ? h : h.name))).toEqual(['a', unknown, 'b']);
    // Two outputs of one producer read the same while unknown: not a host listed twice.
    expect(plannedTargets(sshSpec.parse({ ...base, hosts: [unknown, unknown] }))).toEqual([unknown, unknown]);
    // Words that only look like the start of a stand-in are hosts as written, and refused as such.
    expect(issues({ ...base, hosts: 'a (known after' }).map((i) => i.message)).toEqual([
      '"(known" is not a host name or address; expected "web-1", "web-1:2222", "deploy@web-1" or "[2001:db8::1]:2222"',
    ]);
  });

  it('needs knownHosts and privateKey for SSH hosts only', () => {
    expect(issues({ hosts: ['web-1'], artifact: 'a', dir: '/srv' }).map((i) => i.path)).toEqual(['knownHosts', 'privateKey']);
    expect(sshSpec.safeParse({ hosts: ['local'], artifact: 'a', dir: 'deploy' }).success).toBe(true);
    expect(sshSpec.safeParse({ transport: 'local', artifact: 'a', dir: 'deploy' }).success).toBe(true);
    expect(issues({ transport: 'local', hosts: ['web-1'], artifact: 'a', dir: 'deploy' })[0]?.path).toBe('hosts');
  });

  it('reports every problem with the path of its field', () => {
    const found = issues({
      ...base,
      hosts: ['web-1', 'bad host', 'web-1', { host: 'x:22' }],
      dir: '~/app',
      parallel: '0%',
      keep: 0,
      restart: [],
      before: ['ok', ''],
      health: { http: 'ftp://x', command: ['true'] },
      env: { LOCKSTEP_VERSION: 'x' },
      artifact: { url: 'https://x/a.tgz', path: 'a' },
      timeout: 'soon',
      colour: 'red',
    });
    const paths = found.map((i) => i.path);
    for (const path of ['hosts.1', 'hosts.2', 'hosts.3.host', 'dir', 'parallel', 'keep', 'restart', 'before.1', 'health.http', 'env.LOCKSTEP_VERSION', 'artifact', 'timeout', '']) {
      expect(paths, path).toContain(path);
    }
    expect(found.find((i) => i.path === 'hosts.2')?.message).toContain('listed twice');
    expect(found.find((i) => i.path === 'dir')?.message).toContain('without ~');
  });

  it('takes health as http or command, never both', () => {
    expect(issues({ ...base, health: { http: 'http://x/', command: ['true'] } })[0]).toMatchObject({ path: 'health' });
    expect(issues({ ...base, health: { timeout: '5s' } })[0]).toMatchObject({ path: 'health' });
  });
});

describe('ssh helpers', () => {
  it('batches hosts by a number or a percentage, at least one at a time', () => {
    expect(batchSize(1, 5)).toBe(1);
    expect(batchSize(10, 3)).toBe(3);
    expect(batchSize('25%', 10)).toBe(3);
    expect(batchSize('1%', 3)).toBe(1);
    expect(batchSize('100%', 7)).toBe(7);
    expect(inBatches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('reads versions from current symlinks and refuses versions that cannot be directory names', () => {
    expect(versionOfTarget('releases/1.4.2')).toBe('1.4.2');
    expect(versionOfTarget('/srv/billing/releases/git:4f2a1c/')).toBe('git:4f2a1c');
    expect(versionOfTarget('/opt/billing-1.4')).toBeUndefined();
    expect(versionProblem('../etc')).toContain('starts with "."');
    expect(versionProblem('a/b')).toContain('cannot be in a directory name');
    expect(versionProblem('1.4.2+build.7')).toBeUndefined();
  });

  it('quotes every word for the remote shell', () => {
    expect(quote('1.4.2')).toBe('1.4.2');
    expect(quote("it's $(rm -rf /)")).toBe(`'it'\\''s $(rm -rf /)'`);
    expect(commandText(['systemctl', 'restart', 'my app'])).toBe(`systemctl restart 'my app'`);
    expect(commandText('systemctl restart app && echo ok')).toBe('systemctl restart app && echo ok');
  });

  it('summarises what the hosts run: one version, or drift naming the odd ones out', () => {
    expect(summarise({ a: '2', b: '2' }, {})).toEqual({ version: '2', details: { hosts: { a: '2', b: '2' } } });
    expect(summarise({ a: '2', b: '1', c: '2' }, {}).drift).toEqual(['b runs 1 (others run 2)']);
    const down = summarise({ a: '2' }, { b: 'host b: cannot connect' });
    expect(down.version).toBeUndefined();
    expect(down.drift).toEqual(['b could not be read: host b: cannot connect']);
    expect(summarise({ a: null }, {}).drift).toEqual(['a runs nothing']);
  });
});

describe('known_hosts', () => {
  const key = (type: string, body: Buffer): Buffer => {
    const name = Buffer.from(type);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(name.length);
    return Buffer.concat([length, name, body]);
  };
  const ed = key('ssh-ed25519', randomBytes(36));
  const other = key('ssh-ed25519', randomBytes(36));
  const line = (hosts: string, k: Buffer): string => `${hosts} ${'ssh-ed25519'} ${k.toString('base64')} comment`;
  const hashed = (name: string): string => {
    const salt = randomBytes(20);
    return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  };

  it('matches plain, [host]:port, wildcard, negated and hashed entries', () => {
    const kh = parseKnownHosts(
      [
        '# comment',
        line('web-1,10.0.0.1', ed),
        line('[web-2]:2222', ed),
        line('*.prod.example.com,!db.prod.example.com', ed),
        line(hashed('[web-3]:2200'), ed),
        '',
      ].join('\n'),
    );
    expect(kh.problems).toEqual([]);
    expect(checkHostKey(kh, knownHostsName('WEB-1', 22), ed).kind).toBe('trusted');
    expect(checkHostKey(kh, knownHostsName('10.0.0.1', 22), ed).kind).toBe('trusted');
    expect(checkHostKey(kh, knownHostsName('web-2', 2222), ed).kind).toBe('trusted');
    // A plain entry is for port 22 only.
    expect(checkHostKey(kh, knownHostsName('web-1', 2222), ed).kind).toBe('unknown');
    expect(checkHostKey(kh, knownHostsName('app.prod.example.com', 22), ed).kind).toBe('trusted');
    expect(checkHostKey(kh, knownHostsName('db.prod.example.com', 22), ed).kind).toBe('unknown');
    expect(checkHostKey(kh, knownHostsName('web-3', 2200), ed).kind).toBe('trusted');
    expect(checkHostKey(kh, knownHostsName('web-3', 22), ed).kind).toBe('unknown');
  });

  it('tells a mismatch (with both fingerprints) from an unknown host and a revoked key', () => {
    const kh = parseKnownHosts([line('web-1', ed), `@revoked * ssh-ed25519 ${other.toString('base64')}`].join('\n'));
    expect(checkHostKey(kh, 'web-2', ed)).toEqual({ kind: 'unknown', seen: { type: 'ssh-ed25519', fingerprint: fingerprint(ed) } });
    const third = key('ssh-ed25519', randomBytes(36));
    expect(checkHostKey(kh, 'web-1', third)).toEqual({
      kind: 'mismatch',
      seen: { type: 'ssh-ed25519', fingerprint: fingerprint(third) },
      expected: [{ type: 'ssh-ed25519', fingerprint: fingerprint(ed) }],
    });
    expect(checkHostKey(kh, 'web-1', other).kind).toBe('revoked');
    expect(fingerprint(ed)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('reports lines it cannot read and ignores them', () => {
    const kh = parseKnownHosts(['web-1 ssh-ed25519', `web-2 ssh-rsa ${ed.toString('base64')}`, '@weird web-3 ssh-ed25519 AAAA'].join('\n'));
    expect(kh.entries).toEqual([]);
    expect(kh.problems).toEqual([
      'line 1: expected "host key-type base64-key"',
      'line 2: the key is not a valid ssh-rsa key',
      'line 3: unknown marker @weird',
    ]);
  });
});
