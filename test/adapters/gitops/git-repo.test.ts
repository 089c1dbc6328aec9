import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRemote } from '../../../src/adapters/gitops/git-remote.js';
import { GitRepo, type NewCommit } from '../../../src/adapters/gitops/git-repo.js';
import { gitFixture, type GitFixture } from './git-fixture.js';

let fx: GitFixture;

beforeEach(() => {
  fx = gitFixture({
    'apps/api/kustomization.yaml': 'images:\n  - name: acme/api\n    newTag: "1.0.0"\n',
    'apps/web/values.yaml': 'replicas: 2\n',
    'README.md': '# deploy\n',
  });
});
afterEach(() => fx.cleanup());

/** The same commit the way git's plumbing builds it from an index, with the dates of `made`. */
function throughIndex(request: NewCommit, made: string): string {
  const index = `${fx.root}/index-check`;
  const dates = fx.git(fx.remote, 'log', '-1', '--format=%ad%n%cd', '--date=raw', made).trim().split('\n');
  const env = {
    ...process.env,
    GIT_INDEX_FILE: index,
    GIT_AUTHOR_NAME: request.author.name,
    GIT_AUTHOR_EMAIL: request.author.email,
    GIT_COMMITTER_NAME: request.committer.name,
    GIT_COMMITTER_EMAIL: request.committer.email,
    GIT_AUTHOR_DATE: dates[0] ?? '',
    GIT_COMMITTER_DATE: dates[1] ?? '',
  };
  const git = (args: string[], input?: string): string =>
    execFileSync('git', args, { cwd: fx.remote, env, input, encoding: 'utf8' }).trim();
  git(['read-tree', request.parent]);
  for (const change of request.changes) {
    const blob = git(['hash-object', '-w', '--stdin'], change.text);
    git(['update-index', '--add', '--cacheinfo', `${change.mode},${blob},${change.path}`]);
  }
  const tree = git(['write-tree']);
  return git(['commit-tree', tree, '-p', request.parent, '-F', '-', '--no-gpg-sign'], request.message);
}

describe('GitRepo.commit', () => {
  it('builds the commit the index way would, byte for byte, without a work tree', async () => {
    const repo = new GitRepo(fx.remote, parseRemote(fx.remote, fx.root, undefined), AbortSignal.timeout(30_000));
    const parent = fx.head();
    const request: NewCommit = {
      parent,
      changes: [
        { path: 'apps/api/kustomization.yaml', text: 'images:\n  - name: acme/api\n    newTag: "1.2.3"\n', mode: '100644' },
        { path: 'apps/new dir/a "quoted" näme.yaml', text: 'created: true\nno final line feed', mode: '100644' },
        { path: 'scripts/run.sh', text: '#!/bin/sh\necho ünïcödé\n', mode: '100755' },
      ],
      message: 'Deploy api 1.2.3 to prod\n\nLockstep-Promotion: p1\n',
      author: { name: 'Release Bot', email: 'bot@example.com' },
      committer: { name: 'Release Bot', email: 'bot@example.com' },
      sign: false,
    };
    const made = await repo.commit(request);
    expect(made.sha).toBe(throughIndex(request, made.sha));
    expect(made.tree).toBe(fx.git(fx.remote, 'rev-parse', `${made.sha}^{tree}`).trim());
    expect(fx.git(fx.remote, 'show', `${made.sha}:apps/new dir/a "quoted" näme.yaml`)).toBe('created: true\nno final line feed');
    expect(fx.git(fx.remote, 'ls-tree', made.sha, 'scripts/run.sh')).toMatch(/^100755 blob /);
    // No branch moved.
    expect(fx.head()).toBe(parent);
  });
});
