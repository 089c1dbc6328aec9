import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PromotionPlan, PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { FakeLambda } from '../adapters/aws-lambda/fake-lambda.js';
import { gitFixture, type GitFixture } from '../adapters/gitops/git-fixture.js';
import { lockstepAwait, type CliResult } from '../helpers/cli.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { expectRealTerraform, TF_ENV } from '../helpers/terraform.js';

// Issue 13's check, the project of docs/gates.md ("What approvers see: values known only after
// apply"), through the built CLI: a release that changes infra (REAL Terraform 1.11 from the PATH;
// `terraform_data` needs no provider download) and the two consumers of its role ARN, a gitops values
// file (REAL git, a bare repository standing in for the forge) and a Lambda function's environment
// (the FAKE Lambda API, an HTTP server driven by the real AWS SDK client). The prod plan an approver
// reads must show both consumers' real diffs with the ARN Terraform's plan predicts, and what Terraform
// learns only when it applies in its place. The fake answers in this process's event loop, so every
// CLI call is awaited, never run synchronously.

const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE',
  AWS_SECRET_ACCESS_KEY: 'fake-secret',
  AWS_REGION: 'eu-west-1',
};
const APPROVER = 'bob@example.com';

// The role's name carries the version, so a new infra version plans a new ARN; the queue's name is
// an attribute Terraform computes only when it applies the change of its input.
const MODULE = `variable "app_version" { type = string }
variable "role_name" { type = string }

resource "terraform_data" "queue" {
  input = "orders-\${var.app_version}"
}

output "role_arn" {
  value = "arn:aws:iam::123456789012:role/\${var.role_name}-\${var.app_version}"
}

output "queue_url" {
  value = "https://sqs.eu-west-1.amazonaws.com/123456789012/\${terraform_data.queue.output}"
}
`;

const VALUES = `# api chart values for this environment
image:
  repository: registry.example.com/acme/api
  tag: '0.9.0'

serviceAccount:
  roleArn: arn:aws:iam::123456789012:role/api-by-hand   # from the infra component
`;

function config(repo: string, lambdaEndpoint: string): string {
  return `project: shop
environments:
  staging: {}
  prod:
    after: [staging]
    gates:
      approvals: { count: 1, from: [${APPROVER}] }
components:
  infra:
    type: terraform
    with:
      dir: infra
      workspace: "\${{ env.name }}"
      versionVariable: app_version
      vars:
        role_name: "api-\${{ env.name }}"
    outputs:
      role_arn: { type: string, pattern: "^arn:aws:iam::[0-9]{12}:role/.+$" }
      queue_url: { type: string }
  api:
    type: gitops
    with:
      repo: ${repo}
      path: "apps/api/overlays/\${{ env.name }}"
      set:
        - { file: values.yaml, path: image.tag, value: "\${{ version }}" }
        - { file: values.yaml, path: serviceAccount.roleArn, value: "\${{ components.infra.outputs.role_arn }}" }
  worker:
    type: aws-lambda
    with:
      function: "worker-\${{ env.name }}"
      region: eu-west-1
      alias: live
      code: { s3Bucket: artifacts, s3Key: "worker/\${{ version }}.zip" }
      environment:
        ROLE_ARN: "\${{ components.infra.outputs.role_arn }}"
        QUEUE_URL: "\${{ components.infra.outputs.queue_url }}"
      endpoint: ${lambdaEndpoint}
`;
}

let lambda: FakeLambda;
let repo: GitFixture;
let project: TestProject;

beforeAll(expectRealTerraform);

beforeEach(async () => {
  lambda = new FakeLambda();
  // Updates settle at once: waiting for LastUpdateStatus is lambda-adapter.test.ts's business.
  lambda.updatePolls = 0;
  await lambda.start();
  lambda.addFunction('worker-staging');
  lambda.addFunction('worker-prod');
  repo = gitFixture({
    'apps/api/overlays/staging/values.yaml': VALUES,
    'apps/api/overlays/prod/values.yaml': VALUES,
  });
  project = testProject(config(repo.remote, lambda.endpoint));
  project.write('infra/main.tf', MODULE);
});

afterEach(async () => {
  project.cleanup();
  repo.cleanup();
  await lambda.stop();
});

