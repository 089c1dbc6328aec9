import { access, mkdir } from 'node:fs/promises';
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
  /** Records that the remote's `branch` was at `head` just now (after a fetch or our own push). */
  noteHead(branch: string, head: string): void;
  /**
   * The head of `branch` this process fetched or pushed within the last `maxAgeMs`, if any. It is a
   * guess that saves a fetch: the remote may have moved since, so it is only built on where a stale
   * head is caught (a push from it is refused as a race).
   */
  recentHead(branch: string, maxAgeMs: number): string | undefined;
}

export interface CacheContext {
  cacheDir: string;
  signal: AbortSignal;
  log: (line: string) => void;
  heartbeat: () => void;
}

/** How long a step waits for another step's use of the same clone before giving up. */
const LOCK_TIMEOUT_MS = 30 * 60_000;

/**
 * Clones this process has already created or checked: the check is two git processes, and every
 * plan, apply and verify of every step would otherwise repeat it. A clone removed since (the cache
 * cleared under a long-running server) is noticed by its missing config file and made again.
 */
const ensured = new Set<string>();

/** Per clone and branch: the remote's head as last fetched or pushed by this process, and when. */
const knownHeads = new Map<string, { head: string; at: number }>();

export function cloneCache(ctx: CacheContext, remote: GitRemote, signal: AbortSignal = ctx.signal): CloneCache {
  const root = path.join(ctx.cacheDir, 'gitops');
  const dir = path.join(root, `${cacheName(remote)}.git`);
  const repo = new GitRepo(dir, remote, signal, ctx.heartbeat);
  const headKey = (branch: string): string => `${dir}\0${branch}`;
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
          if (!ensured.has(dir) || !(await exists(path.join(dir, 'config')))) {
            await repo.ensure();
            ensured.add(dir);
          }
          return fn(repo);
        },
      );
    },
    noteHead(branch, head) {
      knownHeads.set(headKey(branch), { head, at: Date.now() });
    },
    recentHead(branch, maxAgeMs) {
      const known = knownHeads.get(headKey(branch));
      return known !== undefined && Date.now() - known.at <= maxAgeMs ? known.head : undefined;
    },
  };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
