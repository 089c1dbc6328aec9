import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runGit } from '../../../src/adapters/gitops/git-repo.js';
import { stalledServer, type StalledServer } from '../../helpers/stalled-server.js';

// Real git over http against a FAKE git server: a listener that accepts the connection and never answers.

let stalled: StalledServer;
let cwd: string;
const saved = process.env.GIT_HTTP_LOW_SPEED_TIME;

beforeEach(async () => {
  stalled = await stalledServer('silent');
  cwd = mkdtempSync(join(tmpdir(), 'lockstep-git-deadline-'));
  // A short stall time (set by the user's environment, which wins); the byte limit is Lockstep's own.
  process.env.GIT_HTTP_LOW_SPEED_TIME = '1';
});

afterEach(async () => {
  if (saved === undefined) delete process.env.GIT_HTTP_LOW_SPEED_TIME;
  else process.env.GIT_HTTP_LOW_SPEED_TIME = saved;
  await stalled.close();
  rmSync(cwd, { recursive: true, force: true });
});

describe('git network commands against a FAKE http server that never answers', () => {
  it('end on git’s own low-speed limit, long before the process limit', async () => {
    const started = Date.now();
    const out = await runGit(['ls-remote', `${stalled.url}/deploy.git`], { cwd, signal: new AbortController().signal, timeoutMs: 60_000 });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('Operation too slow');
    // A hang check, not a timing assertion: without the limit git waits for the 60 s process limit.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('end at the process limit, saying so, when nothing else stops them', async () => {
    process.env.GIT_HTTP_LOW_SPEED_TIME = '600';
    const error = await runGit(['ls-remote', `${stalled.url}/deploy.git`], { cwd, signal: new AbortController().signal, timeoutMs: 1_500 }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('git ls-remote did not finish within 1.5s');
  });
});
