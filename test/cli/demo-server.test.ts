import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { requireBuild } from '../helpers/cli.js';

// `npm run demo:server` end to end: the script as a user runs it, with the built CLI, a real
// `lockstep serve` child process and its real event stream. What it promises in the README must
// show in what it prints, and it must leave the server stopped cleanly.

const SCRIPT = fileURLToPath(new URL('../../scripts/demo-server.mjs', import.meta.url));
let projectDir: string | undefined;

afterAll(() => {
  if (projectDir) rmSync(projectDir, { recursive: true, force: true });
}, 200_000);

it('demo:server promotes through the server with one token, approves with two others and streams the events', async () => {
  requireBuild();
  // Without the caller's LOCKSTEP_* settings, as on a fresh clone.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCKSTEP_')));
  const run = await promisify(execFile)(process.execPath, [SCRIPT], {
    env,
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { code?: number; stdout?: string; stderr?: string }) => {
    throw new Error(`the demo exited ${error.code}:\n${error.stdout}\n${error.stderr}`);
  });
  const out = run.stdout;
  projectDir = /The project stays in (\S+): /.exec(out)?.[1];
  expect(projectDir).toBeDefined();

  expect(out).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/m);
  // The pending prod promotion: Bob's approval counts, Carol's completes the gates.
  expect(out).toMatch(/approvals\s+WAITING\s+1 of 2 approvals \(bob@example\.com\); 1 more from: carol@example\.com/);
  expect(out).toMatch(/approvals\s+passed\s+2 of 2 approvals \(bob@example\.com, carol@example\.com\)/);
  // The event stream shows who did what, as the token says, and the prod run to its end.
  expect(out).toMatch(/⟵ audit\s+release\.created\s+by alice@example\.com/);
  expect(out).toMatch(/⟵ audit\s+approval\.given\s+prod\s+by bob@example\.com/);
  expect(out).toMatch(/⟵ audit\s+approval\.given\s+prod\s+by carol@example\.com/);
  expect(out).toMatch(/⟵ log\s+web\s+web now runs 5\.0\.0/);
  expect(out).toMatch(/⟵ audit\s+promotion\.finished\s+prod\s+succeeded/);
  // `status` through the server, then a clean stop.
  expect(out).toMatch(/^prod: release [0-9a-f]{12}; last promotion [0-9a-f]{12} succeeded/m);
  expect(out).toContain('the server stopped (exit 0)');
  // The tokens are used, never printed.
  expect(`${out}${run.stderr}`).not.toMatch(/lst_/);

  // What the promotion did is on disk in the project the demo leaves behind.
  expect(readFileSync(join(projectDir ?? '', 'systems', 'prod', 'web'), 'utf8').trim()).toBe('5.0.0');
}, 200_000);
