import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { withFileLock } from './file-lock.js';
import { cacheName, type GitRemote } from './git-remote.js';
import { GitRepo } from './git-repo.js';

/**
 * One bare clone per repository URL under the step's cache directory, shared by every component and
 * promotion on this machine: later steps fetch what changed instead of cloning again.
 *
 * Everything that changes the clone or the remote (fetch, commit, push) runs inside `locked`, which
 * holds an exclusive lock for that repository across processes. Holding it from fetch to push also
 * serialises the commits of parallel steps on the same repository: each one builds on the commit the
 * one before pushed, so they never reject each other's pushes.
 */
export interface CloneCache {
  readonly repo: GitRepo;
  locked<T>(fn: (repo: GitRepo) => Promise<T>): Promise<T>;
}

export interface CacheContext {
  cacheDir: string;
  signal: AbortSignal;
  log: (line: string) => void;
  heartbeat: () => void;
}

/** How long a step waits for another step's use of the same clone before giving up. */
const LOCK_TIMEOUT_MS = 30 * 60_000;

export function cloneCache(ctx: CacheContext, remote: GitRemote, signal: AbortSignal = ctx.signal): CloneCache {
  const root = path.join(ctx.cacheDir, 'gitops');
  const dir = path.join(root, `${cacheName(remote)}.git`);
  const repo = new GitRepo(dir, remote, signal, ctx.heartbeat);
  let ready = false;
  return {
    repo,
    async locked(fn) {
      await mkdir(root, { recursive: true });
      return withFileLock(
        `${dir}.lock`,
        {
          signal,
          onWait: (holder) => ctx.log(`waiting for the clone of ${remote.display}: in use by ${holder}`),
          onAlive: ctx.heartbeat,
          timeoutMs: LOCK_TIMEOUT_MS,
        },
        async () => {
          if (!ready) {
            await repo.ensure();
            ready = true;
          }
          return fn(repo);
        },
      );
    },
  };
}
