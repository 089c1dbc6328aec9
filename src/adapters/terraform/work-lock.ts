import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A lock on one of this adapter's directories in the shared cache, between Lockstep processes on this
 * machine (a promotion and a `lockstep plan` of the same environment may run at once). A directory
 * made with mkdir is the lock (atomic on every local file system); it holds the owner's pid, so a lock
 * left by a process that died is taken over.
 */
export interface LockWaiter {
  signal: AbortSignal;
  heartbeat: () => void;
  log: (line: string) => void;
}

const POLL_MS = 500;

export async function withWorkLock<T>(lockDir: string, waiter: LockWaiter, fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(lockDir), { recursive: true });
  let told = false;
  for (;;) {
    if (waiter.signal.aborted)
      throw waiter.signal.reason instanceof Error ? waiter.signal.reason : new Error('cancelled');
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(await readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => ''));
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!told) {
      waiter.log(
        `waiting for another Lockstep process${owner > 0 ? ` (pid ${owner})` : ''} using this component's Terraform directory`,
      );
      told = true;
    }
    waiter.heartbeat();
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
