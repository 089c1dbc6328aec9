import { execFile, type ExecFileOptionsWithStringEncoding } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { limitText } from '../../core/duration.js';
import { abortReason } from './abort.js';
import { stripCredentials, type GitRemote } from './git-remote.js';

/**
 * The git CLI, run without a shell (argv straight to execvp), never prompting, with the C locale so
 * its messages can be read. Every call honours an AbortSignal.
 */

export interface GitRun {
  cwd: string;
  env?: Readonly<Record<string, string>>;
  /** Written to the command's standard input. */
  input?: string;
  signal: AbortSignal;
  timeoutMs?: number;
}

export interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** A git command that failed; `message` is safe to show (credentials stripped). */
export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    message: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const LOCAL_TIMEOUT_MS = 2 * 60_000;
export const NETWORK_TIMEOUT_MS = 10 * 60_000;
/** Bytes a second below which an http(s) transfer counts as stalled... */
const LOW_SPEED_LIMIT = 1000;
/** ...and for how long it may stall. */
const LOW_SPEED_TIME_S = 30;

/** Variables that would point git at some other repository than the one we name. */
const INHERITED_REPO_VARIABLES = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_NAMESPACE',
  'GIT_COMMON_DIR',
  'GIT_QUARANTINE_PATH',
];

function gitEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_REPO_VARIABLES) delete env[name];
  env.GIT_TERMINAL_PROMPT = '0';
  env.GCM_INTERACTIVE = 'never';
  env.LC_ALL = 'C';
  // Over http(s), a server that accepts the connection and then sends (next to) nothing ends the
  // command after LOW_SPEED_TIME seconds below LOW_SPEED_LIMIT bytes a second, long before the
  // process limit. Set in the environment, these win over ours.
  env.GIT_HTTP_LOW_SPEED_LIMIT ??= String(LOW_SPEED_LIMIT);
  env.GIT_HTTP_LOW_SPEED_TIME ??= String(LOW_SPEED_TIME_S);
  return { ...env, ...extra };
}

/** Runs git; resolves with the exit code (never rejects for git's own failures), rejects on abort. */
export function runGit(args: readonly string[], run: GitRun): Promise<GitOutput> {
  if (run.signal.aborted) return Promise.reject(abortReason(run.signal));
  // `detached` is passed on to spawn (execFile's types leave it out): without a controlling terminal,
  // ssh cannot stop a step to ask about a host key or a passphrase. It fails instead, and the
  // user's own ssh settings still apply.
  const options: ExecFileOptionsWithStringEncoding & { detached: boolean } = {
    cwd: run.cwd,
    env: gitEnv(run.env),
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    timeout: run.timeoutMs ?? LOCAL_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    signal: run.signal,
    detached: true,
  };
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      [...args],
      options,
      (error, stdout, stderr) => {
        if (run.signal.aborted) return reject(abortReason(run.signal));
        if (error === null) return resolve({ code: 0, stdout, stderr });
        const code = typeof error.code === 'number' ? error.code : null;
        if (code === null) {
          const why = error.killed ? `did not finish within ${limitText(run.timeoutMs ?? LOCAL_TIMEOUT_MS)}` : error.message;
          return reject(new GitError(`git ${args[0] ?? ''} ${stripCredentials(why)}`, null, stderr));
        }
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(run.input ?? '');
  });
}

/** The last few lines git wrote to stderr, without hints and credentials: what a person needs. */
export function gitMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('hint:'));
  return stripCredentials(lines.slice(-3).join(' / '));
}

export interface FileChange {
  /** Relative to the repository root, with forward slashes. */
  path: string;
  text: string;
  /** 100644 or 100755; new files are 100644. */
  mode: string;
}

export interface Identity {
  name: string;
  email: string;
}

export interface NewCommit {
  parent: string;
  changes: readonly FileChange[];
  message: string;
  author: Identity;
  committer: Identity;
  sign: boolean;
}

export type PushResult =
  | { ok: true }
  /** `race`: someone else moved the branch first; fetching and trying again can succeed. */
  | { ok: false; race: boolean; reason: string };

export interface CommitInfo {
  sha: string;
  parents: string[];
  trailers: Record<string, string>;
}

/** Files read, per clone, commit and path (oldest dropped first past READ_FILES_KEPT). */
const readFiles = new Map<string, { text: string; mode: string; blob: string }>();
const READ_FILES_KEPT = 256;

/** Names the latest commit `commit()` built (fast-import needs a ref to write a commit to). */
const LAST_COMMIT_REF = 'refs/lockstep/last-commit';

/** A path as fast-import reads it: C-style quoted, so spaces, quotes and line breaks survive. */
function quotePath(file: string): string {
  return `"${file.replace(/[\\"\n\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t' })[c] ?? c)}"`;
}

