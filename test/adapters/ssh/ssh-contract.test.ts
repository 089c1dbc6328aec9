import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { sshAdapter } from '../../../src/adapters/ssh/ssh-adapter.js';
import { adapterContract, type AdapterHarness } from '../adapter-contract.js';
import { startSshdLab, type SshdLab } from './sshd.js';

// The ssh adapter under the shared Adapter contract: once with `transport: local` (a directory on this
// machine), once against a real sshd.

const INVALID: AdapterHarness['invalid'] = [
  { with: {}, path: ['artifact'] },
  { with: { transport: 'local', artifact: 'a' }, path: ['dir'] },
  { with: { transport: 'local', artifact: 'a', dir: 'd', keep: 0 }, path: ['keep'] },
  { with: { hosts: ['web-1'], privateKey: 'k', artifact: 'a', dir: 'd' }, path: ['knownHosts'] },
  { with: { transport: 'local', artifact: 'a', dir: 'd', colour: 'red' }, path: [] },
];

/** A project directory with one release directory per version under artifacts/. */
function projectWithArtifacts(): { dir: string; artifact: (version: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-ssh-contract-'));
  return {
    dir,
    artifact(version) {
      mkdirSync(join(dir, 'artifacts', version), { recursive: true });
      writeFileSync(join(dir, 'artifacts', version, 'VERSION'), version);
      return `artifacts/${version}`;
    },
  };
}

function currentOf(link: string): string | undefined {
  return existsSync(link) ? readlinkSync(link).replace(/^releases\//, '') : undefined;
}

adapterContract('ssh (transport: local)', () => {
  const project = projectWithArtifacts();
  return Promise.resolve({
    adapter: sshAdapter,
    spec: (version) => ({
      transport: 'local',
      artifact: project.artifact(version),
      dir: 'deploy/billing',
      restart: ['sh', '-c', 'echo "$LOCKSTEP_VERSION" >> ../../restarts'],
      health: { command: ['test', '-f', 'VERSION'] },
    }),
    running: () => Promise.resolve(currentOf(join(project.dir, 'deploy', 'billing', 'current'))),
    invalid: INVALID,
    context: () => ({ projectDir: project.dir, cacheDir: join(project.dir, '.cache') }),
    cleanup: () => Promise.resolve(rmSync(project.dir, { recursive: true, force: true })),
  });
});

let lab: Promise<SshdLab> | undefined;
afterAll(async () => (await lab)?.stop());

adapterContract('ssh (over sshd)', async () => {
  lab ??= startSshdLab(1);
  const { hosts, clientKey, knownHostsFile } = await lab;
  const host = hosts[0];
  if (host === undefined) throw new Error('the lab has no host');
  const project = projectWithArtifacts();
  // Each harness deploys into its own directory in the host user's home.
  const dir = `srv/${project.dir.split('-').at(-1) ?? 'app'}`;
  return {
    adapter: sshAdapter,
    spec: (version) => ({
      hosts: [{ host: '127.0.0.1', port: host.port, user: host.user }],
      privateKey: clientKey,
      knownHosts: knownHostsFile,
      artifact: project.artifact(version),
      dir,
      health: { command: 'test -f VERSION' },
    }),
    running: () => Promise.resolve(currentOf(join(host.home, dir, 'current'))),
    invalid: INVALID,
    context: () => ({ projectDir: project.dir, cacheDir: join(project.dir, '.cache') }),
    cleanup: () => Promise.resolve(rmSync(project.dir, { recursive: true, force: true })),
  };
});
