import { createLambdaAdapter } from '../../../src/adapters/aws-lambda/lambda-adapter.js';
import { adapterContract } from '../adapter-contract.js';
import { FakeLambda } from './fake-lambda.js';

// The real AWS SDK client against a FAKE Lambda API server (see fake-lambda.ts); the SDK signs with
// these throwaway keys, which the fake does not check.
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret';

adapterContract('aws-lambda (against a FAKE Lambda API)', async () => {
  const fake = new FakeLambda();
  await fake.start();
  fake.addFunction('worker');
  return {
    adapter: createLambdaAdapter({ pollMs: 5 }),
    spec: (version) => ({
      function: 'worker',
      region: 'eu-west-1',
      alias: 'live',
      code: { s3Bucket: 'artifacts', s3Key: `worker/${version}.zip` },
      environment: { MODE: 'test' },
      endpoint: fake.endpoint,
    }),
    running: () => Promise.resolve(/^lockstep billing@(\S+) /.exec(fake.aliasVersion('worker', 'live')?.Description ?? '')?.[1]),
    invalid: [
      { with: { region: 'eu-west-1', alias: 'live', code: { s3Bucket: 'a', s3Key: 'b' } }, path: ['function'] },
      { with: { function: 'worker', alias: 'live', code: {} }, path: ['code'] },
      { with: { function: 'worker', alias: 'live', code: { s3Bucket: 'a' } }, path: ['code', 's3Key'] },
      { with: { function: 'worker', alias: 'live', code: { imageUri: 'x' }, traffic: [50, 10] }, path: ['traffic', 1] },
      { with: { function: 'worker', alias: 'live', code: { imageUri: 'x' }, interval: 'soon' }, path: ['interval'] },
      { with: { function: 'worker', alias: 'live', code: { imageUri: 'x' }, colour: 'red' }, path: [] },
    ],
    cleanup: () => fake.stop(),
  };
});
