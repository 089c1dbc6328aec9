import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineDeps } from '../../../src/engine/deps.js';
import { createRelease, promote } from '../../../src/engine/promote.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { startSshdLab, type SshdHost, type SshdLab } from './sshd.js';

// A whole promotion through the engine, as `lockstep promote` runs it: the private key comes from a
// secret, the hosts from the environment's vars; three real sshd hosts; onFailure: rollback.

let lab: SshdLab;
let project: TestProject;

beforeAll(async () => {
  lab = await startSshdLab(3);
  const [, h2] = lab.hosts as [SshdHost, SshdHost, SshdHost];
  const hosts = lab.hosts.map((h) => `{ host: 127.0.0.1, port: ${h.port}, user: ${h.user} }`).join(', ');
  project = testProject(`project: shop
environments:
  prod:
    vars: { hosts: [${hosts}] }
    onFailure: rollback
components:
  billing:
    type: ssh
    with:
      hosts: "\${{ env.vars.hosts }}"
      privateKey: "\${{ secrets.DEPLOY_KEY }}"
      knownHosts: ops/known_hosts
      artifact: "build/\${{ version }}"
      dir: srv/billing
      restart: 'echo "$LOCKSTEP_VERSION" >> "$LOCKSTEP_DIR/restarts"'
      health: { command: ["./health.sh"], timeout: 1s, interval: 200ms }
`);
  project.write('ops/known_hosts', readFileSync(lab.knownHostsFile, 'utf8'));
  for (const version of ['1.0.0', '2.0.0-broken']) {
    project.write(`build/${version}/VERSION`, version);
    // The broken release fails its health check on the second host only.
    project.write(`build/${version}/health.sh`, version.endsWith('-broken') ? `#!/bin/sh\ntest "$LOCKSTEP_HOST" != "${h2.name}" || { echo "billing cannot reach its database" >&2; exit 1; }\n` : '#!/bin/sh\nexit 0\n', true);
  }
});

afterAll(() => {
  project?.cleanup();
  lab?.stop();
});

function running(host: SshdHost): string | undefined {
  const link = join(host.home, 'srv', 'billing', 'current');
  return existsSync(link) ? readlinkSync(link) : undefined;
}

async function release(deps: EngineDeps, version: string): Promise<string> {
  return (await createRelease(deps, { set: [`billing=${version}`] })).release.id;
}

describe('ssh component in a promotion', () => {
  it('a rolling deploy where the second host fails leaves all three on the old version after the automatic rollback; the key is in no log or record', async () => {
    const lines: string[] = [];
    const deps = await project.deps({ env: { DEPLOY_KEY: lab.clientKey }, observer: { log: (_c, line) => lines.push(line) } });

    const first = await promote(deps, await release(deps, '1.0.0'), 'prod');
    expect(first.state).toBe('succeeded');
    for (const host of lab.hosts) expect(running(host)).toBe('releases/1.0.0');

    const second = await promote(deps, await release(deps, '2.0.0-broken'), 'prod');
    expect(second.state).toBe('failed');
    const [h1, h2, h3] = lab.hosts as [SshdHost, SshdHost, SshdHost];
    expect(second.reason).toContain(`billing failed in apply: rollout of 2.0.0-broken stopped: host ${h2.name}: health check failed`);
    expect(second.reason).toContain('billing cannot reach its database');
    expect(second.reason).toContain('rolled back: billing');
    for (const host of lab.hosts) expect(running(host)).toBe('releases/1.0.0');
    expect(existsSync(join(h3.home, 'srv', 'billing', 'releases', '2.0.0-broken'))).toBe(false);
    expect(readFileSync(join(h1.home, 'srv', 'billing', 'restarts'), 'utf8').trim().split('\n')).toEqual(['1.0.0', '2.0.0-broken', '1.0.0']);

    const stored = (await deps.store.stepLogs(second.id)).map((l) => l.line);
    expect(stored).toContain(`[${h1.name}] rolled back: current → releases/1.0.0 (was 2.0.0-broken)`);
    expect(stored).toContain(`[${h3.name}] not switched by this step: left on 1.0.0`);

    // Not one line of the key, anywhere: live log lines, stored logs, the database file.
    const keyLines = lab.clientKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    expect(keyLines.length).toBeGreaterThan(0);
    const database = ['state.db', 'state.db-wal']
      .map((f) => join(project.dir, '.lockstep', f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    for (const k of keyLines) {
      for (const line of [...lines, ...stored]) expect(line).not.toContain(k);
      expect(database).not.toContain(k);
    }
  });
});
