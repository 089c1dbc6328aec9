import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildQuietly, SDK_NODE_WARNING_SWITCH } from '../../../src/adapters/aws-common/quiet-client.js';
import { defaultLambdaClient } from '../../../src/adapters/aws-lambda/lambda-client.js';
import { lambdaSpec } from '../../../src/adapters/aws-lambda/lambda-spec.js';
import { defaultCloudFormationClient } from '../../../src/adapters/cloudformation/cfn-client.js';
import { cfnSpec } from '../../../src/adapters/cloudformation/cfn-spec.js';
import { lockstep, lockstepAwait } from '../../helpers/cli.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { FakeLambda } from '../aws-lambda/fake-lambda.js';

// The AWS SDK warns on stderr, seven lines long, on every command that builds a client under a Node
// version it is about to drop (Node 20 today). Lockstep turns that one warning off through the SDK's
// documented switch while it builds its clients, and only then. The CLI case proves the point on
// Node 20, where the SDK warns; on Node 22 and later the SDK is silent anyway and the case still
// checks that nothing leaks into the programs Lockstep runs.

describe('buildQuietly', () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env[SDK_NODE_WARNING_SWITCH];
    delete process.env[SDK_NODE_WARNING_SWITCH];
  });
  afterEach(() => {
    if (saved === undefined) delete process.env[SDK_NODE_WARNING_SWITCH];
    else process.env[SDK_NODE_WARNING_SWITCH] = saved;
  });

  it('sets the switch while the client is built, then removes it again', () => {
    const seen = buildQuietly(() => process.env[SDK_NODE_WARNING_SWITCH]);
    expect(seen).toBe('true');
    expect(process.env[SDK_NODE_WARNING_SWITCH]).toBeUndefined();
  });

  it('removes the switch even when building throws', () => {
    expect(() =>
      buildQuietly(() => {
        throw new Error('bad region');
      }),
    ).toThrow('bad region');
    expect(process.env[SDK_NODE_WARNING_SWITCH]).toBeUndefined();
  });

  it("leaves the user's own setting alone, whatever it says", () => {
    process.env[SDK_NODE_WARNING_SWITCH] = 'false';
    expect(buildQuietly(() => process.env[SDK_NODE_WARNING_SWITCH])).toBe('false');
    expect(process.env[SDK_NODE_WARNING_SWITCH]).toBe('false');
  });
});

describe('the AWS SDK Node version warning in CLI output (FAKE Lambda API)', () => {
  let lambda: FakeLambda;
  let project: TestProject;

  beforeEach(async () => {
    lambda = new FakeLambda();
    await lambda.start();
    lambda.addFunction('worker-dev');
    // `after` depends on the function, so its apply runs after the Lambda client was built; it
    // records whether the switch reached it and emits a warning of its own through Node.
    project = testProject(`project: quiet
environments:
  dev: {}
components:
  worker:
    type: aws-lambda
    with:
      function: "worker-\${{ env.name }}"
      region: eu-west-1
      alias: live
      code: { s3Bucket: artifacts, s3Key: "worker/\${{ version }}.zip" }
      endpoint: ${lambda.endpoint}
  after:
    type: command
    dependsOn: [worker]
    with:
      shell: true
      apply: 'echo "switch=\${${SDK_NODE_WARNING_SWITCH}:-unset}" > switch.txt'
`);
  });

  afterEach(async () => {
    project.cleanup();
    await lambda.stop();
  });

  it('plan and promote print no NodeVersionSupportWarning, and the programs Lockstep runs do not inherit the switch', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY: 'fake-secret' };
    delete process.env[SDK_NODE_WARNING_SWITCH];
    const created = lockstep(
      project.dir,
      ['release', 'create', '--set', 'worker=1.0.0', '--set', 'after=1', '-o', 'json'],
      env,
    );
    expect(created.status, created.stderr).toBe(0);
    const id = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;

    const plan = await lockstepAwait(project.dir, ['plan', id, '--to', 'dev'], env);
    expect(plan.status, plan.stderr).toBe(0);
    expect(plan.stderr).not.toContain('NodeVersionSupportWarning');

    const promoted = await lockstepAwait(project.dir, ['promote', id, '--to', 'dev'], env);
    expect(promoted.status, promoted.stderr).toBe(0);
    expect(promoted.stderr).not.toContain('NodeVersionSupportWarning');
    expect(promoted.stderr + promoted.stdout).not.toContain('will require node');
    expect(readFileSync(join(project.dir, 'switch.txt'), 'utf8').trim()).toBe('switch=unset');
  });

  it('other warnings still show: the switch is the SDK’s own, not a filter on Node warnings', async () => {
    const warnings: string[] = [];
    const listen = (w: Error): void => void warnings.push(`${w.name}: ${w.message.split('\n')[0]}`);
    process.on('warning', listen);
    try {
      const spec = lambdaSpec.parse({
        function: 'worker-dev',
        alias: 'live',
        region: 'eu-west-1',
        endpoint: lambda.endpoint,
        code: { s3Bucket: 'artifacts', s3Key: 'worker/1.zip' },
      });
      await defaultLambdaClient(spec);
      await defaultCloudFormationClient(
        cfnSpec.parse({ stack: 's', template: 't.json', region: 'eu-west-1', endpoint: lambda.endpoint }),
      );
      process.emitWarning('someone else speaks', 'OtherWarning');
      // Node emits warnings on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listen);
    }
    expect(warnings).toEqual(['OtherWarning: someone else speaks']);
  });
});
