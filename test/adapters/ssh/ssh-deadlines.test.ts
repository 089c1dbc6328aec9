import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sshAdapter } from '../../../src/adapters/ssh/ssh-adapter.js';
import { sshSpec } from '../../../src/adapters/ssh/ssh-spec.js';
import { StepFailure } from '../../../src/core/errors.js';
import { stalledServer, type StalledServer } from '../../helpers/stalled-server.js';
import { stepContext } from '../../helpers/step-context.js';
import { keygen } from './sshd.js';

// The real ssh2 client against a FAKE SSH server: a TCP listener on 127.0.0.1 that accepts the
// connection and never sends the SSH banner.

let project: string;
let stalled: StalledServer;

beforeEach(async () => {
  project = mkdtempSync(join(tmpdir(), 'lockstep-ssh-deadline-'));
  writeFileSync(join(project, 'known_hosts'), '');
  writeFileSync(join(project, 'app.txt'), 'app\n');
  stalled = await stalledServer('silent');
});

afterEach(async () => {
  await stalled.close();
  rmSync(project, { recursive: true, force: true });
});

function spec(extra: Record<string, unknown> = {}) {
  return sshSpec.parse({
    hosts: [{ host: '127.0.0.1', port: stalled.port, user: 'deploy' }],
    privateKey: keygen(join(project, 'id_ed25519')),
    knownHosts: 'known_hosts',
    artifact: 'app.txt',
    dir: 'srv/app',
    restart: 'true',
    connectTimeout: '1s',
    ...extra,
  });
}

describe('ssh against a FAKE server that never sends its banner', () => {
  it('fails within connectTimeout, naming the host and what it waited for', async () => {
    const { ctx } = stepContext({ projectDir: project, version: '1.0.0', previousVersion: undefined });
    const started = Date.now();
    const error: unknown = await sshAdapter.plan(spec(), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).message).toBe(
      `host 127.0.0.1:${stalled.port}: no answer from 127.0.0.1 port ${stalled.port} within 1s (SSH banner, key exchange and login; connectTimeout)`,
    );
    expect((error as StepFailure).untouched).toBe(true);
    // A hang check, not a timing assertion.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('stops connecting at once when the step is cancelled', async () => {
    const controller = new AbortController();
    const { ctx } = stepContext({ projectDir: project, version: '1.0.0', previousVersion: undefined, signal: controller.signal });
    const started = Date.now();
    setTimeout(() => controller.abort(new StepFailure('promotion cancelled', false)), 300);
    const error: unknown = await sshAdapter.plan(spec({ connectTimeout: '1m' }), ctx).catch((e: unknown) => e);
    expect((error as Error).message).toBe('promotion cancelled');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
