import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { FakeLambda } from '../adapters/aws-lambda/fake-lambda.js';
import { gitFixture, VALUES, type GitFixture } from '../adapters/gitops/git-fixture.js';
import { FAKE_TERRAFORM } from '../adapters/terraform/fake.js';
import { testProject, type TestProject } from '../helpers/project.js';

// Issue 5's end-to-end check: one release in which a terraform component's role_arn output feeds
// both an aws-lambda function's environment and a gitops values file. Everything runs through the
// real engine and the registered adapters, against the protocol-level fakes: the FAKE terraform CLI
// (an executable), the FAKE Lambda HTTP API (driven by the real AWS SDK client), and real git with a
// bare repository standing in for the forge.
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret';

const OVERLAY = 'apps/api/overlays/prod';
const OLD_ARN = 'arn:aws:iam::111111111111:role/api';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/app-1.0.0';
const PASSWORD = 'tf-sensitive-pw-8f3a1c';

/** The module the fake terraform CLI "applies": one role, its ARN as an output, and a sensitive output. */
function module(roleArn: { value: unknown; type: unknown }): string {
  return JSON.stringify({
    resources: { 'aws_iam_role.app': { value: 'app-${var.app_version}' } },
    outputs: {
      role_arn: roleArn,
      db_password: { value: PASSWORD, type: 'string', sensitive: true },
    },
  });
}

const GOOD_ARN = { value: 'arn:aws:iam::123456789012:role/${res.aws_iam_role.app}', type: 'string' };

let lambda: FakeLambda;
let repo: GitFixture;
let project: TestProject;

beforeEach(async () => {
  lambda = new FakeLambda();
  // Updates settle at once: the wait for LastUpdateStatus is lambda-adapter.test.ts's business, and
  // each poll would cost this test a second.
  lambda.updatePolls = 0;
  await lambda.start();
  lambda.addFunction('worker-prod');
  repo = gitFixture({
    [`${OVERLAY}/values.yaml`]: VALUES,
    'README.md': '# deploy\n',
  });
  project = testProject(`project: hybrid
environments:
  prod: {}
components:
  iam:
    type: terraform
    with:
      binary: ${FAKE_TERRAFORM}
      dir: infra/iam
      workspace: "\${{ env.name }}"
      versionVariable: app_version
      env: { FAKE_TERRAFORM_STATE: state.json }
    outputs:
      role_arn: { type: string, pattern: "^arn:aws:iam::[0-9]{12}:role/.+$" }
      db_password: { type: string, sensitive: true }
  worker:
    type: aws-lambda
    with:
      function: "worker-\${{ env.name }}"
      region: eu-west-1
      alias: live
      code: { s3Bucket: artifacts, s3Key: "worker/\${{ version }}.zip" }
      environment:
        ROLE_ARN: "\${{ components.iam.outputs.role_arn }}"
        DB_PASSWORD: "\${{ components.iam.outputs.db_password }}"
      endpoint: ${lambda.endpoint}
  api:
    type: gitops
    with:
      repo: ${repo.remote}
      path: ${OVERLAY}
      set:
        - { file: values.yaml, path: serviceAccount.roleArn, value: "\${{ components.iam.outputs.role_arn }}" }
`);
  project.write('infra/iam/fake.tf.json', module(GOOD_ARN));
});

afterEach(async () => {
  project.cleanup();
  repo.cleanup();
  await lambda.stop();
});

async function release(deps: EngineDeps): Promise<string> {
  return (await createRelease(deps, { set: ['iam=1.0.0', 'worker=1.0.0', 'api=1.0.0'] })).release.id;
}

async function auditOf(deps: EngineDeps, promotionId: string): Promise<AuditEntry[]> {
  return (await deps.store.auditPage(0, 100_000)).filter((e) => e.promotionId === promotionId);
}

function seqOf(entries: AuditEntry[], kind: AuditEntry['kind'], component: string): number {
  const entry = entries.find((e) => e.kind === kind && e.component === component);
  expect(entry, `${kind} ${component} in the audit log`).toBeDefined();
  return entry?.seq ?? Number.NaN;
}

