import { existsSync, readFileSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftReport } from '../../../src/core/drift.js';
import type { EnvironmentStatus } from '../../../src/engine/status.js';
import { lockstep } from '../../helpers/cli.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { startSshdLab, type SshdHost, type SshdLab } from './sshd.js';

// Drift on real sshd hosts, through the built CLI as a person runs it: a host's `current` link is
// switched by hand, `lockstep drift` names the host and exits 1, `promote --reapply` puts it back.

let lab: SshdLab;
let project: TestProject;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  lab = await startSshdLab(2);
  const hosts = lab.hosts.map((h) => `{ host: 127.0.0.1, port: ${h.port}, user: ${h.user} }`).join(', ');
  project = testProject(`project: shop
environments:
  prod:
    vars: { hosts: [${hosts}] }
components:
  billing:
    type: ssh
    with:
      hosts: "\${{ env.vars.hosts }}"
      privateKey: "\${{ secrets.DEPLOY_KEY }}"
      knownHosts: ops/known_hosts
      artifact: "build/\${{ version }}"
      dir: srv/billing
  notes:
    type: command
    with:
      apply: ["true"]
`);
  project.write('ops/known_hosts', readFileSync(lab.knownHostsFile, 'utf8'));
  for (const version of ['1.0.0', '2.0.0']) project.write(`build/${version}/VERSION`, version);
  env = { DEPLOY_KEY: lab.clientKey };
});

afterAll(() => {
  project?.cleanup();
  lab?.stop();
});

function current(host: SshdHost): string | undefined {
  const link = join(host.home, 'srv', 'billing', 'current');
  return existsSync(link) ? readlinkSync(link) : undefined;
}

function cli(args: string[]): ReturnType<typeof lockstep> {
  return lockstep(project.dir, args, env);
}

function auditKinds(): { kind: string; component?: string; data: Record<string, unknown> }[] {
  const exported = cli(['audit', 'export', '--format', 'jsonl']);
  expect(exported.status, exported.stderr).toBe(0);
  return exported.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; component?: string; data: Record<string, unknown> });
}

describe('drift of an ssh component (real sshd)', () => {
  it('finds a host whose current link was switched by hand, names it, exits 1; promote --reapply puts it back and drift is clean', () => {
    for (const version of ['1.0.0', '2.0.0']) {
      const created = cli(['release', 'create', '--set', `billing=${version}`, '--set', 'notes=1', '--output', 'json']);
      expect(created.status, created.stderr).toBe(0);
      const id = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;
      const promoted = cli(['promote', id, '--to', 'prod']);
      expect(promoted.status, promoted.stderr).toBe(0);
    }
    const [h1, h2] = lab.hosts as [SshdHost, SshdHost];
    for (const host of lab.hosts) expect(current(host)).toBe('releases/2.0.0');

    const clean = cli(['drift', '--env', 'prod']);
    expect(clean.status, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toContain('prod: no drift');
    // The command adapter without an observe script cannot tell: said so, not called clean.
    expect(clean.stdout).toMatch(/notes\s+command\s+cannot-observe/);

    // By hand, on the second host: back to the old release.
    const link = join(h2.home, 'srv', 'billing', 'current');
    unlinkSync(link);
    symlinkSync('releases/1.0.0', link);

    const found = cli(['drift', '--env', 'prod', '--output', 'json']);
    expect(found.status, found.stderr).toBe(1);
    const [report] = JSON.parse(found.stdout) as DriftReport[];
    expect(report?.drifted).toBe(true);
    const billing = report?.components.find((c) => c.component === 'billing');
    expect(billing?.state).toBe('drifted');
    expect(billing?.findings).toEqual([
      { component: 'billing', field: `hosts.${h2.name}.current`, expected: 'releases/2.0.0', found: 'releases/1.0.0' },
    ]);
    expect(report?.components.find((c) => c.component === 'notes')?.state).toBe('cannot-observe');

    // The text names the host and the command that fixes it.
    const text = cli(['drift', '--env', 'prod']);
    expect(text.status).toBe(1);
    expect(text.stdout).toContain(`hosts.${h2.name}.current`);
    expect(text.stdout).toContain('lockstep promote --reapply billing --env prod');

    // Recorded: once in the audit log (seen twice, recorded once), and in status.
    const detected = auditKinds().filter((e) => e.kind === 'drift.detected');
    expect(detected).toHaveLength(1);
    expect(detected[0]?.component).toBe('billing');
    const status = JSON.parse(cli(['status', '--env', 'prod', '--output', 'json']).stdout) as EnvironmentStatus[];
    expect(status[0]?.drift.find((d) => d.component === 'billing')?.state).toBe('drifted');
    expect(cli(['status', '--env', 'prod']).stdout).toMatch(/billing .*DRIFTED \(1 finding/);

    const reapplied = cli(['promote', '--reapply', 'billing', '--env', 'prod']);
    expect(reapplied.status, reapplied.stdout + reapplied.stderr).toBe(0);
    expect(reapplied.stdout).toContain('--reapply');
    expect(current(h1)).toBe('releases/2.0.0');
    expect(current(h2)).toBe('releases/2.0.0');

    const after = cli(['drift', '--env', 'prod']);
    expect(after.status, after.stdout + after.stderr).toBe(0);
    const audit = auditKinds();
    expect(audit.filter((e) => e.kind === 'drift.cleared').map((e) => e.component)).toEqual(['billing']);
    // The re-apply is recorded as such: the request names it, and only billing was applied.
    const requested = audit.filter((e) => e.kind === 'promotion.requested').at(-1);
    expect(requested?.data.reapply).toEqual(['billing']);
    const steps = requested?.data.steps as { component: string; action: string }[];
    expect(steps.map((s) => [s.component, s.action])).toEqual([
      ['billing', 'apply'],
      ['notes', 'unchanged'],
    ]);
  });
});
