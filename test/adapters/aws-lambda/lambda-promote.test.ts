import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineDeps } from '../../../src/engine/deps.js';
import { createRelease, promote } from '../../../src/engine/promote.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { FakeCloudFormation } from '../cloudformation/fake-cloudformation.js';
import { FakeLambda } from './fake-lambda.js';

// Whole promotions through the engine, as `lockstep promote` runs them, with the registered adapters
// and the real AWS SDK clients against the FAKE Lambda and CloudFormation servers: a stack's output
// feeds the function's environment; the database password is a secret.
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret';

const PASSWORD = 'db-pa55word-never-logged';
let lambda: FakeLambda;
let cfn: FakeCloudFormation;
let project: TestProject;

beforeEach(async () => {
  lambda = new FakeLambda();
  cfn = new FakeCloudFormation();
  await Promise.all([lambda.start(), cfn.start()]);
  lambda.addFunction('worker-prod');
  project = testProject(`project: billing
environments:
  prod:
    onFailure: rollback
components:
  iam:
    type: cloudformation
    with:
      stack: "iam-\${{ env.name }}"
      region: eu-west-1
      template: infra/iam.json
      parameters: { Env: "\${{ env.name }}" }
      capabilities: [CAPABILITY_IAM]
      endpoint: ${cfn.endpoint}
    outputs:
      RoleArn: { type: string }
  worker:
    type: aws-lambda
    with:
      function: "worker-\${{ env.name }}"
      region: eu-west-1
      alias: live
      code: { s3Bucket: artifacts, s3Key: "worker/\${{ version }}.zip" }
      environment:
        ROLE_ARN: "\${{ components.iam.outputs.RoleArn }}"
        DB_PASSWORD: "\${{ secrets.DB_PASSWORD }}"
      traffic: [10, 50]
      interval: 10ms
      endpoint: ${lambda.endpoint}
`);
  project.write(
    'infra/iam.json',
    JSON.stringify({
      Parameters: { Env: { Type: 'String' } },
      Resources: { Role: { Type: 'AWS::IAM::Role', Properties: { RoleName: { Ref: 'Env' } } } },
      Outputs: { RoleArn: { Value: { Ref: 'Role' } } },
    }),
  );
});

afterEach(async () => {
  project.cleanup();
  await Promise.all([lambda.stop(), cfn.stop()]);
});

async function release(deps: EngineDeps, versions: Record<string, string>): Promise<string> {
  return (await createRelease(deps, { set: Object.entries(versions).map(([c, v]) => `${c}=${v}`) })).release.id;
}

describe('aws-lambda and cloudformation in a promotion (FAKE AWS APIs)', () => {
  it('the stack output reaches the function; a canary failing at 10 % is rolled back to the old version; the secret is in no log', async () => {
    const lines: string[] = [];
    const deps = await project.deps({ env: { DB_PASSWORD: PASSWORD }, observer: { log: (_c, line) => lines.push(line) } });

    const first = await promote(deps, await release(deps, { iam: 'git:1', worker: '1.0.0' }), 'prod');
    expect(first.state, first.reason).toBe('succeeded');
    const v1 = lambda.aliasVersion('worker-prod', 'live');
    expect(v1?.Variables).toEqual({ ROLE_ARN: 'iam-prod-Role', DB_PASSWORD: PASSWORD });
    // The change set shown at promote time is the one executed: one per promotion.
    expect(cfn.requests.filter((r) => r.action === 'CreateChangeSet')).toHaveLength(1);
    expect(cfn.requests.filter((r) => r.action === 'ExecuteChangeSet')).toHaveLength(1);

    lambda.failVersionOnRouting = 'Lambda was unable to start the runtime';
    const second = await promote(deps, await release(deps, { iam: 'git:1', worker: '2.0.0' }), 'prod');
    expect(second.state).toBe('failed');
    expect(second.reason).toContain('canary at 10 %');
    const alias = lambda.functions.get('worker-prod')?.aliases.get('live');
    expect(alias).toMatchObject({ FunctionVersion: v1?.Version, weights: {} });

    const stored = [...(await deps.store.stepLogs(first.id)), ...(await deps.store.stepLogs(second.id))].map((l) => l.line);
    expect(stored.length).toBeGreaterThan(0);
    expect([...lines, ...stored, second.reason ?? ''].join('\n')).not.toContain(PASSWORD);
  });
});
