import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineDeps } from '../../../src/engine/deps.js';
import { checkDrift } from '../../../src/engine/drift.js';
import { createRelease, promote, reapplyComponents, rollbackEnvironment } from '../../../src/engine/promote.js';
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

describe('drift of aws-lambda and cloudformation (FAKE AWS APIs)', () => {
  it('an alias moved back by hand and a stack output changed by hand are found and named; --reapply puts the alias back', async () => {
    const deps = await project.deps({ env: { DB_PASSWORD: PASSWORD } });
    expect((await promote(deps, await release(deps, { iam: 'git:1', worker: '1.0.0' }), 'prod')).state).toBe('succeeded');
    const v1 = lambda.aliasVersion('worker-prod', 'live');
    expect((await promote(deps, await release(deps, { iam: 'git:1', worker: '2.0.0' }), 'prod')).state).toBe('succeeded');
    const v2 = lambda.aliasVersion('worker-prod', 'live');
    expect(v2?.Version).not.toBe(v1?.Version);
    expect((await checkDrift(deps, { environment: 'prod' }))[0]?.drifted).toBe(false);

    // By hand: the alias back on the old version, and a stack output that is not what was recorded.
    const alias = lambda.functions.get('worker-prod')?.aliases.get('live');
    if (alias && v1) alias.FunctionVersion = v1.Version;
    const stack = cfn.stacks.get('iam-prod');
    if (stack) stack.outputs.RoleArn = 'changed-by-hand';
    // And what CloudFormation's own drift detection finds: the role edited in the console.
    cfn.resourceDrifts.set('iam-prod', [{ LogicalResourceId: 'Role', StackResourceDriftStatus: 'MODIFIED', PropertyPath: '/RoleName' }]);

    const [report] = await checkDrift(deps, { environment: 'prod' });
    const findings = Object.fromEntries((report?.components ?? []).map((c) => [c.component, c.findings.map(({ field, expected, found }) => [field, expected, found])]));
    expect(findings.worker).toEqual([
      ['version', '2.0.0', '1.0.0'],
      ['alias live.functionVersion', v2?.Version, v1?.Version],
      ['alias live.codeSha256', v2?.CodeSha256, v1?.CodeSha256],
    ]);
    expect(findings.iam).toEqual([
      ['resources.Role', 'IN_SYNC', 'MODIFIED (/RoleName)'],
      ['outputs.RoleArn', 'iam-prod-Role', 'changed-by-hand'],
    ]);
    expect(cfn.requests.map((r) => r.action)).toEqual(expect.arrayContaining(['DetectStackDrift', 'DescribeStackDriftDetectionStatus', 'DescribeStackResourceDrifts']));
    expect(JSON.stringify(report)).not.toContain(PASSWORD);

    const reapplied = await reapplyComponents(deps, 'prod', ['worker']);
    expect(reapplied.state, reapplied.reason).toBe('succeeded');
    expect(lambda.aliasVersion('worker-prod', 'live')?.CodeSha256).toBe(v2?.CodeSha256);
    const [after] = await checkDrift(deps, { environment: 'prod', component: 'worker' });
    expect(after?.drifted).toBe(false);
  });
});

describe('aws-lambda configured from a typed handoff (FAKE Lambda API)', () => {
  const config = (roleType: string): string => `project: billing
environments:
  prod: {}
components:
  iam:
    type: command
    with:
      apply: ["./iam.sh", "\${{ version }}"]
    outputs:
      role_arn: { type: ${roleType} }
  worker:
    type: aws-lambda
    with:
      function: "fresh-\${{ env.name }}"
      region: eu-west-1
      alias: live
      code: { s3Bucket: artifacts, s3Key: "worker/\${{ version }}.zip" }
      role: "\${{ components.iam.outputs.role_arn }}"
      memory: 256
      timeout: 30s
      create: { runtime: nodejs20.x, handler: index.handler }
      environment:
        DB_PASSWORD: "\${{ secrets.DB_PASSWORD }}"
        MODE: prod
      endpoint: ${lambda.endpoint}
`;

  it("creates the function with the role another component produced, moves the role with the release, and rollback brings the old role back", async () => {
    project.cleanup();
    project = testProject(config('string'));
    project.write('iam.sh', '#!/bin/sh\nprintf \'{"role_arn":"arn:aws:iam::123456789012:role/worker-%s"}\' "$1" > "$LOCKSTEP_OUTPUTS"\n', true);
    const lines: string[] = [];
    const deps = await project.deps({ env: { DB_PASSWORD: PASSWORD }, observer: { log: (_c, line) => lines.push(line) } });

    const first = await promote(deps, await release(deps, { iam: '1', worker: '1.0.0' }), 'prod');
    expect(first.state, first.reason).toBe('succeeded');
    const create = lambda.requests.find((r) => r.method === 'POST' && r.path === '/2015-03-31/functions');
    expect(create?.body).toMatchObject({ FunctionName: 'fresh-prod', Role: 'arn:aws:iam::123456789012:role/worker-1', MemorySize: 256, Timeout: 30 });
    expect(lines).toContain('  environment.DB_PASSWORD: (sensitive) (added)');

    const second = await promote(deps, await release(deps, { iam: '2', worker: '2.0.0' }), 'prod');
    expect(second.state, second.reason).toBe('succeeded');
    expect(lambda.aliasVersion('fresh-prod', 'live')?.settings.Role).toBe('arn:aws:iam::123456789012:role/worker-2');
    expect(lines).toContain('  role: arn:aws:iam::123456789012:role/worker-1 → arn:aws:iam::123456789012:role/worker-2');

    const back = await rollbackEnvironment(deps, 'prod');
    expect(back.state, back.reason).toBe('succeeded');
    expect(lambda.aliasVersion('fresh-prod', 'live')).toMatchObject({ Version: '1', settings: { Role: 'arn:aws:iam::123456789012:role/worker-1', MemorySize: 256 } });

    const stored = [first, second, back].map((p) => p.id);
    const logged = (await Promise.all(stored.map((id) => deps.store.stepLogs(id)))).flat().map((l) => l.line);
    expect([...lines, ...logged].join('\n')).not.toContain(PASSWORD);
  });

  it('refuses, before anything runs, a role handed over with the wrong type', () => {
    project.cleanup();
    project = testProject(config('integer'));
    return expect(project.deps()).rejects.toThrow(
      'components.worker.with.role: type mismatch: components.iam.outputs.role_arn is declared integer, but this field expects string',
    );
  });
});
