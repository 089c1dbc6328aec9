import type { Adapter, AdapterPlan, Observed, ObservedDifference, Outputs, StepContext } from '../../core/adapter.js';
import { parseDuration } from '../../core/duration.js';
import { StepFailure } from '../../core/errors.js';
import { holdsUnknown } from '../../core/plan.js';
import { sleep, throwIfAborted } from './abort.js';
import { ArgoCdClient } from './argocd-client.js';
import { asStepFailure, waitForArgoCd } from './argocd-wait.js';
import { computeEdits, describeEntry, normaliseDir, readEntry, type Base, type CurrentValue, type FileEdit } from './change-set.js';
import { cloneCache, type CloneCache } from './clone-cache.js';
import { applyMessage, rollbackMessage, TRAILER, TRAILER_KEYS } from './commit-message.js';
import { openPullRequest } from './forge-client.js';
import { parseRemote, type GitRemote } from './git-remote.js';
import { GitError, GitRepo, type CommitInfo, type NewCommit } from './git-repo.js';
import { gitopsSpec, type GitopsSpec, type SetEntry } from './gitops-spec.js';
import { IMAGE_FIELDS } from './kustomize-edit.js';

/**
 * The `gitops` component type: the desired state lives in a Git repository and Argo CD (optionally)
 * converges a cluster to it. Apply edits files in that repository surgically (Kustomize image tags,
 * YAML values) and commits — pushed to the branch, or proposed on a branch and waited for until
 * merged. Verify waits until Argo CD runs the commit, Synced and Healthy. Rollback is a new forward
 * commit restoring the values from before this promotion's commit. Observe reads the values back.
 *
 * Outputs of apply (declare them under `outputs:` to pass them on):
 * - `commit`: the commit on the branch that holds the change (when nothing changed: the branch head);
 * - `changed`: whether this apply committed anything;
 * - `pullRequest`: the pull request's URL when one was opened, else ''.
 */
