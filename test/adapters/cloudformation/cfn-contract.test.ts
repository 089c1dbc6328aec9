import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCloudFormationAdapter } from '../../../src/adapters/cloudformation/cfn-adapter.js';
import { adapterContract } from '../adapter-contract.js';
import { FakeCloudFormation } from './fake-cloudformation.js';
import { QUEUE_TEMPLATE } from './templates.js';

// The real AWS SDK client against a FAKE CloudFormation API server (see fake-cloudformation.ts); the
// SDK signs with these throwaway keys, which the fake does not check.
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret';

adapterContract('cloudformation (against a FAKE CloudFormation API)', async () => {
  const fake = new FakeCloudFormation();
  await fake.start();
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-cfn-contract-'));
  writeFileSync(join(dir, 'queue.json'), JSON.stringify(QUEUE_TEMPLATE));
  return {
    adapter: createCloudFormationAdapter({ pollMs: 5 }),
    spec: (version) => ({
      stack: 'orders-staging',
      region: 'eu-west-1',
      template: 'queue.json',
      parameters: { Release: version },
      endpoint: fake.endpoint,
    }),
    running: () => {
      const stack = fake.stacks.get('orders-staging');
      return Promise.resolve(stack?.status.endsWith('_COMPLETE') ? stack.tags['lockstep:version'] : undefined);
    },
    invalid: [
      { with: { template: 'queue.json' }, path: ['stack'] },
      { with: { stack: 'orders' }, path: ['template'] },
      { with: { stack: 'orders', template: 'a.json', templateUrl: 'https://bucket.s3.amazonaws.com/a.json' }, path: ['templateUrl'] },
      { with: { stack: 'orders', template: 'a.json', capabilities: ['CAPABILITY_EVERYTHING'] }, path: ['capabilities', 0] },
      { with: { stack: '1orders', template: 'a.json' }, path: ['stack'] },
      { with: { stack: 'orders', template: 'a.json', tags: { 'lockstep:version': '1' } }, path: ['tags', 'lockstep:version'] },
    ],
    context: () => ({ projectDir: dir }),
    cleanup: async () => {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
