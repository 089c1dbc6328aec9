import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCloudFormationAdapter } from '../../../src/adapters/cloudformation/cfn-adapter.js';
import { cfnSpec } from '../../../src/adapters/cloudformation/cfn-spec.js';
import type { CfnSpec } from '../../../src/adapters/cloudformation/cfn-spec.js';
import { sensitiveOutputNames, type AdapterPlan } from '../../../src/core/adapter.js';
import { stepContext } from '../../helpers/step-context.js';
import { FakeCloudFormation } from './fake-cloudformation.js';
import { QUEUE_TEMPLATE } from './templates.js';
import { failure } from '../../helpers/step-failure.js';

// Every test drives the real @aws-sdk/client-cloudformation client against a FAKE CloudFormation API
// server speaking the Query protocol (see fake-cloudformation.ts). The keys are throwaway.
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret';

const adapter = createCloudFormationAdapter({ pollMs: 5 });
let fake: FakeCloudFormation;
let dir: string;

beforeEach(async () => {
  fake = new FakeCloudFormation();
  await fake.start();
  dir = await mkdtemp(path.join(tmpdir(), 'lockstep-cfn-test-'));
  await template('queue.json', QUEUE_TEMPLATE);
});

afterEach(async () => {
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

async function template(name: string, body: unknown): Promise<void> {
  await writeFile(path.join(dir, name), JSON.stringify(body));
}

function spec(version: string, extra: Record<string, unknown> = {}): CfnSpec {
  return cfnSpec.parse({ stack: 'orders-prod', region: 'eu-west-1', template: 'queue.json', parameters: { Release: version }, endpoint: fake.endpoint, ...extra });
}

function context(version: string): ReturnType<typeof stepContext> {
  return stepContext({ version, component: 'orders', projectDir: dir });
}

async function planAndApply(version: string, extra: Record<string, unknown> = {}): Promise<{ plan: AdapterPlan; outputs: Record<string, unknown> }> {
  const s = spec(version, extra);
  const c = context(version);
  const plan = await adapter.plan(s, c.ctx);
  return { plan, outputs: await adapter.apply(s, plan, c.ctx) };
}

const actions = (): string[] => fake.requests.map((r) => r.action);

describe('cloudformation against a FAKE CloudFormation API', () => {
  it('creates a stack: the plan is a change set, apply executes exactly that one, outputs come from the stack', async () => {
    const s = spec('1.0.0', { tags: { team: 'payments' }, capabilities: ['CAPABILITY_IAM'] });
    const c = context('1.0.0');
    const plan = await adapter.plan(s, c.ctx);
    expect(plan).toMatchObject({ action: 'apply', summary: 'create stack orders-prod: 1 to add, 0 to modify, 0 to remove', risk: 'low', irreversible: false });
    expect(plan.details).toBe('Add Queue (AWS::SQS::Queue)');
    const created = fake.requests.find((r) => r.action === 'CreateChangeSet')?.params ?? {};
    expect(created).toMatchObject({ ChangeSetType: 'CREATE', 'Capabilities.member.1': 'CAPABILITY_IAM', 'Tags.member.1.Key': 'team', 'Tags.member.1.Value': 'payments' });
    expect(fake.stacks.get('orders-prod')?.status).toBe('REVIEW_IN_PROGRESS');

    fake.requests.length = 0;
    const outputs = await adapter.apply(s, plan, c.ctx);
    expect(actions()).not.toContain('CreateChangeSet');
    const executed = fake.requests.find((r) => r.action === 'ExecuteChangeSet')?.params.ChangeSetName;
    expect(executed).toBe((plan.data as { changeSetName: string }).changeSetName);
    expect(outputs).toEqual({ QueueUrl: 'orders-prod-Queue' });
    expect(fake.stacks.get('orders-prod')?.status).toBe('CREATE_COMPLETE');
  });

  it('makes no change set while a parameter is known only after its producer applies, and applies with the real value', async () => {
    const waiting = spec('1.0.0', { parameters: { Release: '(known after iam applies)' } });
    const plan = await adapter.plan(waiting, context('1.0.0').ctx);
    expect(plan.summary).toBe('stack orders-prod: change set made at run time (Release known only after their producers apply)');
    expect(plan.details).toBe('parameter Release: (known after iam applies)');
    expect(plan.data).toBeUndefined();
    expect(fake.requests).toEqual([]);
    // At run time the engine renders the real value; without plan data, apply plans it then.
    const outputs = await adapter.apply(spec('1.0.0'), plan, context('1.0.0').ctx);
    expect(actions()).toContain('CreateChangeSet');
    expect(outputs).toEqual({ QueueUrl: 'orders-prod-Queue' });
  });

  it('plans "unchanged" when the change set has no changes, deletes it, and apply only reads the outputs', async () => {
    await planAndApply('1.0.0');
    fake.requests.length = 0;
    const { plan, outputs } = await planAndApply('1.0.0');
    expect(plan).toMatchObject({ action: 'unchanged', summary: 'stack orders-prod: no changes' });
    expect(actions()).toContain('DeleteChangeSet');
    expect(actions()).not.toContain('ExecuteChangeSet');
    expect(outputs).toEqual({ QueueUrl: 'orders-prod-Queue' });
  });

  it('marks a replacement or a removal as destroying resources: irreversible and high risk', async () => {
    const named = {
      Parameters: { Release: { Type: 'String' }, QueueName: { Type: 'String' } },
      Resources: {
        Queue: { Type: 'AWS::SQS::Queue', Properties: { Name: { Ref: 'QueueName' } } },
        Topic: { Type: 'AWS::SNS::Topic', Properties: {} },
      },
    };
    await template('named.json', named);
    await planAndApply('1.0.0', { template: 'named.json', parameters: { Release: '1.0.0', QueueName: 'orders' } });
    await template('named.json', { ...named, Resources: { Queue: named.Resources.Queue } });
    const plan = await adapter.plan(spec('2.0.0', { template: 'named.json', parameters: { Release: '2.0.0', QueueName: 'orders-v2' } }), context('2.0.0').ctx);
    expect(plan).toMatchObject({
      summary: 'update stack orders-prod: 0 to add, 1 to modify, 1 to remove, 1 replaced (destroys resources)',
      irreversible: true,
      risk: 'high',
    });
    expect(plan.details?.split('\n')).toEqual(['Modify Queue (AWS::SQS::Queue) (replacement: True)', 'Remove Topic (AWS::SNS::Topic)']);
  });

  it('reports a failed update that CloudFormation rolled back with the reasons from the stack events', async () => {
    await planAndApply('1.0.0');
    const broken = structuredClone(QUEUE_TEMPLATE) as typeof QUEUE_TEMPLATE & { Resources: { Queue: { Properties: Record<string, unknown> } } };
    broken.Resources.Queue.Properties.FailWith = 'Resource handler returned message: "Queue orders already exists"';
    await template('queue.json', broken);
    const s = spec('2.0.0');
    const c = context('2.0.0');
    const error = await failure(adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx));
    expect(error.message).toBe(
      'stack orders-prod failed and CloudFormation rolled it back (UPDATE_ROLLBACK_COMPLETE): ' +
        'Queue (AWS::SQS::Queue) UPDATE_FAILED: Resource handler returned message: "Queue orders already exists"',
    );
    expect(error.retryable).toBe(false);
    expect(fake.stacks.get('orders-prod')?.tags['lockstep:version']).toBe('1.0.0');
  });

  it('a failed creation is ROLLBACK_COMPLETE, and the next plan says to delete the stack', async () => {
    await template('queue.json', { Resources: { Queue: { Type: 'AWS::SQS::Queue', Properties: { FailWith: 'quota reached' } } } });
    const error = await failure(planAndApply('1.0.0'));
    expect(error.message).toMatch(/^stack orders-prod failed and CloudFormation rolled it back \(ROLLBACK_COMPLETE\): Queue \(AWS::SQS::Queue\) CREATE_FAILED: quota reached$/);
    const again = await failure(adapter.plan(spec('1.0.0'), context('1.0.0').ctx));
    expect(again.message).toContain('ROLLBACK_COMPLETE (its creation failed) and cannot be updated; delete it');
    expect(again.untouched).toBe(true);
  });

  it('re-running apply with the same plan after a crash waits for the execution instead of executing twice', async () => {
    const s = spec('1.0.0');
    const c = context('1.0.0');
    const plan = await adapter.plan(s, c.ctx);
    await adapter.apply(s, plan, c.ctx);
    fake.requests.length = 0;
    expect(await adapter.apply(s, plan, c.ctx)).toEqual({ QueueUrl: 'orders-prod-Queue' });
    expect(actions()).not.toContain('ExecuteChangeSet');
    expect(c.lines.join('\n')).toContain('was executed already');
  });

  it('a retry after a rolled-back update executes its new change set (the request token is per change set)', async () => {
    await planAndApply('1.0.0');
    const good = await readFile(path.join(dir, 'queue.json'), 'utf8');
    const broken = structuredClone(QUEUE_TEMPLATE) as typeof QUEUE_TEMPLATE & { Resources: { Queue: { Properties: Record<string, unknown> } } };
    broken.Resources.Queue.Properties.FailWith = 'throttled by SQS';
    await template('queue.json', broken);
    const s = spec('2.0.0');
    const c = context('2.0.0');
    await failure(adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx));
    await writeFile(path.join(dir, 'queue.json'), good);
    await adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx);
    expect(fake.stacks.get('orders-prod')).toMatchObject({ status: 'UPDATE_COMPLETE', tags: { 'lockstep:version': '2.0.0' } });
  });

  it('refuses a change set made stale by another update: retryable, so the retry plans again', async () => {
    await planAndApply('1.0.0');
    const stale = await adapter.plan(spec('2.0.0'), context('2.0.0').ctx);
    await planAndApply('3.0.0');
    const error = await failure(adapter.apply(spec('2.0.0'), stale, context('2.0.0').ctx));
    expect(error.message).toMatch(/can no longer be executed \(OBSOLETE: .*\); plan again$/);
    expect(error.retryable).toBe(true);
    expect(error.untouched).toBe(true);
  });

  it('names a missing capability and a missing template file', async () => {
    await template('iam.json', { Resources: { Role: { Type: 'AWS::IAM::Role', Properties: {} } } });
    const caps = await failure(adapter.plan(spec('1.0.0', { template: 'iam.json' }), context('1.0.0').ctx));
    expect(caps.message).toBe(
      'CreateChangeSet for stack orders-prod: Requires capabilities : [CAPABILITY_IAM]; add it to capabilities if you accept what the template does',
    );
    const missing = await failure(adapter.plan(spec('1.0.0', { template: 'infra/none.yaml' }), context('1.0.0').ctx));
    expect(missing.message).toBe('template: cannot read infra/none.yaml (relative to the project directory): ENOENT');
  });

  it('rides out throttling through the SDK retries', async () => {
    fake.throttleNext = 2;
    const { outputs } = await planAndApply('1.0.0');
    expect(outputs).toEqual({ QueueUrl: 'orders-prod-Queue' });
  });

  it('observes the release version applied, the status and the outputs', async () => {
    await planAndApply('1.0.0');
    expect(await adapter.observe?.(spec('1.0.0'), context('1.0.0').ctx)).toEqual({
      version: '1.0.0',
      differences: [],
      outputs: { QueueUrl: 'orders-prod-Queue' },
      details: { status: 'CREATE_COMPLETE', outputs: { QueueUrl: 'orders-prod-Queue' }, stackDriftStatus: 'IN_SYNC' },
    });
  });

  it('never logs or plans parameter values, which may be secrets', async () => {
    const c = context('1.0.0');
    const s = spec('1.0.0', { parameters: { Release: 'top-secret-value' } });
    const plan = await adapter.plan(s, c.ctx);
    await adapter.apply(s, plan, c.ctx);
    expect([...c.lines, plan.summary, plan.details ?? '', JSON.stringify(plan.data)].join('\n')).not.toContain('top-secret-value');
  });

  it('names an output that echoes a NoEcho parameter sensitive, on apply, when read back and when observed', async () => {
    await template('db.json', {
      Parameters: { Release: { Type: 'String' }, DbPassword: { Type: 'String', NoEcho: true } },
      Resources: { Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'orders' } } },
      // CloudFormation masks NoEcho parameters in DescribeStacks, but not in Outputs.
      Outputs: { QueueUrl: { Value: { Ref: 'Queue' } }, DbPassword: { Value: { Ref: 'DbPassword' } } },
    });
    const extra = { template: 'db.json', parameters: { Release: '1.0.0', DbPassword: 'noecho-pw-5d1e' } };
    const { outputs } = await planAndApply('1.0.0', extra);
    // The sensitive names travel under a symbol key, beside the values.
    expect(Object.fromEntries(Object.entries(outputs))).toEqual({ QueueUrl: 'orders-prod-Queue', DbPassword: 'noecho-pw-5d1e' });
    expect(sensitiveOutputNames(outputs)).toEqual(['DbPassword']);

    const read = await adapter.readOutputs?.(spec('1.0.0', extra), context('1.0.0').ctx);
    expect(read?.DbPassword).toBe('noecho-pw-5d1e');
    expect(sensitiveOutputNames(read ?? {})).toEqual(['DbPassword']);
    expect(await adapter.observe?.(spec('1.0.0', extra), context('1.0.0').ctx)).toEqual({
      version: '1.0.0',
      // The sensitive output is left out of what a drift check compares: never compared, never shown.
      differences: [],
      outputs: { QueueUrl: 'orders-prod-Queue' },
      details: { status: 'CREATE_COMPLETE', outputs: { QueueUrl: 'orders-prod-Queue', DbPassword: '***' }, stackDriftStatus: 'IN_SYNC' },
    });
  });
});