export const gitopsAdapter: Adapter<GitopsSpec> = {
  type: 'gitops',
  description:
    'Edits a Git repository in place (Kustomize image tags, YAML values), pushes or opens a pull request, and waits for Argo CD to sync it healthy.',
  spec: gitopsSpec,

  capabilities() {
    // Apply converges (nothing is committed when the files hold the target values), rollback is a
    // forward commit, and observe reads the values from the repository.
    return { reversible: true, idempotentApply: true, observe: true };
  },

  async plan(spec, ctx): Promise<AdapterPlan> {
    throwIfAborted(ctx.signal);
    // The repository is named by a value known only after its producer applies: nothing may be
    // fetched from it, so the plan shows the edits without their diff.
    if (holdsUnknown(spec.repo)) return planUnseen(spec, ctx);
    const s = session(spec, ctx);
    return guard(() =>
      s.cache.locked(async (repo) => {
        const head = await fetchBranch(s, repo);
        const files = await computeEdits(baseAt(s, repo, head), spec.set);
        const where = `${s.dir || 'the repository root'} in ${s.remote.display} (${s.branch} at ${short(head)})`;
        // With data, the engine applies this plan in the step instead of planning (and fetching)
        // again. Apply does not trust the head blindly: see pushChange.
        const data: GitopsPlanData = { head };
        if (files.length === 0) return { action: 'unchanged', summary: `${where} already holds the target values`, data };
        const count = files.reduce((n, f) => n + f.edits.length, 0);
        const verb = spec.mode === 'push' ? 'commit' : 'open a pull request with';
        const then = spec.argocd ? `, then wait for Argo CD ${spec.argocd.app}` : '';
        const diffs: string[] = [];
        for (const f of files) diffs.push(await repo.unifiedDiff(f.path, f.before, f.after, f.beforeBlob));
        return { summary: `${verb} ${count} edit${count === 1 ? '' : 's'} to ${where}${then}`, details: diffs.join(''), data };
      }),
    );
  },

  async apply(spec, _plan, ctx): Promise<Outputs> {
    throwIfAborted(ctx.signal);
    const s = session(spec, ctx);
    // Credentials and the Application are checked before anything is pushed, so a typo fails cleanly.
    if (spec.argocd) await checkArgoCd(s);
    const landed = await guard(() =>
      land(s, spec.set, {
        message: (files) => applyMessage(ctx, files),
        title: `Deploy ${ctx.component} ${ctx.version} to ${ctx.environment.name}`,
        record: true,
      }),
    );
    return { commit: landed.commit, changed: landed.changed, pullRequest: landed.pullRequest };
  },

  async verify(spec, outputs, ctx) {
    throwIfAborted(ctx.signal);
    if (!spec.argocd) return;
    const s = session(spec, ctx);
    const declared = typeof outputs.commit === 'string' && /^[0-9a-f]{40}$/.test(outputs.commit) ? outputs.commit : undefined;
    // Without the `commit` output (undeclared outputs are not passed on), find this step's commit by
    // its trailers; failing that, the branch head contains it.
    const commit =
      declared ??
      (await guard(() =>
        s.cache.locked(async (repo) => {
          const head = await fetchBranch(s, repo);
          return (await appliedCommits(repo, head, ctx)).at(-1)?.sha ?? head;
        }),
      ));
    await waitForArgo(s, commit);
  },

  async rollback(spec, ctx) {
    throwIfAborted(ctx.signal);
    const s = session(spec, ctx);
    const prior = await guard(() => s.cache.locked((repo) => valuesBefore(s, repo)));
    let entries: SetEntry[];
    let undone: string | undefined;
    if (prior) {
      undone = prior.undone;
      entries = prior.entries;
      ctx.log(`restoring the values from before ${short(prior.undone)}, the commit this promotion made`);
      for (const what of prior.skipped) ctx.log(`${what} did not exist before ${short(prior.undone)}: left as it is`);
    } else {
      const previous = ctx.previousVersion;
      if (previous === undefined) {
        throw new StepFailure(
          `rollback: this promotion made no commit for ${ctx.component} on ${s.branch} of ${s.remote.display}, and there is no previous version to go back to`,
          false,
        );
      }
      entries = spec.set.map((e) => withVersion(e, ctx.version, previous));
      ctx.log(
        `no commit of promotion ${ctx.promotionId} for ${ctx.component} on ${s.branch}: setting the configured values with ${ctx.version} replaced by ${previous}`,
      );
    }
    const landed = await guard(() =>
      land(s, entries, {
        message: (files) => rollbackMessage(ctx, files, undone),
        title: `Roll back ${ctx.component} in ${ctx.environment.name} to ${ctx.previousVersion ?? 'the previous values'}`,
        record: false,
      }),
    );
    if (spec.argocd) await waitForArgo(s, landed.commit);
  },

  async observe(spec, ctx): Promise<Observed> {
    throwIfAborted(ctx.signal);
    const s = session(spec, ctx);
    const { head, values } = await guard(() =>
      s.cache.locked(async (repo) => {
        const at = await fetchBranch(s, repo);
        const read: CurrentValue[] = [];
        for (const entry of spec.set) read.push(await readEntry(baseAt(s, repo, at), entry));
        return { head: at, values: read };
      }),
    );
    const observed = describeValues(spec.set, values, ctx.version);
    const differences = valueDifferences(spec.set, values, ctx.isSensitive);
    const details: Record<string, unknown> = { repo: s.remote.display, branch: s.branch, commit: head };
    if (spec.argocd) {
      try {
        const app = await argoClient(s).getApplication(spec.argocd.app);
        const revision = app.status?.sync?.revision ?? app.status?.sync?.revisions?.[0];
        details.argocd = { app: spec.argocd.app, sync: app.status?.sync?.status, health: app.status?.health?.status, revision };
        if (app.status?.sync?.status !== 'Synced') {
          observed.drift.push(
            `Argo CD ${spec.argocd.app} is ${app.status?.sync?.status ?? 'Unknown'} (it runs ${revision ? short(revision) : 'no revision'}; ${s.branch} is at ${short(head)})`,
          );
          differences.push({ field: `argocd.${spec.argocd.app}.sync`, expected: 'Synced', found: app.status?.sync?.status ?? 'Unknown' });
        }
        if (revision !== head) {
          differences.push({ field: `argocd.${spec.argocd.app}.revision`, expected: `${head} (${s.branch})`, found: revision ?? '(none)' });
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        details.argocdError = message;
        differences.push({ field: `argocd.${spec.argocd.app}`, expected: 'readable', found: `could not be read: ${message}` });
      }
    }
    const result: Observed = { details, differences };
    if (observed.version !== undefined) result.version = observed.version;
    if (observed.drift.length > 0) result.drift = observed.drift;
    return result;
  },
};

/**
 * The plan for a repository not known yet: each value the edits set (a value from a secret or a
 * sensitive output named as such), without what the files hold now. No data: the step plans (and
 * fetches) again once the repository is known.
 */
function planUnseen(spec: GitopsSpec, ctx: StepContext): AdapterPlan {
  const shown = (value: string | number | boolean | null): string => {
    if (value === null) return '(removed)';
    return typeof value === 'string' && ctx.isSensitive(value) ? '(sensitive)' : String(value);
  };
  const lines = spec.set.flatMap((entry) => {
    if (entry.kind === 'yaml') return [`${entry.file} ${entry.pathText}: ${shown(entry.value)}`];
    const file = entry.file ?? 'kustomization';
    // As describeEntry: a digest dropped because a tag is set is part of setting the tag.
    const set = IMAGE_FIELDS.filter((f) => typeof entry[f] === 'string');
    const fields = set.length > 0 ? set : IMAGE_FIELDS.filter((f) => entry[f] !== undefined);
    return fields.map((f) => `${file} images[${entry.image}].${f}: ${shown(entry[f] ?? null)}`);
  });
  // Credentials in the URL never reach the plan.
  const repo = spec.repo.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
  const verb = spec.mode === 'push' ? 'commit' : 'open a pull request with';
  const then = spec.argocd ? `, then wait for Argo CD ${spec.argocd.app}` : '';
  const count = spec.set.length;
  return {
    action: 'apply',
    summary:
      `${verb} ${count} edit${count === 1 ? '' : 's'} to ${normaliseDir(spec.path) || 'the repository root'} in ${repo} (${spec.branch})${then}; ` +
      'what the files hold now is read once the repository is known',
    details: lines.join('\n'),
  };
}

// ------------------------------------------------------------------ session

interface Session {
  spec: GitopsSpec;
  ctx: StepContext;
  remote: GitRemote;
  cache: CloneCache;
  /** `path`, normalised ('' = the root). */
  dir: string;
  branch: string;
}

function session(spec: GitopsSpec, ctx: StepContext): Session {
  const remote = parseRemote(spec.repo, ctx.projectDir, spec.auth);
  return { spec, ctx, remote, cache: cloneCache(ctx, remote), dir: normaliseDir(spec.path), branch: spec.branch };
}

/** What a plan hands to apply: the branch head it was computed on. */
interface GitopsPlanData {
  head: string;
}

/**
 * How old a head this process fetched (for the step's plan, moments before) may be and still be
 * built on without fetching again. Past this, apply fetches first.
 */
const FRESH_HEAD_MS = 30_000;

function baseAt(s: Session, repo: GitRepo, commit: string): Base {
  return { repo, commit, label: `${s.branch} (${short(commit)})`, dir: s.dir };
}

/** Fetches the branch; a missing branch or an unreachable remote is a StepFailure that changed nothing. */
async function fetchBranch(s: Session, repo: GitRepo, branch = s.branch): Promise<string> {
  let head: string | undefined;
  try {
    head = await repo.fetch(branch);
  } catch (error) {
    if (error instanceof GitError) throw new StepFailure(error.message, true, { cause: error, untouched: true });
    throw error;
  }
  if (head === undefined) {
    throw new StepFailure(`${s.remote.display} has no branch ${branch}`, false, { untouched: true });
  }
  s.cache.noteHead(branch, head);
  return head;
}

/** Git's own failures, not understood more closely where they happened, as not retryable StepFailures. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof GitError) throw new StepFailure(error.message, false, { cause: error });
    throw error;
  }
}

// ------------------------------------------------------------------ landing a change

interface Landed {
  commit: string;
  changed: boolean;
  pullRequest: string;
}

interface LandOptions {
  message: (files: readonly FileEdit[]) => string;
  /** The pull request's title. */
  title: string;
  /** Keep a ref to the commit in the cache, so rollback finds it even after a squash merge. */
  record: boolean;
}

