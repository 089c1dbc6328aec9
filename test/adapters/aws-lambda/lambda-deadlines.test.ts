import { afterEach, describe, expect, it } from 'vitest';
import { createLambdaAdapter } from '../../../src/adapters/aws-lambda/lambda-adapter.js';
import { defaultLambdaClient } from '../../../src/adapters/aws-lambda/lambda-client.js';
import { lambdaSpec } from '../../../src/adapters/aws-lambda/lambda-spec.js';
import { StepFailure } from '../../../src/core/errors.js';
import { stalledServer, type StalledServer } from '../../helpers/stalled-server.js';
import { stepContext } from '../../helpers/step-context.js';

// The real @aws-sdk/client-lambda client, with its retries, against a FAKE Lambda endpoint that
// accepts connections and never answers (and one that sends headers, then stalls the body).

process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret-key-for-deadlines';

const SECRET = 'env-value-never-shown';
let stalled: StalledServer | undefined;

afterEach(async () => {
  await stalled?.close();
  stalled = undefined;
});

/** Short deadlines, so the test need not wait the real ones out; the client is otherwise the real one. */
const adapter = createLambdaAdapter({
  pollMs: 5,
  client: (spec) => defaultLambdaClient(spec, { connectMs: 1_000, requestMs: 500, callMs: 2_000 }),
});

function spec(endpoint: string) {
  return lambdaSpec.parse({
    function: 'worker',
    region: 'eu-west-1',
    alias: 'live',
    code: { s3Bucket: 'artifacts', s3Key: 'worker/1.0.0.zip' },
    environment: { DB_PASSWORD: SECRET },
    endpoint,
  });
}

describe('aws-lambda against a FAKE endpoint that stalls', () => {
  for (const mode of ['silent', 'headers'] as const) {
    it(`fails the call within its deadline, retries included (${mode})`, async () => {
      stalled = await stalledServer(mode);
      const { ctx, lines } = stepContext({ version: '1.0.0', previousVersion: undefined, component: 'worker' });
      const started = Date.now();
      const error: unknown = await adapter.plan(spec(stalled.url), ctx).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StepFailure);
      const message = (error as StepFailure).message;
      expect(message).toMatch(new RegExp(`no answer from ${stalled.url} within 2s \\(Get[A-Za-z]+, the SDK's retries included\\)`));
      expect((error as StepFailure).retryable).toBe(true);
      // A hang check, not a timing assertion: the SDK alone would retry 5 times.
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(`${message}\n${lines.join('\n')}`).not.toContain(SECRET);
      expect(message).not.toContain(process.env.AWS_SECRET_ACCESS_KEY);
    });
  }

  it('stops at once when the step is cancelled', async () => {
    stalled = await stalledServer('silent');
    const controller = new AbortController();
    const { ctx } = stepContext({ version: '1.0.0', previousVersion: undefined, component: 'worker', signal: controller.signal });
    setTimeout(() => controller.abort(new StepFailure('promotion cancelled', false)), 300);
    const slow = createLambdaAdapter({ pollMs: 5, client: (s) => defaultLambdaClient(s, { connectMs: 60_000, requestMs: 60_000, callMs: 60_000 }) });
    const started = Date.now();
    const error: unknown = await slow.plan(spec(stalled.url), ctx).catch((e: unknown) => e);
    expect((error as Error).message).toBe('promotion cancelled');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
