import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLambdaAdapter } from '../../../src/adapters/aws-lambda/lambda-adapter.js';
import { lambdaSpec } from '../../../src/adapters/aws-lambda/lambda-spec.js';
import type { LambdaSpec } from '../../../src/adapters/aws-lambda/lambda-spec.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { StepFailure } from '../../../src/core/errors.js';
import { knownAfter } from '../../../src/core/plan.js';
import { stepContext } from '../../helpers/step-context.js';
import { FakeLambda, sha256 } from './fake-lambda.js';
import { failure } from '../../helpers/step-failure.js';

// Every test drives the real @aws-sdk/client-lambda client against a FAKE Lambda API server (see
// fake-lambda.ts for the calls and shapes it implements). The keys below are throwaway: the fake does
// not check signatures.
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret';

const SECRET = 'pa55-very-secret-value';
const adapter = createLambdaAdapter({ pollMs: 5 });
let fake: FakeLambda;
let dir: string;

beforeEach(async () => {
  fake = new FakeLambda();
  await fake.start();
  fake.addFunction('worker', 's3://artifacts/initial.zip', { DB_PASSWORD: 'old' });
  dir = await mkdtemp(path.join(tmpdir(), 'lockstep-lambda-test-'));
});

afterEach(async () => {
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

function spec(version: string, extra: Record<string, unknown> = {}): LambdaSpec {
  return lambdaSpec.parse({
    function: 'worker',
    region: 'eu-west-1',
    alias: 'live',
    code: { s3Bucket: 'artifacts', s3Key: `worker/${version}.zip` },
    environment: { DB_PASSWORD: SECRET, MODE: 'prod' },
    endpoint: fake.endpoint,
    ...extra,
  });
}

/** As the engine does, values holding the secret count as sensitive. */
function context(version: string, previous: string | undefined, overrides: Partial<StepContext> = {}): ReturnType<typeof stepContext> {
  return stepContext({
    version,
    previousVersion: previous,
    component: 'worker',
    projectDir: dir,
    isSensitive: (value) => value.includes(SECRET),
    ...overrides,
  });
}

async function deploy(version: string, previous: string | undefined, extra: Record<string, unknown> = {}): Promise<ReturnType<typeof stepContext>> {
  const s = spec(version, extra);
  const c = context(version, previous);
  await adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx);
  return c;
}

const writes = (): string[] => fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path.replace('/2015-03-31/functions/worker', '')}`);
const alias = (): { FunctionVersion: string; weights: Record<string, number> } | undefined => fake.functions.get('worker')?.aliases.get('live');

describe('aws-lambda against a FAKE Lambda API', () => {
  it('deploys: environment, code, a version guarded by CodeSha256, then the alias; outputs name the version and alias', async () => {
    const s = spec('1.0.0');
    const c = context('1.0.0', undefined);
    const plan = await adapter.plan(s, c.ctx);
    expect(plan.action).toBe('apply');
    expect(plan.summary).toContain('environment: add MODE; change DB_PASSWORD');
    expect(plan.summary).toContain('code from s3://artifacts/worker/1.0.0.zip');
    expect(writes()).toEqual([]);

    const outputs = await adapter.apply(s, plan, c.ctx);
    expect(writes()).toEqual(['PUT /configuration', 'PUT /code', 'POST /versions', 'POST /aliases']);
    const publish = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/versions'));
    expect(publish?.body.CodeSha256).toBe(sha256('s3://artifacts/worker/1.0.0.zip'));
    expect(outputs).toMatchObject({
      functionVersion: '2',
      aliasArn: 'arn:aws:lambda:eu-west-1:123456789012:function:worker:live',
      codeSha256: sha256('s3://artifacts/worker/1.0.0.zip'),
    });
    expect(fake.aliasVersion('worker', 'live')?.Variables).toEqual({ DB_PASSWORD: SECRET, MODE: 'prod' });
  });

  it('changes nothing when the alias already runs the target code and configuration', async () => {
    await deploy('1.0.0', undefined);
    fake.requests.length = 0;
    const s = spec('1.0.0');
    const c = context('1.0.0', undefined);
    const plan = await adapter.plan(s, c.ctx);
    expect(plan.action).toBe('unchanged');
    const outputs = await adapter.apply(s, plan, c.ctx);
    expect(writes()).toEqual([]);
    expect(outputs.functionVersion).toBe('2');
    expect(c.lines.join('\n')).toContain('nothing to do');
  });

  it('re-runs after a crash between publishing and moving the alias by reusing the published version', async () => {
    await deploy('1.0.0', undefined);
    const fn = fake.functions.get('worker');
    await deploy('2.0.0', '1.0.0');
    // As if the alias move of 2.0.0 never happened.
    fn?.aliases.set('live', { FunctionVersion: '2', Description: 'lockstep worker@1.0.0', weights: {} });
    fake.requests.length = 0;
    const c = await deploy('2.0.0', '1.0.0');
    expect(writes()).toEqual(['PUT /aliases/live']);
    expect(alias()?.FunctionVersion).toBe('3');
    expect(c.lines.join('\n')).toContain('version 3 already holds this code');
  });

  it('a release whose code and configuration equal the running version ends on that version, saying why', async () => {
    await deploy('1.0.0', undefined);
    const c = await deploy('1.0.1', '1.0.0', { code: { s3Bucket: 'artifacts', s3Key: 'worker/1.0.0.zip' } });
    expect(alias()?.FunctionVersion).toBe('2');
    expect(c.lines.join('\n')).toContain('version 2 already had this exact code and configuration (lockstep worker@1.0.0');
  });

  it('walks the canary steps and ends with all traffic on the new version and no routing', async () => {
    await deploy('1.0.0', undefined);
    fake.requests.length = 0;
    const c = await deploy('2.0.0', '1.0.0', { traffic: [10, 50], interval: '20ms' });
    const routings = fake.requests
      .filter((r) => r.method === 'PUT' && r.path.endsWith('/aliases/live'))
      .map((r) => [r.body.FunctionVersion, r.body.RoutingConfig]);
    expect(routings).toEqual([
      ['2', { AdditionalVersionWeights: { '3': 0.1 } }],
      ['2', { AdditionalVersionWeights: { '3': 0.5 } }],
      ['3', { AdditionalVersionWeights: {} }],
    ]);
    expect(alias()).toMatchObject({ FunctionVersion: '3', weights: {} });
    expect(c.heartbeats()).toBeGreaterThan(0);
  });

  it('a canary that fails at 10 % ends with the alias fully on the old version, with no routing config', async () => {
    await deploy('1.0.0', undefined);
    fake.failVersionOnRouting = 'the image could not be pulled';
    const s = spec('2.0.0', { traffic: [10, 50, 100], interval: '10ms' });
    const c = context('2.0.0', '1.0.0');
    const error = await failure(adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx));
    expect(error.message).toMatch(/canary at 10 %: version 3 of worker is Failed \(the image could not be pulled\)/);
    expect(error.retryable).toBe(false);
    expect(alias()).toEqual(expect.objectContaining({ FunctionVersion: '2', weights: {} }));
    const weights = fake.requests.map((r) => JSON.stringify(r.body.RoutingConfig ?? null));
    expect(weights).not.toContain(JSON.stringify({ AdditionalVersionWeights: { '3': 0.5 } }));
    expect(c.lines.join('\n')).toContain('back to version 2 with no routing');
    expect(fake.functions.get('worker')?.aliases.get('live')?.Description).toBe('lockstep worker@1.0.0');
  });

  it('with a check, invokes the new version between steps and stops the canary on a function error', async () => {
    await deploy('1.0.0', undefined);
    fake.invokeError = `cannot reach the database with ${SECRET}`;
    const s = spec('2.0.0', { traffic: [10, 50], interval: '1ms', check: { payload: { ping: true } } });
    const c = context('2.0.0', '1.0.0');
    const error = await failure(adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx));
    expect(error.message).toBe('canary at 10 %: version 3 failed the check invocation (Unhandled: Error: cannot reach the database with ***)');
    const invoked = fake.requests.filter((r) => r.path.endsWith('/invocations'));
    expect(invoked.map((r) => r.body)).toEqual([{ ping: true }]);
    expect(alias()).toEqual(expect.objectContaining({ FunctionVersion: '2', weights: {} }));
  });

  it('with a check that passes, walks every step', async () => {
    await deploy('1.0.0', undefined);
    await deploy('2.0.0', '1.0.0', { traffic: [10, 50], interval: '1ms', check: {} });
    expect(fake.requests.filter((r) => r.path.endsWith('/invocations'))).toHaveLength(2);
    expect(alias()).toMatchObject({ FunctionVersion: '3', weights: {} });
  });

  it('a canary cancelled mid-way still puts the alias back on the old version', async () => {
    await deploy('1.0.0', undefined);
    const controller = new AbortController();
    const s = spec('2.0.0', { traffic: [10], interval: '5s' });
    const c = context('2.0.0', '1.0.0', { signal: controller.signal });
    const running = adapter.apply(s, await adapter.plan(s, c.ctx), c.ctx);
    setTimeout(() => controller.abort(new StepFailure('cancelled by the test', false)), 200);
    await expect(running).rejects.toThrow('cancelled by the test');
    expect(alias()).toEqual(expect.objectContaining({ FunctionVersion: '2', weights: {} }));
  });

  it('rolls the alias back to the version the previous release published', async () => {
    await deploy('1.0.0', undefined);
    await deploy('2.0.0', '1.0.0');
    expect(alias()?.FunctionVersion).toBe('3');
    const c = context('2.0.0', '1.0.0');
    await adapter.rollback?.(spec('2.0.0'), c.ctx);
    expect(alias()).toMatchObject({ FunctionVersion: '2', weights: {} });
    // Rolling back again changes nothing.
    fake.requests.length = 0;
    await adapter.rollback?.(spec('2.0.0'), c.ctx);
    expect(writes()).toEqual([]);
  });

  it('plans each configuration change old → new (a secret by name only), applies configuration then code, and rolls back to the old configuration', async () => {
    await deploy('1.0.0', undefined);
    const NEW_ROLE = 'arn:aws:iam::123456789012:role/worker-v2';
    const s = spec('2.0.0', { memory: 512, timeout: '30s', role: NEW_ROLE, environment: { DB_PASSWORD: `${SECRET}-2`, MODE: 'staging' } });
    const c = context('2.0.0', '1.0.0');
    fake.requests.length = 0;
    const plan = await adapter.plan(s, c.ctx);
    expect(writes()).toEqual([]);
    expect(plan.summary).toContain('configuration: memory, timeout, role; environment: change DB_PASSWORD, MODE');
    expect(plan.details?.split('\n')).toEqual([
      'memory: 128 MB → 512 MB',
      'timeout: 3 s → 30 s',
      `role: arn:aws:iam::123456789012:role/initial → ${NEW_ROLE}`,
      'environment.DB_PASSWORD: (sensitive) (changed)',
      'environment.MODE: "prod" → "staging"',
    ]);

    // Each update stays in progress for several reads: the code update must wait for the configuration's.
    fake.updatePolls = 3;
    await adapter.apply(s, plan, c.ctx);
    expect(writes()).toEqual(['PUT /configuration', 'PUT /code', 'POST /versions', 'PUT /aliases/live']);
    expect(c.lines.join('\n')).not.toContain('another update of worker is in progress');
    const update = fake.requests.find((r) => r.method === 'PUT' && r.path.endsWith('/configuration'));
    expect(update?.body).toMatchObject({ MemorySize: 512, Timeout: 30, Role: NEW_ROLE, Environment: { Variables: { DB_PASSWORD: `${SECRET}-2`, MODE: 'staging' } } });
    expect(fake.aliasVersion('worker', 'live')).toMatchObject({ Version: '3', settings: { MemorySize: 512, Timeout: 30, Role: NEW_ROLE } });
    expect(c.lines).toContain('  environment.DB_PASSWORD: (sensitive) (changed)');
    expect([...c.lines, plan.summary, plan.details ?? ''].join('\n')).not.toContain(SECRET);

    // Applying again changes nothing: the published version carries the configuration.
    expect((await adapter.plan(s, context('2.0.0', '1.0.0').ctx)).action).toBe('unchanged');

    // The published version 2 carries the old configuration: moving the alias back restores it.
    await adapter.rollback?.(s, context('2.0.0', '1.0.0').ctx);
    expect(fake.aliasVersion('worker', 'live')).toMatchObject({
      Version: '2',
      settings: { MemorySize: 128, Timeout: 3, Role: 'arn:aws:iam::123456789012:role/initial' },
      Variables: { DB_PASSWORD: SECRET, MODE: 'prod' },
    });
  });

  it('plans values known only after their producer applies with the stand-in in place, writing nothing', async () => {
    await deploy('1.0.0', undefined);
    const unknown = knownAfter('infra');
    const s = spec('2.0.0', {
      role: unknown,
      code: { s3Bucket: unknown, s3Key: 'worker/2.0.0.zip' },
      environment: { DB_PASSWORD: SECRET, MODE: 'prod', QUEUE_URL: `https://${unknown}/jobs` },
    });
    fake.requests.length = 0;
    const plan = await adapter.plan(s, context('2.0.0', '1.0.0').ctx);
    expect(writes()).toEqual([]);
    expect(plan.summary).toBe(
      `worker: configuration: role; environment: add QUEUE_URL; code from s3://${unknown}/worker/2.0.0.zip; publish a version; move alias live from version 2 to the new version`,
    );
    expect(plan.details?.split('\n')).toEqual([
      `role: arn:aws:iam::123456789012:role/initial → ${unknown}`,
      'environment.QUEUE_URL: (added) "https://(known after infra applies)/jobs"',
    ]);
  });

  it('plans a function or endpoint known only after its producer applies without calling Lambda, showing what the spec sets', async () => {
    const unknown = knownAfter('infra');
    const s = spec('2.0.0', {
      function: unknown,
      endpoint: `http://${unknown}:4566`,
      memory: 512,
      role: 'arn:aws:iam::123456789012:role/worker',
      traffic: [10, 50],
      environment: { DB_PASSWORD: SECRET, QUEUE_URL: `https://${unknown}/jobs` },
    });
    fake.requests.length = 0;
    const plan = await adapter.plan(s, context('2.0.0', '1.0.0').ctx);
    expect(fake.requests).toEqual([]);
    expect(plan.action).toBe('apply');
    expect(plan.summary).toBe(
      `${unknown}: set memory, role, environment (DB_PASSWORD, QUEUE_URL); code from s3://artifacts/worker/2.0.0.zip; publish a version; ` +
        'move alias live to the new version through 10 %, 50 %, 100 % every 1m (what the function runs now is read once it is known)',
    );
    expect(plan.details?.split('\n')).toEqual([
      'memory: 512 MB',
      'role: arn:aws:iam::123456789012:role/worker',
      'environment.DB_PASSWORD: (sensitive)',
      `environment.QUEUE_URL: "https://${unknown}/jobs"`,
    ]);
    expect(JSON.stringify(plan)).not.toContain(SECRET);
  });

  it('creates the function when it does not exist and the spec says how, waiting while it is Pending', async () => {
    const ROLE = 'arn:aws:iam::123456789012:role/fresh';
    const s = spec('1.0.0', { function: 'fresh', memory: 256, create: { role: ROLE, runtime: 'nodejs20.x', handler: 'index.handler' } });
    const c = context('1.0.0', undefined);
    const plan = await adapter.plan(s, c.ctx);
    expect(plan.summary).toBe(
      'fresh: create function fresh (nodejs20.x, handler index.handler) from s3://artifacts/worker/1.0.0.zip; publish a version; create alias live on it',
    );
    expect(plan.details?.split('\n')).toEqual([
      'memory: (added) 256 MB',
      `role: (added) ${ROLE}`,
      'handler: (added) index.handler',
      'runtime: (added) nodejs20.x',
      'environment.DB_PASSWORD: (sensitive) (added)',
      'environment.MODE: (added) "prod"',
    ]);
    expect(fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);

    // Pending for several reads: publishing before it is Active would be refused (ResourceConflictException).
    fake.updatePolls = 3;
    const outputs = await adapter.apply(s, plan, c.ctx);
    expect(fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /2015-03-31/functions',
      'POST /2015-03-31/functions/fresh/versions',
      'POST /2015-03-31/functions/fresh/aliases',
    ]);
    expect(fake.requests.find((r) => r.path === '/2015-03-31/functions')?.body).toMatchObject({
      FunctionName: 'fresh',
      Role: ROLE,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      MemorySize: 256,
      PackageType: 'Zip',
      Code: { S3Bucket: 'artifacts', S3Key: 'worker/1.0.0.zip' },
    });
    expect(outputs.functionVersion).toBe('1');
    expect(c.lines.join('\n')).not.toContain('another update of fresh is in progress');
    expect(fake.aliasVersion('fresh', 'live')).toMatchObject({ Description: expect.stringMatching(/^lockstep worker@1\.0\.0 /) as string, settings: { Role: ROLE, MemorySize: 256 } });
    expect((await adapter.plan(s, context('1.0.0', undefined).ctx)).action).toBe('unchanged');
  });

  it('rolls back to a version deployed before Lockstep, recorded on the alias when it was moved', async () => {
    fake.functions.get('worker')?.aliases.set('live', { FunctionVersion: '1', Description: 'by hand', weights: {} });
    await deploy('2.0.0', '0.9.0');
    expect(alias()?.FunctionVersion).toBe('2');
    await adapter.rollback?.(spec('2.0.0'), context('2.0.0', '0.9.0').ctx);
    expect(alias()?.FunctionVersion).toBe('1');
  });

  it('refuses to roll back when it cannot tell which version ran before', async () => {
    fake.functions.get('worker')?.aliases.set('live', { FunctionVersion: '1', Description: 'by hand', weights: {} });
    const error = await failure(adapter.rollback?.(spec('2.0.0'), context('2.0.0', '0.9.0').ctx) ?? Promise.resolve());
    expect(error.message).toContain('no version of worker is recorded as worker@0.9.0');
    expect(alias()?.FunctionVersion).toBe('1');
  });

  it('observes the alias version, its weights and the code SHA, and reports a canary left mid-way as drift', async () => {
    await deploy('1.0.0', undefined);
    const c = context('1.0.0', undefined);
    expect(await adapter.observe?.(spec('1.0.0'), c.ctx)).toEqual({
      version: '1.0.0',
      differences: [],
      // What a drift check compares with the recorded outputs.
      outputs: { functionVersion: '2', codeSha256: sha256('s3://artifacts/worker/1.0.0.zip') },
      details: { functionVersion: '2', weights: {}, codeSha256: sha256('s3://artifacts/worker/1.0.0.zip') },
    });
    const a = alias();
    if (a) a.weights = { '1': 0.25 };
    const observed = await adapter.observe?.(spec('1.0.0'), c.ctx);
    expect(observed?.drift).toEqual(['alias live sends 25 % to version 1 (a canary that did not finish?)']);
    expect(observed?.differences).toEqual([{ field: 'alias live.weights', expected: 'all traffic on one version', found: '25 % to version 1' }]);
  });

  it('rides out throttling (429) through the SDK retries', async () => {
    fake.throttleNext = 2;
    await deploy('1.0.0', undefined);
    expect(alias()?.FunctionVersion).toBe('2');
    // The first call (GetFunctionConfiguration) was answered 429 twice, then succeeded.
    expect(fake.requests.slice(0, 3).map((r) => `${r.method} ${r.path.split('/').at(-1) ?? ''}`)).toEqual([
      'GET configuration',
      'GET configuration',
      'GET configuration',
    ]);
  });

  it('waits out an update in progress (ResourceConflictException) and tries again', async () => {
    fake.conflictNext = 1;
    fake.updatePolls = 2;
    const c = await deploy('1.0.0', undefined);
    expect(alias()?.FunctionVersion).toBe('2');
    expect(c.lines.join('\n')).toContain('another update of worker is in progress');
  });

  it('deploys a zip from the project directory and recognises it again by its CodeSha256', async () => {
    const bytes = Buffer.from('PK\u0003\u0004 not really a zip');
    await writeFile(path.join(dir, 'worker.zip'), bytes);
    const extra = { code: { zipFile: 'worker.zip' } };
    await deploy('1.0.0', undefined, extra);
    expect(fake.aliasVersion('worker', 'live')?.CodeSha256).toBe(sha256(bytes));
    fake.requests.length = 0;
    await deploy('1.0.0', undefined, extra);
    expect(writes()).toEqual([]);
  });

  it('names what is wrong: a missing function, a missing zip file; neither touched anything', async () => {
    const missing = await failure(adapter.apply(spec('1.0.0', { function: 'nope' }), { summary: '' }, context('1.0.0', undefined).ctx));
    expect(missing.message).toBe(
      'function nope does not exist in eu-west-1; create it first, or add create: { role, runtime, handler } to the component so that Lockstep creates it',
    );
    expect(missing.untouched).toBe(true);
    const noZip = await failure(adapter.apply(spec('1.0.0', { code: { zipFile: 'dist/none.zip' } }), { summary: '' }, context('1.0.0', undefined).ctx));
    expect(noZip.message).toBe('code.zipFile: cannot read dist/none.zip (relative to the project directory): ENOENT');
    expect(noZip.untouched).toBe(true);
    expect(writes()).toEqual([]);
  });

  it('never puts environment values in the log, the plan or an error', async () => {
    const first = await deploy('1.0.0', undefined);
    const s = spec('2.0.0', { environment: { DB_PASSWORD: `${SECRET}-2` }, traffic: [10], interval: '1ms' });
    const c = context('2.0.0', '1.0.0');
    const plan = await adapter.plan(s, c.ctx);
    fake.failVersionOnRouting = 'broken';
    const error = await failure(adapter.apply(s, plan, c.ctx));
    const everything = [...first.lines, ...c.lines, plan.summary, plan.details ?? '', error.message].join('\n');
    expect(everything).toContain('DB_PASSWORD');
    expect(everything).not.toContain(SECRET);
  });
});