function land(s: Session, entries: readonly SetEntry[], options: LandOptions): Promise<Landed> {
  return s.spec.mode === 'push' ? pushChange(s, entries, options) : proposeChange(s, entries, options);
}

function newCommit(s: Session, parent: string, files: readonly FileEdit[], message: string): NewCommit {
  const { author, committer, sign } = s.spec.commit;
  return {
    parent,
    changes: files.map((f) => ({ path: f.path, text: f.after, mode: f.mode })),
    message,
    author,
    committer: committer ?? author,
    sign,
  };
}

/** Builds the commit; a failure here (signing, most likely) happens before anything is pushed. */
async function makeCommit(repo: GitRepo, request: NewCommit): Promise<{ sha: string; tree: string }> {
  try {
    return await repo.commit(request);
  } catch (error) {
    if (!(error instanceof GitError)) throw error;
    const hint = request.sign ? ' (commit.sign is on: is a signing key set up in git config?)' : '';
    throw new StepFailure(`could not create the commit: ${error.message}${hint}`, false, { cause: error, untouched: true });
  }
}

/**
 * Commits on the branch head and pushes. The clone lock is held from fetch to push, so steps on this
 * machine never race each other; a push rejected because someone elsewhere pushed first is retried
 * on the new head, re-applying the edits there (they are computed again, never rebased blindly).
 *
 * The first round builds on the head this process fetched moments ago (the step's plan) instead of
 * fetching again, which is what makes a warm promotion cost one fetch. A stale head is caught: its
 * push is refused as a race like any other (and retried as one), and "nothing to change" or a missing
 * file is only believed from a fresh fetch, so then the round starts again with one, uncounted: it
 * pushed nothing.
 */
