import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { StepFailure } from '../../core/errors.js';
import { runProcess } from '../command/run-process.js';

/**
 * Where the root module runs for one version. With the version as a git ref, the repository holding
 * `dir` is checked out at that ref into a work directory under the cache: one per repository,
 * component and environment, reused across versions (`checkout --force` to the commit, untracked files
 * kept), so Terraform's `.terraform` directory and any local state survive from one version to the
 * next. The project's own checkout is never touched.
 */
export interface ModuleSource {
  /** Where terraform runs. */
  dir: string;
  /** The commit, in git mode. */
  commit?: string;
}

const GIT_TIMEOUT_MS = 5 * 60_000;

/** `dir` as it is in the project (versionVariable mode). */
export async function projectModule(projectDir: string, dir: string): Promise<ModuleSource> {
  const moduleDir = path.resolve(projectDir, dir);
  await requireDirectory(moduleDir, dir);
  return { dir: moduleDir };
}

export interface CheckoutRequest {
  projectDir: string;
  dir: string;
  /** The component's version: a tag, branch or commit; a leading `git:` is dropped. */
  ref: string;
  /** A directory of this adapter's own under the shared cache. */
  workRoot: string;
  /** Names the work directory together with the repository (component and environment). */
  key: string;
  signal: AbortSignal;
  heartbeat: () => void;
}

/** Checks out the repository holding `dir` at `ref` and returns the module directory inside the checkout. */
export async function checkoutModule(request: CheckoutRequest): Promise<ModuleSource> {
  const moduleDir = path.resolve(request.projectDir, request.dir);
  await requireDirectory(moduleDir, request.dir);
  const top = await git(moduleDir, ['rev-parse', '--show-toplevel'], request).catch((error: unknown) => {
    throw new StepFailure(
      `terraform: ${request.dir} is not in a git repository, so the version cannot be a git ref; ` +
        'commit the module to git, or set versionVariable to pass the version as a Terraform variable',
      false,
      { cause: error, untouched: true },
    );
  });
  const ref = request.ref.startsWith('git:') ? request.ref.slice(4) : request.ref;
  if (ref === '' || ref.startsWith('-')) {
    throw new StepFailure(`terraform: version ${JSON.stringify(request.ref)} is not a git ref`, false, {
      untouched: true,
    });
  }
  const commit = await git(top, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], request).catch(
    (error: unknown) => {
      throw new StepFailure(
        `terraform: version ${request.ref} is not a commit, tag or branch of the repository holding ${request.dir}; ` +
          'create the tag (or fetch it) in that repository, or fix the release',
        false,
        { cause: error, untouched: true },
      );
    },
  );
  const repoId = createHash('sha256').update(top).digest('hex').slice(0, 16);
  const work = path.join(request.workRoot, 'checkouts', repoId, request.key);
  await mkdir(work, { recursive: true });
  await git(work, ['init', '--quiet'], request);
  // Fetching the one commit from a local path works with protocol v2 (git's default since 2.26).
  await git(work, ['fetch', '--quiet', '--no-tags', top, commit], request);
  await git(work, ['checkout', '--quiet', '--force', '--detach', commit], request);
  // Remove files the previous version had but this one does not; keep Terraform's own (ignored or not).
  await git(
    work,
    [
      'clean',
      '-fdq',
      '-e',
      '.terraform/',
      '-e',
      'terraform.tfstate',
      '-e',
      'terraform.tfstate.*',
      '-e',
      'terraform.tfstate.d/',
    ],
    request,
  );
  const relative = path.relative(top, moduleDir);
  return { dir: path.join(work, relative), commit };
}

async function git(
  cwd: string,
  args: string[],
  request: { signal: AbortSignal; heartbeat: () => void },
): Promise<string> {
  const result = await runProcess({
    file: 'git',
    args,
    cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    timeoutMs: GIT_TIMEOUT_MS,
    signal: request.signal,
    onLine: () => undefined,
    onAlive: request.heartbeat,
  });
  if (result.kind === 'aborted')
    throw result.reason instanceof Error ? result.reason : new StepFailure('terraform: cancelled', false);
  if (result.kind === 'exited' && result.code === 0) return result.output.stdout.trim();
  const detail =
    result.kind === 'spawn-failed'
      ? result.error.message
      : result.kind === 'exited'
        ? (result.output.lastStderrLine ?? `exit code ${result.code}`)
        : result.kind;
  throw new StepFailure(`terraform: git ${args[0] ?? ''} failed: ${detail}`, false, { untouched: true });
}

async function requireDirectory(dir: string, written: string): Promise<void> {
  const isDirectory = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) {
    throw new StepFailure(`terraform: dir ${written} (${dir}) does not exist or is not a directory`, false, {
      untouched: true,
    });
  }
}