describe('aws-lambda error messages against a FAKE Lambda API', () => {
  it('withholds the environment Lambda quotes when it refuses it', async () => {
    const s = spec('1.0.0', { environment: { DB_PASSWORD: SECRET, BLOB: 'x'.repeat(5000) } });
    const c = context('1.0.0', undefined);
    const error = await failure(adapter.apply(s, { summary: '' }, c.ctx));
    expect(error.message).toContain('UpdateFunctionConfiguration worker: InvalidParameterValueException: ');
    expect(error.message).toContain('exceeded the 4KB limit. String measured: (withheld');
    expect(error.message).not.toContain(SECRET);
    expect(c.lines.join('\n')).not.toContain(SECRET);
  });
});

describe('aws-lambda without credentials', () => {
  it('says how to give the SDK credentials, and changes nothing', async () => {
    const saved = { ...process.env };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[name];
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'no-credentials');
    process.env.AWS_CONFIG_FILE = path.join(dir, 'no-config');
    try {
      const error = await failure(adapter.apply(spec('1.0.0'), { summary: '' }, context('1.0.0', undefined).ctx));
      expect(error.message).toBe(
        'GetFunctionConfiguration worker: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role',
      );
      expect(error.untouched).toBe(true);
      expect(fake.requests).toEqual([]);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });
});