async function pushChange(s: Session, entries: readonly SetEntry[], options: LandOptions): Promise<Landed> {
  const { ctx, branch } = s;
  const attempts = s.spec.pushAttempts;
  let guessed = s.cache.recentHead(branch, FRESH_HEAD_MS);
  for (let attempt = 1; ; attempt++) {
    type Outcome =
      | { kind: 'landed'; landed: Landed; files: FileEdit[] }
      | { kind: 'rejected'; reason: string }
      | { kind: 'stale' };
    const outcome = await s.cache.locked(async (repo): Promise<Outcome> => {
      const fromGuess = guessed !== undefined;
      const head = guessed ?? (await fetchBranch(s, repo));
      let files: FileEdit[];
      try {
        files = await computeEdits(baseAt(s, repo, head), entries);
      } catch (error) {
        // A file missing at a guessed head may be there now: only a fresh fetch can say.
        if (fromGuess && error instanceof StepFailure) return { kind: 'stale' };
        throw error;
      }
      if (files.length === 0) {
        if (fromGuess) return { kind: 'stale' };
        return { kind: 'landed', landed: { commit: head, changed: false, pullRequest: '' }, files };
      }
      const { sha } = await makeCommit(repo, newCommit(s, head, files, options.message(files)));
      const pushed = await repo.push(sha, branch);
      if (pushed.ok) {
        const refs: [string, string][] = [[`refs/remotes/origin/${branch}`, sha]];
        if (options.record) refs.push([appliedRef(ctx), sha]);
        await repo.updateRefs(refs);
        s.cache.noteHead(branch, sha);
        return { kind: 'landed', landed: { commit: sha, changed: true, pullRequest: '' }, files };
      }
      if (!pushed.race) {
        throw new StepFailure(`${s.remote.display} refused the push to ${branch}: ${pushed.reason}`, isNetwork(pushed.reason), {
          untouched: true,
        });
      }
      return { kind: 'rejected', reason: pushed.reason };
    });
    guessed = undefined;
    if (outcome.kind === 'stale') {
      attempt--;
      continue;
    }
    if (outcome.kind === 'landed') {
      const { landed, files } = outcome;
      if (landed.changed) ctx.log(`pushed ${short(landed.commit)} to ${branch} of ${s.remote.display}: ${editSummary(files)}`);
      else ctx.log(`${s.dir || 'the repository root'} already holds the target values (${branch} at ${short(landed.commit)}): nothing to commit`);
      return landed;
    }
    if (attempt >= attempts) {
      throw new StepFailure(
        `the push to ${branch} of ${s.remote.display} was rejected ${attempts} times (${outcome.reason}): others keep pushing to it; try again`,
        true,
        { untouched: true },
      );
    }
    ctx.log(`push to ${branch} rejected (${outcome.reason}): someone pushed first; fetching and applying the edits again (attempt ${attempt + 1} of ${attempts})`);
    await sleep(50 + Math.random() * 150 * attempt, ctx.signal);
  }
}