/**
 * A bare repository in the clone cache, with the remote as `origin`. No work tree: files are read
 * from objects and commits are built with a throwaway index, so a repository with many thousands of
 * files is never checked out. The caller holds the cache lock around anything that writes.
 */
export class GitRepo {
  constructor(
    readonly dir: string,
    readonly remote: GitRemote,
    private readonly signal: AbortSignal,
    private readonly onAlive: () => void = () => undefined,
  ) {}

  /** Runs git in the repository; `network` commands get the credentials and a longer timeout. */
  async git(args: readonly string[], options: { input?: string; network?: boolean; env?: Record<string, string> } = {}): Promise<GitOutput> {
    const timer = setInterval(this.onAlive, 2000);
    try {
      return await runGit(args, {
        cwd: this.dir,
        // Lazy fetches of a blobless clone can happen in any command, so every command may need them.
        env: { ...this.remote.env, ...options.env },
        input: options.input,
        signal: this.signal,
        timeoutMs: options.network ? NETWORK_TIMEOUT_MS : LOCAL_TIMEOUT_MS,
      });
    } finally {
      clearInterval(timer);
    }
  }

  /** Like git(), but a non-zero exit throws GitError with git's own message. */
  async check(args: readonly string[], options: { input?: string; network?: boolean; env?: Record<string, string> } = {}): Promise<string> {
    const out = await this.git(args, options);
    if (out.code !== 0) {
      throw new GitError(`git ${args[0] ?? ''} failed (exit ${out.code}): ${gitMessage(out.stderr) || 'no message'}`, out.code, out.stderr);
    }
    return out.stdout;
  }

  /** Creates the bare repository if it is not there yet. */
  async ensure(): Promise<void> {
    const exists = await this.git(['rev-parse', '--git-dir']).then(
      (out) => out.code === 0 && path.resolve(this.dir, out.stdout.trim()) === path.resolve(this.dir),
      () => false,
    );
    // A clone whose creation was cut short (no remote yet) is finished now; `git init` is safe to repeat.
    if (exists && (await this.git(['config', '--get', 'remote.origin.url'])).stdout.trim() === this.remote.url) return;
    await mkdir(this.dir, { recursive: true });
    await this.check(['init', '--quiet', '--bare']);
    // The URL carries no credentials (those travel in the environment), so it may be stored. The
    // cache is named after the URL, so it never changes.
    await this.check(['config', 'remote.origin.url', this.remote.url]);
    // Auto-gc in the foreground: a detached gc would outlive our lock and race the next step.
    await this.check(['config', 'gc.autoDetach', 'false']);
  }

  /**
   * Fetches `branch` into refs/remotes/origin/<branch>; returns its commit, or undefined when the remote
   * has no such branch. Blobless where the server allows it: blobs come when a file is read.
   */
  async fetch(branch: string): Promise<string | undefined> {
    const local = `refs/remotes/origin/${branch}`;
    const out = await this.git(['fetch', '--quiet', '--no-tags', '--filter=blob:none', 'origin', `+refs/heads/${branch}:${local}`], {
      network: true,
    });
    if (out.code !== 0) {
      if (/couldn't find remote ref/i.test(out.stderr)) return undefined;
      const why = `${gitMessage(out.stderr) || `exit ${out.code}`}${this.authHint(out.stderr)}`;
      throw new GitError(`git fetch from ${this.remote.display} failed: ${why}`, out.code, out.stderr);
    }
    return this.resolve(local);
  }

  /** The remote's commit for each of `branches` (absent: no such branch), without fetching objects. */
  async remoteHeads(branches: readonly string[]): Promise<Map<string, string>> {
    const listed = await this.git(['ls-remote', 'origin', ...branches.map((b) => `refs/heads/${b}`)], { network: true });
    if (listed.code !== 0) {
      const why = `${gitMessage(listed.stderr) || `exit ${listed.code}`}${this.authHint(listed.stderr)}`;
      throw new GitError(`git ls-remote ${this.remote.display} failed: ${why}`, listed.code, listed.stderr);
    }
    const out = listed.stdout;
    const heads = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [sha, ref] = line.split('\t');
      if (sha && ref?.startsWith('refs/heads/')) heads.set(ref.slice('refs/heads/'.length), sha);
    }
    return heads;
  }

  async resolve(rev: string): Promise<string | undefined> {
    const out = await this.git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    return out.code === 0 ? out.stdout.trim() : undefined;
  }

