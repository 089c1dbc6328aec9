import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineDeps } from '../../../src/engine/deps.js';
import { createRelease, promote } from '../../../src/engine/promote.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { FAKE_TERRAFORM } from './fake.js';

// Whole promotions through the engine, with the FAKE terraform CLI behind the terraform component and
// a command component consuming its output.

let project: TestProject;

afterEach(() => {
  project?.cleanup();
});

const MODULE = {
  resources: { 'aws_iam_role.app': { value: 'app-${var.app_version}' } },
  outputs: {
    role_arn: { value: 'arn:aws:iam::123456789012:role/${res.aws_iam_role.app}', type: 'string' },
    db_password: { value: 'pw-very-secret-9', type: 'string', sensitive: true },
  },
};

function setUp(roleArnType = 'string'): void {
  project = testProject(`project: shop
environments:
  prod:
    vars: {}
components:
  iam:
    type: terraform
    with:
      binary: ${FAKE_TERRAFORM}
      dir: infra/iam
      workspace: "\${{ env.name }}"
      versionVariable: app_version
      env: { FAKE_TERRAFORM_LOG: calls.jsonl, FAKE_TERRAFORM_STATE: state.json }
    outputs:
      role_arn: { type: ${roleArnType} }
      db_password: { type: string, sensitive: true }
  api:
    type: command
    with:
      apply: ["./consume.sh", "${roleArnType === 'string' ? '' : 'role='}\${{ components.iam.outputs.role_arn }}", "\${{ components.iam.outputs.db_password }}"]
`);
  project.write('infra/iam/fake.tf.json', JSON.stringify(MODULE));
  project.write('consume.sh', '#!/bin/sh\nprintf "%s\\n" "$1" > consumed\nprintf "%s" "$2" > password\n', true);
}

function calls(): string[][] {
  // The fake runs in the module directory, so relative knob paths land there.
  const file = join(project.dir, 'infra/iam/calls.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { argv: string[] }).argv);
}

async function release(deps: EngineDeps, versions: string[]): Promise<string> {
  return (await createRelease(deps, { set: versions })).release.id;
}

describe('terraform component in a promotion (fake terraform CLI)', () => {
  it('applies the plan shown at promote time, passes typed outputs on, and keeps the sensitive one out of logs and records', async () => {
    setUp();
    const lines: string[] = [];
    const deps = await project.deps({ observer: { log: (_c, line) => lines.push(line) } });
    const done = await promote(deps, await release(deps, ['iam=1.0.0', 'api=1']), 'prod');
    expect(done.state).toBe('succeeded');

    const shown = done.plan.steps.find((s) => s.component === 'iam');
    expect(shown?.summary).toBe('1 to create (aws_iam_role.app)');
    const planFile = (shown?.data as { planFile: string }).planFile;
    // One plan (at promote time), and the apply of exactly that file.
    expect(calls().filter((c) => c[0] === 'plan')).toHaveLength(1);
    expect(calls()).toContainEqual(['apply', '-input=false', '-no-color', planFile]);

    expect(readFileSync(join(project.dir, 'consumed'), 'utf8').trim()).toBe('arn:aws:iam::123456789012:role/app-1.0.0');
    expect(readFileSync(join(project.dir, 'password'), 'utf8')).toBe('pw-very-secret-9');
    const stored = (await deps.store.stepLogs(done.id)).map((l) => l.line);
    const database = ['state.db', 'state.db-wal']
      .map((f) => join(project.dir, '.lockstep', f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    for (const line of [...lines, ...stored]) expect(line).not.toContain('pw-very-secret-9');
    expect(database).not.toContain('pw-very-secret-9');
  });

  it('a destructive plan stops the promotion before anything runs', async () => {
    setUp();
    const deps = await project.deps();
    expect((await promote(deps, await release(deps, ['iam=1.0.0', 'api=1']), 'prod')).state).toBe('succeeded');
    project.write(
      'infra/iam/fake.tf.json',
      JSON.stringify({
        resources: {},
        outputs: { ...MODULE.outputs, role_arn: { value: 'arn:aws:iam::123456789012:role/kept', type: 'string' } },
      }),
    );
    await expect(promote(deps, await release(deps, ['iam=2.0.0', 'api=2']), 'prod')).rejects.toThrow(
      /components\.iam: plan failed: plan: the plan destroys aws_iam_role\.app \(delete: delete_because_no_resource_config\); refused because allowDestroy is false/,
    );
    expect(calls().filter((c) => c[0] === 'apply')).toHaveLength(1);
  });

  it('an output of the wrong type stops the promotion before its consumer runs', async () => {
    setUp('integer');
    const deps = await project.deps();
    const failed = await promote(deps, await release(deps, ['iam=1.0.0', 'api=1']), 'prod');
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('output role_arn must be integer, got string');
    expect(existsSync(join(project.dir, 'consumed'))).toBe(false);
  });
});