/**
 * Pull-request mode: the change goes to its own branch, and the step waits until the target branch
 * contains it — our commit merged (merge or fast-forward), or the target's files holding the values
 * (squash or rebase). That is seen through git alone, so it works with any forge. A step that fails
 * or is cancelled before the merge deletes its branch, so a stale change cannot be merged later.
 */
async function proposeChange(s: Session, entries: readonly SetEntry[], options: LandOptions): Promise<Landed> {
  const { ctx, branch } = s;
  const pr = s.spec.pullRequest;
  const prBranch = pr?.branch ?? `lockstep/${ctx.environment.name}/${ctx.component}`;
  const proposed = await s.cache.locked(async (repo) => {
    const head = await fetchBranch(s, repo);
    const files = await computeEdits(baseAt(s, repo, head), entries);
    if (files.length === 0) return { head };
    const { sha, tree } = await makeCommit(repo, newCommit(s, head, files, options.message(files)));
    // A re-run finds its branch already holding this very change on this base: keep it (and its review).
    let commit = sha;
    if ((await repo.remoteHeads([prBranch])).has(prBranch)) {
      const existing = await repo.fetch(prBranch);
      if (existing && (await repo.treeOf(existing)) === tree && (await repo.resolve(`${existing}^1`)) === head) commit = existing;
    }
    if (commit === sha) {
      const pushed = await repo.push(sha, prBranch, { force: true });
      if (!pushed.ok) {
        throw new StepFailure(`${s.remote.display} refused the push to ${prBranch}: ${pushed.reason}`, isNetwork(pushed.reason), {
          untouched: true,
        });
      }
      ctx.log(`pushed ${short(sha)} to branch ${prBranch} of ${s.remote.display}: ${editSummary(files)}`);
    } else {
      ctx.log(`branch ${prBranch} holds this change already (${short(commit)})`);
    }
    if (options.record) await repo.updateRef(appliedRef(ctx), commit);
    return { head, commit, files };
  });
  if (proposed.commit === undefined) {
    ctx.log(`${s.dir || 'the repository root'} already holds the target values (${branch} at ${short(proposed.head)}): nothing to propose`);
    return { commit: proposed.head, changed: false, pullRequest: '' };
  }
  try {
    let url = '';
    if (pr?.forge) {
      const repository = pr.forge.repository ?? s.remote.ownerAndName;
      if (repository === undefined) {
        throw new StepFailure('pullRequest.forge.repository is needed: the repo URL does not show owner/name', false, { untouched: true });
      }
      const opened = await openPullRequest({
        forge: pr.forge,
        repository,
        head: prBranch,
        base: branch,
        title: options.title,
        body: pullRequestBody(ctx, proposed.files),
        signal: ctx.signal,
      });
      url = opened.url;
      ctx.log(`${opened.created ? 'opened' : 'found the open'} pull request ${url}`);
    }
    ctx.log(`waiting for ${prBranch} to be merged into ${branch}${url === '' ? ' (open the pull request by hand, or configure pullRequest.forge)' : ''}`);
    const merged = await waitForMerge(s, proposed.commit, prBranch, entries);
    return { commit: merged, changed: true, pullRequest: url };
  } catch (error) {
    await abandonBranch(s, prBranch, proposed.commit);
    throw error;
  }
}

async function waitForMerge(s: Session, commit: string, prBranch: string, entries: readonly SetEntry[]): Promise<string> {
  const { ctx, branch } = s;
  const timeout = s.spec.pullRequest?.timeout ?? '1h';
  const timeoutMs = parseDuration(timeout) ?? 3_600_000;
  const intervalMs = parseDuration(s.spec.pullRequest?.interval ?? '15s') ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let lastTarget: string | undefined;
  for (;;) {
    const state = await s.cache.locked(async (repo): Promise<{ merged?: string; closed?: boolean }> => {
      const heads = await repo.remoteHeads([branch, prBranch]);
      const target = heads.get(branch);
      if (target === undefined) throw new StepFailure(`${s.remote.display} has no branch ${branch} any more`, false);
      if (target !== lastTarget) {
        lastTarget = target;
        const fetched = await fetchBranch(s, repo);
        if (await repo.isAncestor(commit, fetched)) return { merged: commit };
        if ((await computeEdits(baseAt(s, repo, fetched), entries)).length === 0) return { merged: fetched };
      }
      return heads.has(prBranch) ? {} : { closed: true };
    });
    if (state.merged !== undefined) {
      ctx.log(`${branch} contains the change (${short(state.merged)})`);
      return state.merged;
    }
    if (state.closed) {
      throw new StepFailure(`branch ${prBranch} was deleted before its change reached ${branch} (was the pull request closed?)`, false, {
        untouched: true,
      });
    }
    if (Date.now() >= deadline) {
      throw new StepFailure(`${branch} did not receive the change from ${prBranch} within ${timeout}`, true, { untouched: true });
    }
    ctx.heartbeat();
    await sleep(Math.min(intervalMs, Math.max(deadline - Date.now(), 0)), ctx.signal);
  }
}