describe('hybrid release: terraform output feeds aws-lambda and gitops (fake terraform CLI, fake Lambda API, real git)', () => {
  it('the role ARN reaches the function environment and the values file, and terraform ran before both', async () => {
    const before = repo.head();
    const deps = await project.deps();
    const done = await promote(deps, await release(deps), 'prod');
    expect(done.state, done.reason).toBe('succeeded');

    // The FAKE Lambda: the live alias runs a version whose environment holds the terraform output.
    const live = lambda.aliasVersion('worker-prod', 'live');
    expect(live?.Variables.ROLE_ARN).toBe(ROLE_ARN);

    // The bare repository: one new commit whose values.yaml holds the same ARN, every other byte kept.
    const head = repo.head();
    expect(head).not.toBe(before);
    expect(repo.git(repo.remote, 'rev-parse', `${head}^`).trim()).toBe(before);
    const values = repo.git(repo.remote, 'show', `${head}:${OVERLAY}/values.yaml`);
    expect(values).toBe(VALUES.replace(OLD_ARN, ROLE_ARN));
    expect(values).toContain(`  roleArn: ${ROLE_ARN}   # from the iam component\n`);

    // Terraform finished before either consumer started.
    const audit = await auditOf(deps, done.id);
    const iamDone = seqOf(audit, 'step.succeeded', 'iam');
    expect(iamDone).toBeLessThan(seqOf(audit, 'step.started', 'worker'));
    expect(iamDone).toBeLessThan(seqOf(audit, 'step.started', 'api'));
  });

  it.each([
    [
      'a string that breaks the pattern',
      { value: 'role/app-${var.app_version}', type: 'string' },
      /role_arn "role\/app-1\.0\.0" does not match pattern/,
    ],
    ['a number', { value: 42, type: 'number' }, /output role_arn must be string, got integer \(42\)/],
  ])(
    'a role_arn that is %s fails the promotion at iam before either consumer starts',
    async (_what, roleArn, problem) => {
      project.write('infra/iam/fake.tf.json', module(roleArn));
      const before = repo.head();
      const deps = await project.deps();
      const failed = await promote(deps, await release(deps), 'prod');
      expect(failed.state).toBe('failed');

      const steps = new Map((await deps.store.listSteps(failed.id)).map((s) => [s.component, s]));
      expect(steps.get('iam')?.state).toBe('failed');
      expect(steps.get('iam')?.error).toMatch(problem);
      expect(steps.get('worker')?.state).toBe('skipped');
      expect(steps.get('api')?.state).toBe('skipped');

      const audit = await auditOf(deps, failed.id);
      expect(audit.filter((e) => e.kind === 'step.started').map((e) => e.component)).toEqual(['iam']);
      // The FAKE Lambda saw no write of any kind; the function still has only its first version.
      expect(lambda.requests.filter((r) => r.method !== 'GET')).toEqual([]);
      expect(lambda.functions.get('worker-prod')?.versions.map((v) => v.Version)).toEqual(['1']);
      expect(repo.head()).toBe(before);
      expect(repo.show(`${OVERLAY}/values.yaml`)).toBe(VALUES);
    },
  );

  it('a sensitive terraform output reaches its consumer but no audit entry, step log, step record or database byte', async () => {
    const lines: string[] = [];
    const deps = await project.deps({ observer: { log: (_c, line) => lines.push(line) } });
    const done = await promote(deps, await release(deps), 'prod');
    expect(done.state, done.reason).toBe('succeeded');
    // It was passed on: the consumer got it.
    expect(lambda.aliasVersion('worker-prod', 'live')?.Variables.DB_PASSWORD).toBe(PASSWORD);

    const audit = await deps.store.auditPage(0, 100_000);
    const logs = await deps.store.stepLogs(done.id);
    const steps = await deps.store.listSteps(done.id);
    expect(logs.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit)).not.toContain(PASSWORD);
    expect(JSON.stringify(logs)).not.toContain(PASSWORD);
    expect(lines.join('\n')).not.toContain(PASSWORD);
    expect(JSON.stringify(steps)).not.toContain(PASSWORD);
    expect(JSON.stringify(done)).not.toContain(PASSWORD);
    expect(JSON.stringify(await deps.store.environmentState('prod'))).not.toContain(PASSWORD);
    const database = ['state.db', 'state.db-wal']
      .map((f) => join(project.dir, '.lockstep', f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    expect(database.length).toBeGreaterThan(0);
    expect(database).not.toContain(PASSWORD);
  });
});
