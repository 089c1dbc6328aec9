import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Real git repositories for the gitops tests: a bare "remote" (what a forge would host) in a temp
 * directory, seeded through a work clone, plus helpers that act as the outside world does (another
 * person pushing, merging a pull request). The adapter under test reaches the remote by its path.
 */
export interface GitFixture {
  root: string;
  /** The bare repository's path: the spec's `repo`. */
  remote: string;
  /** A fresh clone cache directory for a step context. */
  cacheDir: string;
  /** git in `cwd` (synchronously: for setup and checks while no step runs). */
  git(cwd: string, ...args: string[]): string;
  /** git in `cwd` without blocking the event loop (while a step runs in the same process). */
  gitAsync(cwd: string, ...args: string[]): Promise<string>;
  /** A file as the remote's `ref` holds it. */
  show(file: string, ref?: string): string;
  head(ref?: string): string;
  /** Commits `files` (path → content) as someone else would, and pushes to `branch`. */
  commitOutside(files: Record<string, string>, message: string, branch?: string): Promise<string>;
  /** A work clone of the remote, checked out at main. */
  clone(): string;
  cleanup(): void;
}

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Outside Person',
  GIT_AUTHOR_EMAIL: 'person@example.com',
  GIT_COMMITTER_NAME: 'Outside Person',
  GIT_COMMITTER_EMAIL: 'person@example.com',
};

const run = promisify(execFile);

export function gitFixture(files: Record<string, string>): GitFixture {
  const root = mkdtempSync(join(tmpdir(), 'lockstep-gitops-'));
  const remote = join(root, 'deploy.git');
  const env = { ...process.env, ...IDENTITY, GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' };
  const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, env, encoding: 'utf8' });
  const gitAsync = async (cwd: string, ...args: string[]): Promise<string> => (await run('git', args, { cwd, env, encoding: 'utf8' })).stdout;
  let clones = 0;
  const clone = (): string => {
    clones += 1;
    const dir = join(root, `work-${clones}`);
    git(root, 'clone', '--quiet', remote, dir);
    return dir;
  };

  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', remote);
  const seed = join(root, 'seed');
  git(root, 'init', '--quiet', '--initial-branch=main', seed);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(seed, file)), { recursive: true });
    writeFileSync(join(seed, file), text);
  }
  git(seed, 'add', '.');
  git(seed, 'commit', '--quiet', '-m', 'seed the deploy repository');
  git(seed, 'push', '--quiet', remote, 'main');

  let caches = 0;
  return {
    root,
    remote,
    get cacheDir() {
      caches += 1;
      return join(root, `cache-${caches}`);
    },
    git,
    gitAsync,
    show: (file, ref = 'main') => git(remote, 'show', `${ref}:${file}`),
    head: (ref = 'main') => git(remote, 'rev-parse', ref).trim(),
    async commitOutside(changes, message, branch = 'main') {
      const dir = clone();
      await gitAsync(dir, 'checkout', '--quiet', branch);
      for (const [file, text] of Object.entries(changes)) {
        mkdirSync(dirname(join(dir, file)), { recursive: true });
        writeFileSync(join(dir, file), text);
      }
      await gitAsync(dir, 'add', '.');
      await gitAsync(dir, 'commit', '--quiet', '-m', message);
      await gitAsync(dir, 'push', '--quiet', 'origin', branch);
      const sha = (await gitAsync(dir, 'rev-parse', 'HEAD')).trim();
      rmSync(dir, { recursive: true, force: true });
      return sha;
    },
    clone,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** A deploy repository as teams lay one out: a base and one Kustomize overlay per environment. */
export function overlay(env: string, tag: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# ${env} overlay. Image tags are set by the release pipeline.
resources:
  - ../../base
images:
  - name: acme/api   # built by CI
    newTag: "${tag}"
  - name: acme/web
    newTag: 5.0.0
`;
}

export const VALUES = `# api chart values for this environment
replicaCount: 2

image:
  repository: registry.example.com/acme/api
  tag: '1.4.1'   # keep quoted

serviceAccount:
  roleArn: arn:aws:iam::111111111111:role/api   # from the iam component
`;