/** Deletes our unmerged branch (if it still holds our commit), even when the step was cancelled. */
async function abandonBranch(s: Session, prBranch: string, commit: string): Promise<void> {
  const repo = new GitRepo(s.cache.repo.dir, s.remote, AbortSignal.timeout(60_000));
  try {
    const heads = await repo.remoteHeads([prBranch]);
    if (heads.get(prBranch) !== commit) return;
    await repo.deleteRemoteBranch(prBranch);
    s.ctx.log(`deleted branch ${prBranch}, so the unmerged change cannot be merged later`);
  } catch {
    s.ctx.log(`could not delete branch ${prBranch}: delete it by hand so the change is not merged later`);
  }
}

function pullRequestBody(ctx: StepContext, files: readonly FileEdit[]): string {
  return [
    `Lockstep promotes release \`${ctx.release.id}\` to **${ctx.environment.name}** (promotion \`${ctx.promotionId}\`):`,
    `${ctx.component} ${ctx.previousVersion ?? '(none)'} → ${ctx.version}.`,
    '',
    ...files.flatMap((f) => f.edits.map((e) => `- \`${f.path}\`: ${e}`)),
    '',
    'The promotion waits for this pull request to be merged. Closing it (deleting the branch) fails the step.',
  ].join('\n');
}

function isNetwork(reason: string): boolean {
  return /unable to access|could not read from remote|could not resolve|connection|timed out/i.test(reason);
}

function editSummary(files: readonly FileEdit[]): string {
  return files.map((f) => `${f.path} (${f.edits.join(', ')})`).join('; ');
}

// ------------------------------------------------------------------ rollback

/** A ref in the cache naming the commit an apply made, per promotion and component. */
function appliedRef(ctx: StepContext): string {
  const safe = (text: string): string => text.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
  return `refs/lockstep/applied/${safe(ctx.promotionId)}/${safe(ctx.component)}`;
}

/** Commits this step's applies made on the branch, oldest first (rollback commits excluded). */
async function appliedCommits(repo: GitRepo, head: string, ctx: StepContext): Promise<CommitInfo[]> {
  if (ctx.promotionId === '') return [];
  const found = await repo.commitsWith(head, `${TRAILER.promotion}: ${ctx.promotionId}`, TRAILER_KEYS);
  return found.filter(
    (c) =>
      c.trailers[TRAILER.promotion] === ctx.promotionId &&
      c.trailers[TRAILER.component] === ctx.component &&
      c.trailers[TRAILER.rollbackOf] === undefined,
  );
}

interface Prior {
  /** The commit whose change is undone. */
  undone: string;
  entries: SetEntry[];
  /** Entries whose target did not exist before (created by create: true): left alone. */
  skipped: string[];
}

/**
 * The values the edited fields held before this promotion's first commit for this component: read
 * from that commit's parent, so a rollback restores exactly what was there even when the spec's
 * values are templates (`${{ version }}`) that now render to the new version. Undefined when this
 * promotion made no commit (found by trailers on the branch, or, after a squash merge, by the ref the
 * apply kept in the cache).
 */
async function valuesBefore(s: Session, repo: GitRepo): Promise<Prior | undefined> {
  const head = await fetchBranch(s, repo);
  let undone = (await appliedCommits(repo, head, s.ctx))[0];
  if (undone === undefined) {
    const local = await repo.resolve(appliedRef(s.ctx));
    const parent = local ? await repo.resolve(`${local}^1`) : undefined;
    if (local && parent) undone = { sha: local, parents: [parent], trailers: {} };
  }
  const parent = undone?.parents[0];
  if (!undone || !parent) return undefined;
  const entries: SetEntry[] = [];
  const skipped: string[] = [];
  for (const entry of s.spec.set) {
    const restored = restore(entry, await readEntry(baseAt(s, repo, parent), entry));
    if (restored) entries.push(restored);
    else skipped.push(describeEntry(entry));
  }
  return { undone: undone.sha, entries, skipped };
}

