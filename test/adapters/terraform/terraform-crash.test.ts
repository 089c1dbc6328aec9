import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, lockstep } from '../../helpers/cli.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { FAKE_TERRAFORM } from './fake.js';

// lockstep SIGKILLed, with its whole process group, while the FAKE terraform CLI applies: the apply
// runs on in its own group, and `resume` must wait for it and take its result, not apply again
// beside it nor stop to ask a person (terraform's apply is not idempotent).

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

const MODULE = {
  resources: { 'aws_iam_role.app': { value: 'app-${var.app_version}' } },
  outputs: { role_arn: { value: 'arn:aws:iam::123456789012:role/${res.aws_iam_role.app}', type: 'string' } },
};

function calls(dir: string): string[][] {
  const file = join(dir, 'infra/iam/calls.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { argv: string[] }).argv);
}

describe('terraform apply outliving a killed lockstep (fake terraform CLI)', () => {
  it('is waited for on resume, applied once, and its outputs reach the dependent', async () => {
    project = testProject(`project: shop
environments:
  prod: {}
components:
  iam:
    type: terraform
    with:
      binary: ${FAKE_TERRAFORM}
      dir: infra/iam
      versionVariable: app_version
      env: { FAKE_TERRAFORM_LOG: calls.jsonl, FAKE_TERRAFORM_STATE: state.json, FAKE_TERRAFORM_APPLY_DELAY_MS: "4000" }
    outputs:
      role_arn: { type: string }
  api:
    type: command
    with:
      apply: ["./consume.sh", "\${{ components.iam.outputs.role_arn }}"]
`);
    const dir = project.dir;
    project.write('infra/iam/fake.tf.json', JSON.stringify(MODULE));
    project.write('consume.sh', '#!/bin/sh\nprintf "%s\\n" "$1" >> consumed\n', true);
    const created = lockstep(dir, ['release', 'create', '--set', 'iam=1.0.0', '--set', 'api=1', '--output', 'json']);
    expect(created.status, created.stderr).toBe(0);
    const release = (JSON.parse(created.stdout) as { release: { id: string } }).release.id.slice(0, 10);

    const promote = spawn(process.execPath, [CLI, 'promote', release, '--to', 'prod'], {
      cwd: dir,
      env: { ...process.env, LOCKSTEP_ACTOR: 'tester@example.com', CI: 'true' },
      detached: true,
      stdio: 'ignore',
    });
    const exited = once(promote, 'exit');
    for (let i = 0; i < 600 && !calls(dir).some((c) => c[0] === 'apply'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(calls(dir).some((c) => c[0] === 'apply')).toBe(true);
    process.kill(-(promote.pid ?? 0), 'SIGKILL');
    await exited;

    const resumed = lockstep(dir, ['resume'], { CI: 'true' });
    expect(resumed.status, `${resumed.stdout}\n${resumed.stderr}`).toBe(0);
    expect(calls(dir).filter((c) => c[0] === 'apply')).toHaveLength(1);
    expect(readFileSync(join(dir, 'consumed'), 'utf8')).toBe('arn:aws:iam::123456789012:role/app-1.0.0\n');
    const [promotion] = JSON.parse(lockstep(dir, ['history', '--env', 'prod', '--output', 'json']).stdout) as { id: string; state: string }[];
    expect(promotion?.state).toBe('succeeded');
    const logs = lockstep(dir, ['logs', promotion?.id.slice(0, 10) ?? '', '--component', 'iam']);
    // Still running when resume looked (usually), or finished by then on a slow machine: either way taken, not redone.
    expect(logs.stdout).toMatch(/its apply command (is still running: waiting for it|had finished: taking its recorded result)/);
  }, 120_000);
});
