import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withFileLock } from '../../../src/adapters/gitops/file-lock.js';

// Real lock files and real processes: a dead process's lock is stale, a live one's is waited for.

let dir: string;
let lock: string;
const signal = new AbortController().signal;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-lock-'));
  lock = join(dir, 'repo.lock');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the clone cache lock', () => {
  it('runs callers in this process one after another, and removes the file after', async () => {
    const order: string[] = [];
    const task = (name: string) =>
      withFileLock(lock, { signal }, async () => {
        order.push(`${name} in`);
        await sleep(30);
        order.push(`${name} out`);
      });
    await Promise.all([task('a'), task('b'), task('c')]);
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
    expect(existsSync(lock)).toBe(false);
  });

  it('releases the lock when the work throws', async () => {
    await expect(withFileLock(lock, { signal }, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(existsSync(lock)).toBe(false);
    await withFileLock(lock, { signal }, () => Promise.resolve());
  });

  it('breaks the lock of a process that died', async () => {
    const dead = spawnSync('true').pid;
    writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), token: 'old', since: new Date().toISOString() }));
    const ran = await withFileLock(lock, { signal }, () => Promise.resolve('ran'));
    expect(ran).toBe('ran');
  });

  it('waits for a live process, saying who holds it', async () => {
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(lock, JSON.stringify({ pid: holder.pid, host: hostname(), token: 'theirs', since: '2026-01-01T00:00:00Z' }));
      const waits: string[] = [];
      let done = false;
      const waiting = withFileLock(lock, { signal, onWait: (w) => waits.push(w) }, () => {
        done = true;
        return Promise.resolve();
      });
      await sleep(200);
      expect(done).toBe(false);
      expect(waits).toEqual([`process ${holder.pid} on ${hostname()} since 2026-01-01T00:00:00Z`]);
      unlinkSync(lock);
      await waiting;
      expect(done).toBe(true);
    } finally {
      holder.kill();
    }
  });

  it('stops waiting when cancelled', async () => {
    writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: hostname(), token: 'theirs', since: '' }));
    const controller = new AbortController();
    const waiting = withFileLock(lock, { signal: controller.signal }, () => Promise.resolve());
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 50);
    await expect(waiting).rejects.toThrow('cancelled by the test');
    expect(existsSync(lock)).toBe(true);
  });
});