/** The entry set to what it read before (only the fields the entry itself changes). */
function restore(entry: SetEntry, before: CurrentValue): SetEntry | undefined {
  if (!before.found) return undefined;
  if (entry.kind === 'yaml' && before.kind === 'yaml') {
    const v = before.value;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined;
    return { ...entry, value: v, create: false };
  }
  if (entry.kind === 'kustomize-image' && before.kind === 'kustomize-image') {
    const restored: SetEntry = { ...entry, create: false };
    for (const field of IMAGE_FIELDS) if (entry[field] !== undefined) restored[field] = before.value[field] ?? null;
    return restored;
  }
  return undefined;
}

/** The entry with `from` replaced by `to` in its values: the fallback when no commit is found. */
function withVersion(entry: SetEntry, from: string, to: string): SetEntry {
  if (from === '') return entry;
  const swap = <T>(v: T): T => (typeof v === 'string' ? (v.replaceAll(from, to) as T) : v);
  if (entry.kind === 'yaml') return { ...entry, value: swap(entry.value) };
  const out: SetEntry = { ...entry };
  for (const field of IMAGE_FIELDS) out[field] = swap(entry[field]);
  return out;
}

// ------------------------------------------------------------------ observe

/**
 * Which version the repository holds: each entry whose configured value contains the step's version
 * (`tag: "${{ version }}"`, `value: "acme/api:${{ version }}"`) is read back, and the text in the
 * version's place is the version. The first such entry gives `version`; entries that disagree with
 * it, values that differ from the configuration and missing targets are `drift`. Values themselves
 * are never reported (they may be secrets).
 */
export function describeValues(
  entries: readonly SetEntry[],
  values: readonly CurrentValue[],
  version: string,
): { version: string | undefined; drift: string[] } {
  const drift: string[] = [];
  const versions: [string, string][] = [];
  entries.forEach((entry, i) => {
    const current = values[i];
    const label = `${entry.file ?? 'kustomization'} ${describeEntry(entry)}`;
    if (!current?.found) {
      drift.push(`${label} is missing`);
      return;
    }
    for (const [target, now] of pairs(entry, current)) {
      if (version !== '' && target.includes(version)) {
        const found = now === undefined ? undefined : versionIn(target, version, now);
        if (found === undefined) drift.push(`${label} does not hold a value of the configured form`);
        else versions.push([label, found]);
      } else if (now !== target) {
        drift.push(`${label} differs from the configured value`);
      }
    }
  });
  const first = versions[0];
  if (new Set(versions.map(([, v]) => v)).size > 1) {
    drift.push(`the files disagree on the version: ${versions.map(([l, v]) => `${l} holds ${v}`).join(', ')}`);
  }
  return { version: first?.[1], drift };
}

/**
 * Each value the configuration sets that the files do not hold (as rendered for the observed version):
 * the field is the file and the path, or the kustomization image and its field. A value that comes
 * from a secret or a sensitive output is marked sensitive, so only "changed" is shown. Pure.
 */
export function valueDifferences(
  entries: readonly SetEntry[],
  values: readonly CurrentValue[],
  isSensitive: (value: string) => boolean,
): ObservedDifference[] {
  const out: ObservedDifference[] = [];
  entries.forEach((entry, i) => {
    const current = values[i];
    const file = entry.file ?? 'kustomization';
    if (!current?.found) {
      out.push({ field: `${file} ${describeEntry(entry)}`, expected: configuredText(entry), found: '(missing)', sensitive: isSensitive(configuredText(entry)) });
      return;
    }
    if (entry.kind === 'yaml') {
      const [[target, now] = ['', undefined]] = pairs(entry, current);
      if (now !== target) out.push({ field: `${file} ${entry.pathText}`, expected: target, found: now ?? '(not a plain value)', sensitive: isSensitive(target) || (now !== undefined && isSensitive(now)) });
      return;
    }
    for (const field of IMAGE_FIELDS) {
      const target = entry[field];
      if (typeof target !== 'string' || current.kind !== 'kustomize-image') continue;
      const now = current.value[field];
      if (now !== target) out.push({ field: `${file} images[${entry.image}].${field}`, expected: target, found: now ?? '(not set)', sensitive: isSensitive(target) || (now !== undefined && isSensitive(now)) });
    }
  });
  return out;
}