async function run(args: string[], status = 0, actor?: string): Promise<CliResult> {
  const r = await lockstepAwait(project.dir, args, {
    ...TF_ENV,
    ...AWS_ENV,
    ...(actor ? { LOCKSTEP_ACTOR: actor } : {}),
  });
  expect(r.status, `lockstep ${args.join(' ')}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(status);
  return r;
}

async function json<T>(args: string[], status = 0, actor?: string): Promise<T> {
  return JSON.parse((await run([...args, '--output', 'json'], status, actor)).stdout) as T;
}

async function release(version: string): Promise<string> {
  const set = ['infra', 'api', 'worker'].flatMap((c) => ['--set', `${c}=${version}`]);
  return (await json<{ release: ReleaseRecord }>(['release', 'create', ...set])).release.id;
}

/** Staging without gates, then prod with one approval, as an approver gives it. */
async function promoteThrough(id: string): Promise<PromotionRecord> {
  expect((await json<{ promotion: PromotionRecord }>(['promote', id, '--to', 'staging'])).promotion.state).toBe(
    'succeeded',
  );
  const pending = (await json<{ promotion: PromotionRecord }>(['promote', id, '--to', 'prod'], 3)).promotion;
  expect(pending.state).toBe('pending');
  return (
    await json<{ promotion: PromotionRecord }>(['approve', pending.id, '--comment', 'plan reviewed'], 0, APPROVER)
  ).promotion;
}

const arn = (env: string, version: string): string => `arn:aws:iam::123456789012:role/api-${env}-${version}`;
const queueUrl = (version: string): string => `https://sqs.eu-west-1.amazonaws.com/123456789012/orders-${version}`;

describe('the prod plan of a release that changes infra and its consumers (real terraform, real git, fake Lambda API)', () => {
  it('shows the values file diff and the Lambda environment change with the planned ARN, the unknown queue URL in place, and applies the real values', async () => {
    const first = await promoteThrough(await release('1.0.0'));
    expect(first.state, first.reason).toBe('succeeded');
    expect(repo.show('apps/api/overlays/prod/values.yaml')).toContain(
      `roleArn: ${arn('prod', '1.0.0')}   # from the infra component`,
    );
    expect(lambda.aliasVersion('worker-prod', 'live')?.Variables).toEqual({
      ROLE_ARN: arn('prod', '1.0.0'),
      QUEUE_URL: queueUrl('1.0.0'),
    });

    const second = await release('2.0.0');
    expect((await json<{ promotion: PromotionRecord }>(['promote', second, '--to', 'staging'])).promotion.state).toBe(
      'succeeded',
    );

    // What the approver reads before approving prod.
    const text = (await run(['plan', second, '--to', 'prod'])).stdout;
    // The gitops consumer: its real diff of the values file, with the ARN Terraform's plan predicts.
    expect(text).toContain(`-  roleArn: ${arn('prod', '1.0.0')}   # from the infra component`);
    expect(text).toContain(`+  roleArn: ${arn('prod', '2.0.0')}   # from the infra component`);
    expect(text).toContain("+  tag: '2.0.0'");
    // The Lambda consumer: its environment change, the new ARN in full, the queue URL in its place.
    expect(text).toContain(`environment.ROLE_ARN: "${arn('prod', '1.0.0')}" → "${arn('prod', '2.0.0')}"`);
    expect(text).toContain(`environment.QUEUE_URL: "${queueUrl('1.0.0')}" → "(known after infra applies)"`);
    expect(text).toMatch(
      /worker\s+with\.environment\.QUEUE_URL\s+infra\.outputs\.queue_url \(known after infra applies\)/,
    );

    const plan = await json<PromotionPlan>(['plan', second, '--to', 'prod']);
    expect(plan.unknowns).toEqual([
      { consumer: 'worker', field: 'with.environment.QUEUE_URL', producer: 'infra', output: 'queue_url' },
    ]);
    const inputs = (component: string): unknown => plan.steps.find((s) => s.component === component)?.inputs;
    expect(inputs('api')).toEqual([
      { producer: 'infra', output: 'role_arn', state: 'known', value: arn('prod', '2.0.0') },
    ]);
    expect(inputs('worker')).toEqual([
      { producer: 'infra', output: 'role_arn', state: 'known', value: arn('prod', '2.0.0') },
      { producer: 'infra', output: 'queue_url', state: 'unknown' },
    ]);

    // Approved and run: both consumers get the real values, the one known only after apply included.
    const pending = (await json<{ promotion: PromotionRecord }>(['promote', second, '--to', 'prod'], 3)).promotion;
    expect(pending.plan.digest).toBe(plan.digest);
    const done = (
      await json<{ promotion: PromotionRecord }>(['approve', pending.id, '--comment', 'plan reviewed'], 0, APPROVER)
    ).promotion;
    expect(done.state, done.reason).toBe('succeeded');
    const values = repo.show('apps/api/overlays/prod/values.yaml');
    expect(values).toBe(
      VALUES.replace("'0.9.0'", "'2.0.0'").replace('arn:aws:iam::123456789012:role/api-by-hand', arn('prod', '2.0.0')),
    );
    const live = lambda.aliasVersion('worker-prod', 'live');
    expect(live?.Variables.ROLE_ARN).toBe(arn('prod', '2.0.0'));
    expect(live?.Variables.QUEUE_URL).toBe(queueUrl('2.0.0'));
  });
});