/** A queue that changes with every release beside a topic that does not, and outputs of both. */
const SHOP_TEMPLATE = {
  Parameters: { Release: { Type: 'String' }, Env: { Type: 'String', Default: 'prod' }, Flavor: { Type: 'String', Default: 'plain' } },
  Resources: {
    Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'orders', Tags: [{ Key: 'release', Value: { Ref: 'Release' } }] } },
    Topic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: 'orders-events' } },
  },
  Outputs: {
    QueueUrl: { Value: { Ref: 'Queue' } },
    TopicArn: { Value: { 'Fn::GetAtt': ['Topic', 'TopicArn'] } },
    TopicLabel: { Value: { 'Fn::Sub': '${Topic}-${Flavor}' } },
    Endpoint: { Value: { 'Fn::Join': ['/', ['https://api', { Ref: 'Env' }, { Ref: 'AWS::StackName' }]] } },
  },
};

describe('cloudformation planned outputs, against a FAKE CloudFormation API', () => {
  const shop = (version: string, parameters: Record<string, string> = {}): CfnSpec =>
    spec(version, { template: 'shop.json', parameters: { Release: version, ...parameters } });

  beforeEach(async () => {
    await template('shop.json', SHOP_TEMPLATE);
  });

  it('knows the outputs of resources the change set leaves alone, with the values the stack has; those of changed resources are unknown', async () => {
    await adapter.apply(shop('1.0.0'), await adapter.plan(shop('1.0.0'), context('1.0.0').ctx), context('1.0.0').ctx);
    // The value today comes from DescribeStacks, whatever the template would compute.
    const stack = fake.stacks.get('orders-prod');
    if (stack !== undefined) stack.outputs.TopicArn = 'arn:aws:sns:eu-west-1:123456789012:orders-events';

    const plan = await adapter.plan(shop('2.0.0'), context('2.0.0').ctx);
    expect(plan.details).toBe('Modify Queue (AWS::SQS::Queue)');
    expect(plan.outputs).toEqual({
      known: { TopicArn: 'arn:aws:sns:eu-west-1:123456789012:orders-events', TopicLabel: 'orders-prod-Topic-plain', Endpoint: 'https://api/prod/orders-prod' },
      unknown: ['QueueUrl'],
    });
  });

  it('leaves unknown an output whose parameter or definition changes, or that is new', async () => {
    await planAndApply('1.0.0', { template: 'shop.json' });
    const changed = structuredClone(SHOP_TEMPLATE) as typeof SHOP_TEMPLATE & { Outputs: Record<string, { Value: unknown }> };
    changed.Outputs.TopicArn = { Value: { 'Fn::GetAtt': ['Topic', 'TopicName'] } };
    changed.Outputs.TopicId = { Value: { Ref: 'Topic' } };
    await template('shop.json', changed);

    const s = shop('2.0.0', { Flavor: 'spicy', Env: 'eu' });
    const c = context('2.0.0');
    const plan = await adapter.plan(s, c.ctx);
    // Endpoint is made of parameters only: its new value is worked out, not kept.
    expect(plan.outputs).toEqual({ known: { Endpoint: 'https://api/eu/orders-prod' }, unknown: ['QueueUrl', 'TopicArn', 'TopicLabel', 'TopicId'] });
    const applied = await adapter.apply(s, plan, c.ctx);
    expect(applied.Endpoint).toBe('https://api/eu/orders-prod');
    expect(applied.TopicLabel).toBe('orders-prod-Topic-spicy');
  });

  it('for a new stack, knows only the outputs made of parameters and the stack name', async () => {
    const s = shop('1.0.0');
    const c = context('1.0.0');
    const plan = await adapter.plan(s, c.ctx);
    expect(plan.outputs).toEqual({ known: { Endpoint: 'https://api/prod/orders-prod' }, unknown: ['QueueUrl', 'TopicArn', 'TopicLabel'] });
    expect((await adapter.apply(s, plan, c.ctx)).Endpoint).toBe('https://api/prod/orders-prod');
  });

  it('a plan with no changes knows every output as the stack has it', async () => {
    await planAndApply('1.0.0', { template: 'shop.json' });
    const plan = await adapter.plan(shop('1.0.0'), context('1.0.0').ctx);
    expect(plan.action).toBe('unchanged');
    expect(plan.outputs).toEqual({
      known: { QueueUrl: 'orders-prod-Queue', TopicArn: 'orders-prod-Topic.TopicArn', TopicLabel: 'orders-prod-Topic-plain', Endpoint: 'https://api/prod/orders-prod' },
      unknown: [],
    });
  });

  it('names outputs that echo a NoEcho parameter sensitive, planned or kept, and never shows their values', async () => {
    await template('db.json', {
      Parameters: { Release: { Type: 'String' }, DbPassword: { Type: 'String', NoEcho: true } },
      Resources: { Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'orders', Tags: [{ Key: 'release', Value: { Ref: 'Release' } }] } } },
      Outputs: {
        QueueUrl: { Value: { Ref: 'Queue' } },
        DbPassword: { Value: { Ref: 'DbPassword' } },
        DbUrl: { Value: { 'Fn::Join': ['', ['postgres://app:', { Ref: 'DbPassword' }, '@', { Ref: 'Queue' }]] } },
      },
    });
    const db = (version: string): CfnSpec => spec(version, { template: 'db.json', parameters: { Release: version, DbPassword: 'noecho-pw-5d1e' } });
    const c = context('1.0.0');
    const created = await adapter.plan(db('1.0.0'), c.ctx);
    expect(created.outputs).toEqual({ known: { DbPassword: 'noecho-pw-5d1e' }, unknown: ['QueueUrl', 'DbUrl'], sensitive: ['DbPassword', 'DbUrl'] });
    await adapter.apply(db('1.0.0'), created, c.ctx);

    const updated = await adapter.plan(db('2.0.0'), c.ctx);
    expect(updated.outputs?.sensitive).toEqual(['DbPassword', 'DbUrl']);
    expect(updated.outputs?.unknown).toEqual(['QueueUrl', 'DbUrl']);
    const unchanged = await adapter.plan(db('1.0.0'), c.ctx);
    expect(unchanged.outputs?.known).toEqual({ QueueUrl: 'orders-prod-Queue', DbPassword: 'noecho-pw-5d1e', DbUrl: 'postgres://app:noecho-pw-5d1e@orders-prod-Queue' });
    expect(unchanged.outputs?.sensitive).toEqual(['DbPassword', 'DbUrl']);

    const shown = [created, updated, unchanged].flatMap((p) => [p.summary, p.details ?? '', JSON.stringify(p.data ?? null)]);
    expect([...c.lines, ...shown].join('\n')).not.toContain('noecho-pw-5d1e');
  });

  it('reads every page of a long change set, for the summary and for the outputs', async () => {
    await planAndApply('1.0.0', { template: 'shop.json' });
    const changed = structuredClone(SHOP_TEMPLATE);
    changed.Resources.Topic.Properties.TopicName = 'orders-events-v2';
    await template('shop.json', changed);
    fake.changesPerPage = 1;
    const plan = await adapter.plan(shop('2.0.0'), context('2.0.0').ctx);
    expect(plan.summary).toBe('update stack orders-prod: 0 to add, 2 to modify, 0 to remove');
    expect(plan.outputs).toEqual({ known: { Endpoint: 'https://api/prod/orders-prod' }, unknown: ['QueueUrl', 'TopicArn', 'TopicLabel'] });
  });

  it('without cloudformation:GetTemplate the plan stands, its outputs unknown, and the log says why', async () => {
    await planAndApply('1.0.0', { template: 'shop.json' });
    fake.denied.add('GetTemplate');
    const c = context('2.0.0');
    const plan = await adapter.plan(shop('2.0.0'), c.ctx);
    expect(plan.summary).toBe('update stack orders-prod: 0 to add, 1 to modify, 0 to remove');
    expect(plan.outputs).toBeUndefined();
    expect(c.lines.join('\n')).toMatch(/^stack orders-prod: its outputs are left unknown in the plan: GetTemplate of change set lockstep-\w+ of stack orders-prod: AccessDenied: .*cloudformation:GetTemplate$/m);
  });
});