function configuredText(entry: SetEntry): string {
  if (entry.kind === 'yaml') return String(entry.value);
  return IMAGE_FIELDS.flatMap((f) => (typeof entry[f] === 'string' ? [`${f}=${entry[f]}`] : [])).join(', ');
}

/** [configured, current] texts of what the entry sets. */
function pairs(entry: SetEntry, current: CurrentValue): [string, string | undefined][] {
  if (entry.kind === 'yaml' && current.kind === 'yaml' && current.found) {
    const v = current.value;
    return [[String(entry.value), typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined]];
  }
  if (entry.kind === 'kustomize-image' && current.kind === 'kustomize-image' && current.found) {
    return IMAGE_FIELDS.filter((f) => typeof entry[f] === 'string').map((f) => [entry[f] as string, current.value[f]]);
  }
  return [];
}

/** The text standing where `version` stands in `target`, when `current` has the same form. */
function versionIn(target: string, version: string, current: string): string | undefined {
  const at = target.indexOf(version);
  const prefix = target.slice(0, at);
  const suffix = target.slice(at + version.length);
  if (!current.startsWith(prefix) || !current.endsWith(suffix) || current.length <= prefix.length + suffix.length) return undefined;
  return current.slice(prefix.length, current.length - suffix.length);
}

// ------------------------------------------------------------------ Argo CD

function argoClient(s: Session): ArgoCdClient {
  const a = s.spec.argocd;
  if (!a) throw new Error('argoClient needs argocd in the spec');
  return new ArgoCdClient({
    server: a.server,
    token: a.token,
    username: a.username,
    password: a.password,
    appNamespace: a.appNamespace,
    signal: s.ctx.signal,
    // argocd.timeout bounds every call of one check or wait, retries included (the wait's own loop
    // also stops then): a server that never answers fails the step then, naming the call.
    timeoutMs: parseDuration(a.timeout) ?? 600_000,
    onRetry: (line) => s.ctx.log(line),
  });
}

async function checkArgoCd(s: Session): Promise<void> {
  try {
    await argoClient(s).getApplication(s.spec.argocd?.app ?? '');
  } catch (error) {
    const failure = asStepFailure(error);
    if (failure instanceof StepFailure) throw new StepFailure(failure.message, failure.retryable, { cause: error, untouched: true });
    throw failure;
  }
}

async function waitForArgo(s: Session, commit: string): Promise<void> {
  const a = s.spec.argocd;
  if (!a) return;
  const repo = s.cache.repo;
  const known = new Map<string, boolean>();
  let lastFetch = 0;
  const contains = async (revision: string): Promise<boolean> => {
    if (revision === commit) return true;
    if (!/^[0-9a-f]{40}$/.test(revision)) return false;
    const cached = known.get(revision);
    if (cached !== undefined) return cached;
    let present = await repo.hasCommit(revision);
    // A revision we have not seen: someone pushed after us. Fetch (at most every few seconds) to see it.
    if (!present && Date.now() - lastFetch > 5_000) {
      lastFetch = Date.now();
      await s.cache.locked((r) => fetchBranch(s, r));
      present = await repo.hasCommit(revision);
    }
    if (!present) return false;
    const result = await repo.isAncestor(commit, revision);
    known.set(revision, result);
    return result;
  };
  s.ctx.log(`waiting for Argo CD ${a.app} to run ${short(commit)} (Synced and Healthy)`);
  await guard(() =>
    waitForArgoCd({
      client: argoClient(s),
      app: a.app,
      commit,
      contains,
      timeoutMs: parseDuration(a.timeout) ?? 600_000,
      intervalMs: parseDuration(a.interval) ?? 2000,
      stableForMs: parseDuration(a.stableFor) ?? 0,
      sync: a.sync,
      prune: a.prune,
      refresh: a.refresh,
      log: s.ctx.log,
      heartbeat: s.ctx.heartbeat,
      signal: s.ctx.signal,
    }),
  );
}

// ------------------------------------------------------------------ small things

function short(sha: string): string {
  return sha.slice(0, 12);
}