describe('aws-lambda spec', () => {
  const base = { function: 'worker', alias: 'live', code: { s3Bucket: 'a', s3Key: 'b.zip' } };
  it('ends the canary at 100 % and defaults the interval', () => {
    expect(lambdaSpec.parse({ ...base, traffic: [10, 50] })).toMatchObject({ traffic: [10, 50, 100], interval: '1m' });
  });
  it('checks configuration fields and what creating a function needs, on their fields', () => {
    const issues = (input: Record<string, unknown>): string[][] =>
      (lambdaSpec.safeParse({ ...base, ...input }).error?.issues ?? []).map((i) => [i.path.join('.'), i.message]);
    expect(issues({ memory: 64, timeout: '20m', role: 'admin' })).toEqual([
      ['role', 'expected an IAM role ARN such as arn:aws:iam::123456789012:role/billing-worker'],
      ['memory', 'Lambda gives a function at least 128 MB'],
      ['timeout', 'expected whole seconds from 1 to 900 (15m), such as 30 or 2m'],
    ]);
    expect(issues({ create: { runtime: 'nodejs20.x' } })).toEqual([
      ['create.role', 'creating the function needs its execution role (create.role or role)'],
      ['create.handler', 'creating a function from a zip needs its handler (create.handler or handler)'],
    ]);
    expect(issues({ code: { imageUri: 'repo/worker:1' }, handler: 'index.handler', create: { role: 'arn:aws:iam::123456789012:role/w' } })).toEqual([
      ['handler', 'a container image function has no handler; leave it out'],
    ]);
    expect(lambdaSpec.parse({ ...base, timeout: '2m', memory: 1024 })).toMatchObject({ timeout: 120, memory: 1024 });
  });

  it('reports a mix of code sources and a bad region on their fields', () => {
    const parsed = lambdaSpec.safeParse({ ...base, code: { s3Bucket: 'a', s3Key: 'b', imageUri: 'i' }, region: 'Ireland' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual(
      expect.arrayContaining([
        ['region', 'expected an AWS region such as eu-west-1'],
        ['code', 'give only one code source, not s3 and imageUri'],
      ]),
    );
  });
});

describe('the FAKE Lambda API, through the real SDK: states and conflicts as AWS documents them', () => {
  it('refuses a second update while one is in progress, and any update while a new function is Pending', async () => {
    const sdk = await import('@aws-sdk/client-lambda');
    const client = new sdk.LambdaClient({ region: 'eu-west-1', endpoint: fake.endpoint, maxAttempts: 1 });
    fake.updatePolls = 2;
    await client.send(new sdk.UpdateFunctionConfigurationCommand({ FunctionName: 'worker', MemorySize: 256 }));
    const conflict = await client.send(new sdk.UpdateFunctionCodeCommand({ FunctionName: 'worker', S3Bucket: 'a', S3Key: 'b.zip' })).catch((e: unknown) => e as Error);
    expect(conflict).toMatchObject({ name: 'ResourceConflictException' });
    const reads = [];
    for (let i = 0; i < 3; i += 1) reads.push((await client.send(new sdk.GetFunctionConfigurationCommand({ FunctionName: 'worker' }))).LastUpdateStatus);
    expect(reads).toEqual(['InProgress', 'InProgress', 'Successful']);

    await client.send(
      new sdk.CreateFunctionCommand({ FunctionName: 'new', Role: 'arn:aws:iam::123456789012:role/r', Runtime: 'nodejs20.x', Handler: 'i.h', Code: { S3Bucket: 'a', S3Key: 'b.zip' } }),
    );
    expect((await client.send(new sdk.GetFunctionConfigurationCommand({ FunctionName: 'new' }))).State).toBe('Pending');
    const pending = await client.send(new sdk.PublishVersionCommand({ FunctionName: 'new' })).catch((e: unknown) => e as Error);
    expect(pending).toMatchObject({ name: 'ResourceConflictException' });
    const duplicate = await client
      .send(new sdk.CreateFunctionCommand({ FunctionName: 'new', Role: 'arn:aws:iam::123456789012:role/r', Runtime: 'nodejs20.x', Handler: 'i.h', Code: { S3Bucket: 'a', S3Key: 'b.zip' } }))
      .catch((e: unknown) => e as Error);
    expect(duplicate).toMatchObject({ name: 'ResourceConflictException' });
    const noHandler = await client
      .send(new sdk.CreateFunctionCommand({ FunctionName: 'other', Role: 'arn:aws:iam::123456789012:role/r', Code: { S3Bucket: 'a', S3Key: 'b.zip' } }))
      .catch((e: unknown) => e as Error);
    expect(noHandler).toMatchObject({ name: 'InvalidParameterValueException' });
    client.destroy();
  });
});