  /**
   * The file at `commit` (with its blob's id), or undefined when there is none. A directory there is
   * an error. A commit never changes, so what was read is kept for this process: a step's apply
   * reads the files its plan read moments before.
   */
  async readFile(commit: string, file: string): Promise<{ text: string; mode: string; blob: string } | undefined> {
    // Only a commit id names fixed content; a ref may move.
    if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(commit)) return this.readFileFromGit(commit, file);
    const key = `${this.dir}\0${commit}\0${file}`;
    const known = readFiles.get(key);
    if (known !== undefined) return known;
    const read = await this.readFileFromGit(commit, file);
    if (read !== undefined) {
      if (readFiles.size >= READ_FILES_KEPT) readFiles.delete(readFiles.keys().next().value ?? '');
      readFiles.set(key, read);
    }
    return read;
  }

  private async readFileFromGit(commit: string, file: string): Promise<{ text: string; mode: string; blob: string } | undefined> {
    const entry = (await this.check(['ls-tree', '-z', commit, '--', file])).split('\0')[0] ?? '';
    if (entry === '') return undefined;
    const [info = ''] = entry.split('\t');
    const [mode = '', type = '', sha = ''] = info.split(' ');
    if (type !== 'blob') throw new GitError(`${file} is a ${type === 'tree' ? 'directory' : type}, not a file`, null, '');
    if (mode === '120000') throw new GitError(`${file} is a symbolic link; point the config at the file it links to`, null, '');
    const text = await this.check(['cat-file', 'blob', sha], { network: true });
    return { text, mode, blob: sha };
  }

  /** Whether `ancestor` is `descendant` or one of its ancestors. Both must be known commits. */
  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    const out = await this.git(['merge-base', '--is-ancestor', ancestor, descendant]);
    if (out.code === 0) return true;
    if (out.code === 1) return false;
    throw new GitError(`git merge-base failed: ${gitMessage(out.stderr)}`, out.code, out.stderr);
  }

  async hasCommit(sha: string): Promise<boolean> {
    return (await this.git(['cat-file', '-e', `${sha}^{commit}`])).code === 0;
  }

  async treeOf(rev: string): Promise<string | undefined> {
    const out = await this.git(['rev-parse', '--verify', '--quiet', `${rev}^{tree}`]);
    return out.code === 0 ? out.stdout.trim() : undefined;
  }

  /**
   * Builds a commit on `parent` with the changed files; returns its id and tree. Nothing is checked
   * out and no branch moves (only refs/lockstep/last-commit, which names the latest commit built).
   *
   * One `git fast-import` writes the blobs, the trees along the changed paths and the commit: the
   * index way reads the parent's whole tree into an index first, which on a repository of 20,000
   * files was most of a warm promotion's git time. fast-import cannot sign, so a signed commit goes
   * the index way. Both make the same commit, byte for byte (a test checks).
   */
  async commit(request: NewCommit): Promise<{ sha: string; tree: string }> {
    return request.sign ? this.commitThroughIndex(request) : this.commitFastImport(request);
  }

  private async commitFastImport(request: NewCommit): Promise<{ sha: string; tree: string }> {
    // Each line below ends with the join's line feed; after a `data` block that is the optional one.
    const data = (text: string): string => `data ${Buffer.byteLength(text, 'utf8')}\n${text}`;
    const lines = [
      'feature done',
      `commit ${LAST_COMMIT_REF}`,
      'mark :1',
      `author ${request.author.name} <${request.author.email}> now`,
      `committer ${request.committer.name} <${request.committer.email}> now`,
      data(request.message),
      `from ${request.parent}`,
      ...request.changes.map((change) => `M ${change.mode} inline ${quotePath(change.path)}\n${data(change.text)}`),
      'get-mark :1',
      // The root tree of the commit: `ls` with an empty path.
      'ls :1 ""',
      'done',
    ];
    // --force: the ref is only a name for the latest commit built; it moves to unrelated commits.
    const out = await this.check(['fast-import', '--quiet', '--force', '--date-format=now'], { input: lines.join('\n') + '\n' });
    const [sha = '', listed = ''] = out.split('\n');
    const tree = /^040000 tree ([0-9a-f]+)\t$/.exec(listed)?.[1];
    if (!/^[0-9a-f]{40,64}$/.test(sha) || tree === undefined) {
      throw new GitError(`git fast-import gave no commit: ${JSON.stringify(out.slice(0, 200))}`, null, out);
    }
    return { sha, tree };
  }

  /** The index way: a throwaway index read from `parent`, updated, written as a tree; commit-tree can sign. */
  private async commitThroughIndex(request: NewCommit): Promise<{ sha: string; tree: string }> {
    const index = path.join(this.dir, `lockstep-index-${randomBytes(6).toString('hex')}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      await this.check(['read-tree', request.parent], { env });
      for (const change of request.changes) {
        const blob = (await this.check(['hash-object', '-w', '--stdin'], { input: change.text })).trim();
        await this.check(['update-index', '--add', '--cacheinfo', `${change.mode},${blob},${change.path}`], { env });
      }
      // --missing-ok: in a blobless clone the files we never read have no blob here, and need none;
      // without it git would fetch every one of them to check they exist.
      const tree = (await this.check(['write-tree', '--missing-ok'], { env })).trim();
      const args = ['commit-tree', tree, '-p', request.parent, '-F', '-', request.sign ? '-S' : '--no-gpg-sign'];
      const who = {
        GIT_AUTHOR_NAME: request.author.name,
        GIT_AUTHOR_EMAIL: request.author.email,
        GIT_COMMITTER_NAME: request.committer.name,
        GIT_COMMITTER_EMAIL: request.committer.email,
      };
      const sha = (await this.check(args, { input: request.message, env: who })).trim();
      return { sha, tree };
    } finally {
      await rm(index, { force: true });
    }
  }

  /** Pushes `commit` to the remote branch; `force` only for our own pull-request branch. */
  async push(commit: string, branch: string, options: { force?: boolean } = {}): Promise<PushResult> {
    const refspec = `${options.force ? '+' : ''}${commit}:refs/heads/${branch}`;
    const out = await this.git(['push', '--porcelain', '--quiet', 'origin', refspec], { network: true });
    const line = out.stdout.split('\n').find((l) => l.includes(`:refs/heads/${branch}\t`));
    const flag = line?.[0];
    if (out.code === 0 && flag !== '!') return { ok: true };
    const summary = line?.split('\t')[2]?.trim() ?? '';
    const reason = summary !== '' ? summary : `${gitMessage(out.stderr) || `exit ${out.code}`}${this.authHint(out.stderr)}`;
    const race =
      /^\[rejected\]/.test(summary) ||
      (/^\[remote rejected\]/.test(summary) && /failed to update ref|cannot lock ref|failed to lock|incorrect old value/i.test(summary));
    return { ok: false, race, reason: stripCredentials(reason) };
  }

  /**
   * A unified diff of one file (`before` undefined: a new file), with the file's own name in the
   * headers. `beforeBlob`, the blob `before` was read from, saves hashing it again.
   */
  async unifiedDiff(file: string, before: string | undefined, after: string, beforeBlob?: string): Promise<string> {
    const a = beforeBlob ?? (await this.check(['hash-object', '-w', '--stdin'], { input: before ?? '' })).trim();
    const b = (await this.check(['hash-object', '-w', '--stdin'], { input: after })).trim();
    const out = await this.check(['diff', '--no-color', '--no-ext-diff', '--no-textconv', '-U3', a, b]);
    const start = out.startsWith('@@') ? 0 : out.indexOf('\n@@') + 1;
    const hunks = start > 0 || out.startsWith('@@') ? out.slice(start) : '';
    return `--- ${before === undefined ? '/dev/null' : `a/${file}`}\n+++ b/${file}\n${hunks}`;
  }

  /** Git's words for a refused login ("could not read Username") do not say what to fix; this does. */
  private authHint(stderr: string): string {
    if (!/could not read (username|password)|authentication failed|access denied|returned error: 40[13]/i.test(stderr)) return '';
    return Object.keys(this.remote.env).length > 0
      ? ' (the server refused the credentials: check the token)'
      : ' (the server wants credentials: give them with auth: or as user:token@ in the URL)';
  }

  async deleteRemoteBranch(branch: string): Promise<void> {
    await this.git(['push', '--quiet', 'origin', `:refs/heads/${branch}`], { network: true });
  }

  async updateRef(ref: string, sha: string): Promise<void> {
    await this.check(['update-ref', ref, sha]);
  }

  /** Sets several refs in one git process (and one transaction). */
  async updateRefs(refs: readonly (readonly [ref: string, sha: string])[]): Promise<void> {
    await this.check(['update-ref', '--stdin'], { input: refs.map(([ref, sha]) => `update ${ref} ${sha}\n`).join('') });
  }

  /**
   * Commits reachable from `rev` whose message contains `text`, oldest first, with the trailers
   * named in `keys` (values joined by commas when a key repeats).
   */
  async commitsWith(rev: string, text: string, keys: readonly string[]): Promise<CommitInfo[]> {
    const fields = keys.map((k) => `%(trailers:key=${k},valueonly,separator=%x2C)`);
    const format = ['%H', '%P', ...fields].join('%x1f') + '%x1e';
    const out = await this.check(['log', '--reverse', '--fixed-strings', `--grep=${text}`, `--format=${format}`, rev, '--']);
    return out
      .split('\x1e')
      .map((record) => record.replace(/^\n/, ''))
      .filter((record) => record !== '')
      .map((record) => {
        const [sha = '', parents = '', ...values] = record.split('\x1f');
        const trailers: Record<string, string> = {};
        keys.forEach((k, i) => {
          const value = values[i]?.trim() ?? '';
          if (value !== '') trailers[k] = value;
        });
        return { sha, parents: parents.split(' ').filter((p) => p !== ''), trailers };
      });
  }
}
