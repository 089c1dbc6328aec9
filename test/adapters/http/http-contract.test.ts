import { httpAdapter } from '../../../src/adapters/http/http-adapter.js';
import { adapterContract } from '../adapter-contract.js';
import { startFakeCiServer } from './fake-ci-server.js';

// The http adapter against a FAKE CI server on a local port: a run "deploys" its ref when it completes.
adapterContract('http (fake CI server)', async () => {
  const ci = await startFakeCiServer();
  ci.pollsUntilDone = 1;
  return {
    adapter: httpAdapter,
    spec: (version) => ({
      request: {
        url: `${ci.url}/api/jobs/deploy/runs`,
        headers: { Authorization: 'Bearer ci-token-very-secret' },
        body: { ref: version },
      },
      poll: {
        url: `${ci.url}/api/runs/\${{ response.id }}`,
        interval: '50ms',
        timeout: '10s',
        success: "response.status == 'completed'",
      },
    }),
    running: () => Promise.resolve(ci.deployed),
    invalid: [
      { with: {}, path: ['request'] },
      { with: { request: { url: 'ftp://x' } }, path: ['request', 'url'] },
      { with: { request: { url: 'http://x', method: 'FETCH' } }, path: ['request', 'method'] },
      {
        with: { request: { url: 'http://x' }, poll: { url: 'http://x/${{ response.id', success: 'true' } },
        path: ['poll', 'url'],
      },
      {
        with: { request: { url: 'http://x' }, poll: { url: 'http://x', success: 'response.status ==' } },
        path: ['poll', 'success'],
      },
      { with: { request: { url: 'http://x' }, outputs: { a: 'env.name' } }, path: ['outputs', 'a'] },
      { with: { request: { url: 'http://x' }, colour: 'red' }, path: [] },
    ],
    cleanup: () => ci.close(),
  };
});
