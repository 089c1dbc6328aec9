import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandAdapter } from '../../src/adapters/command/command-adapter.js';
import { adapterContract } from './adapter-contract.js';

// The `command` adapter against a real "system": a directory whose `running` file holds the version.
adapterContract('command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-command-contract-'));
  writeFileSync(join(dir, 'deploy.sh'), '#!/bin/sh\nset -eu\nprintf "%s" "$1" > running\n');
  writeFileSync(join(dir, 'current.sh'), '#!/bin/sh\ncat running 2>/dev/null || true\n');
  chmodSync(join(dir, 'deploy.sh'), 0o755);
  chmodSync(join(dir, 'current.sh'), 0o755);
  return Promise.resolve({
    adapter: commandAdapter,
    spec: (version, previous) => ({ apply: ['./deploy.sh', version], rollback: ['./deploy.sh', previous ?? ''], observe: ['./current.sh'], idempotent: true }),
    running: () => Promise.resolve(existsSync(join(dir, 'running')) ? readFileSync(join(dir, 'running'), 'utf8') : undefined),
    invalid: [
      { with: {}, path: ['apply'] },
      { with: { apply: [] }, path: ['apply'] },
      { with: { apply: ['x'], timeout: 'soon' }, path: ['timeout'] },
      { with: { apply: ['x'], colour: 'red' }, path: [] },
    ],
    context: () => ({ projectDir: dir }),
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});
