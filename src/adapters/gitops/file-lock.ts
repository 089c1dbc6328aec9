import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { abortReason, sleep } from './abort.js';

/**
 * An exclusive lock shared by every Lockstep process on this machine: a file created with O_EXCL
 * (`wx`) holding its owner's pid, host and a random token. Within one process, callers queue on a
 * promise first, so the file is only contended between processes.
 *
 * A lock whose owner is a dead process on this host is stale and is broken (renamed away, so two
 * waiters cannot both break it and then both take it). A lock from another host (a cache on a shared
 * file system) is only broken after `staleAfterMs`.
 */
export interface LockOptions {
  signal: AbortSignal;
  /** Called once when the lock is busy, with who holds it. */
  onWait?: (holder: string) => void;
  /** Called while waiting, so the engine sees the step is alive. */
  onAlive?: () => void;
  /** Give up after this long. */
  timeoutMs?: number;
  /** A lock from another host older than this is taken to be abandoned. */
  staleAfterMs?: number;
}

interface Owner {
  pid: number;
  host: string;
  token: string;
  since: string;
}

/** Lock paths held by this process, each with the tail of its queue. */
const queues = new Map<string, Promise<void>>();

export async function withFileLock<T>(lockPath: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  queues.set(lockPath, tail);
  try {
    await waitInProcess(previous, options.signal);
    const token = await acquire(lockPath, options);
    try {
      return await fn();
    } finally {
      await releaseFile(lockPath, token);
    }
  } finally {
    release();
    if (queues.get(lockPath) === tail) queues.delete(lockPath);
  }
}

async function waitInProcess(previous: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw abortReason(signal);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    await Promise.race([previous, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

async function acquire(lockPath: string, options: LockOptions): Promise<string> {
  const token = randomBytes(12).toString('hex');
  const owner: Owner = { pid: process.pid, host: hostname(), token, since: new Date().toISOString() };
  const started = Date.now();
  let delay = 20;
  let told = false;
  for (;;) {
    if (options.signal.aborted) throw abortReason(options.signal);
    try {
      const handle = await open(lockPath, 'wx', 0o644);
      try {
        await handle.writeFile(JSON.stringify(owner));
      } finally {
        await handle.close();
      }
      return token;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readOwner(lockPath);
    if (await isStale(lockPath, holder, options.staleAfterMs ?? 30 * 60_000)) {
      await breakLock(lockPath, holder);
      continue;
    }
    if (!told) {
      told = true;
      options.onWait?.(holder ? `process ${holder.pid} on ${holder.host} since ${holder.since}` : 'another process');
    }
    if (options.timeoutMs !== undefined && Date.now() - started > options.timeoutMs) {
      throw new Error(`gave up waiting for the lock ${lockPath} after ${Math.round(options.timeoutMs / 1000)}s`);
    }
    options.onAlive?.();
    await sleep(delay, options.signal);
    delay = Math.min(delay * 2, 250);
  }
}

async function readOwner(lockPath: string): Promise<Owner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(lockPath, 'utf8')) as Partial<Owner>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.token === 'string') {
      return { pid: parsed.pid, host: parsed.host, token: parsed.token, since: String(parsed.since ?? '') };
    }
  } catch {
    // Missing (released just now), or written half (its owner died between open and write).
  }
  return undefined;
}

async function isStale(lockPath: string, holder: Owner | undefined, staleAfterMs: number): Promise<boolean> {
  if (holder === undefined) {
    // Unreadable: give a live owner time to finish writing it before calling it abandoned.
    const age = await stat(lockPath).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    return age > 5_000;
  }
  if (holder.host !== hostname()) {
    return Date.now() - Date.parse(holder.since) > staleAfterMs;
  }
  // Our own pid but not held through our queue: a lock left by an earlier process that had our pid.
  if (holder.pid === process.pid) return true;
  return !isAlive(holder.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Moves the stale lock aside, then deletes it only if it is still the one we judged stale. */
async function breakLock(lockPath: string, holder: Owner | undefined): Promise<void> {
  const aside = `${lockPath}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // Someone else broke or released it first.
  }
  const moved = await readOwner(aside);
  if (holder !== undefined && moved?.token !== holder.token) {
    // Between our look and the rename, someone else broke the stale lock and took a new one: put
    // theirs back. link() fails if yet another lock appeared meanwhile; that (very rare) one wins.
    await link(aside, lockPath).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

async function releaseFile(lockPath: string, token: string): Promise<void> {
  const holder = await readOwner(lockPath);
  if (holder?.token === token) await unlink(lockPath).catch(() => undefined);
}
