import { limitText } from '../../core/duration.js';
import { StepFailure } from '../../core/errors.js';
import { sleep } from './abort.js';
import { ArgoCdError, type ArgoApplication, type ArgoCdClient } from './argocd-client.js';

/**
 * Waits until Argo CD runs a commit: `status.sync.revision` is that commit or a descendant of it,
 * `sync.status` is Synced and `health.status` is Healthy, and stays so for `stableForMs` (health can
 * flap while pods start). Fails with Argo CD's own message when health turns Degraded at our revision
 * or a sync operation started for it fails, and when the timeout expires. What Argo CD reports along
 * the way (sync and health status, operation phase, messages) goes to the step log when it changes.
 */
export interface ArgoWait {
  client: ArgoCdClient;
  app: string;
  /** The commit that must be running. */
  commit: string;
  /** Whether a revision Argo CD reports contains `commit` (is it, or a descendant). */
  contains: (revision: string) => Promise<boolean>;
  timeoutMs: number;
  intervalMs: number;
  stableForMs: number;
  /** Ask for a sync (unless the Application syncs by itself). */
  sync: boolean;
  prune: boolean;
  refresh: 'normal' | 'hard';
  log: (line: string) => void;
  heartbeat: () => void;
  signal: AbortSignal;
}

/** How often the Application is refreshed from Git while it still shows an older revision. */
const REFRESH_EVERY_MS = 30_000;

export async function waitForArgoCd(w: ArgoWait): Promise<ArgoApplication> {
  const started = Date.now();
  const short = w.commit.slice(0, 12);
  let app = await get(w, w.refresh);
  let lastRefresh = Date.now();
  // An operation that was there before we started is not ours to judge.
  const before = app.status?.operationState?.startedAt;
  const seen = new Reporter(w.app, w.log);
  seen.report(app);

  if (w.sync && !(await atCommit(w, app))) {
    if (isAutomated(app)) {
      w.log(`Argo CD ${w.app} syncs automatically: waiting for it to pick up ${short}`);
    } else {
      await requestSync(w);
    }
  }

  let healthySince: number | undefined;
  for (;;) {
    w.heartbeat();
    const ours = await atCommit(w, app);
    const status = app.status;
    const operation = status?.operationState;
    const operationIsOurs =
      operation !== undefined && (operation.startedAt !== before || (await revisionsContain(w, [operation.syncResult?.revision, ...(operation.syncResult?.revisions ?? [])])));
    if (operationIsOurs && (operation.phase === 'Failed' || operation.phase === 'Error')) {
      throw new StepFailure(`Argo CD sync of ${w.app} ${operation.phase === 'Error' ? 'errored' : 'failed'}: ${operation.message ?? 'no message'}`, false);
    }
    if (ours && status?.health?.status === 'Degraded') {
      throw new StepFailure(`Argo CD reports ${w.app} Degraded at ${short}: ${degradedMessage(app)}`, false);
    }
    const settled = operation === undefined || !['Running', 'Terminating'].includes(operation.phase ?? '') || !operationIsOurs;
    if (ours && status?.sync?.status === 'Synced' && status.health?.status === 'Healthy' && settled) {
      healthySince ??= Date.now();
      if (Date.now() - healthySince >= w.stableForMs) {
        w.log(`Argo CD ${w.app} is Synced and Healthy at ${revisionOf(app)?.slice(0, 12) ?? short}`);
        return app;
      }
    } else {
      healthySince = undefined;
    }
    if (Date.now() - started >= w.timeoutMs) {
      throw new StepFailure(
        `Argo CD ${w.app} did not become Synced and Healthy at ${short} within ${limitText(w.timeoutMs)}: ${seen.summary(app)}`,
        true,
      );
    }
    await sleep(Math.min(w.intervalMs, Math.max(w.timeoutMs - (Date.now() - started), 0) + 1), w.signal);
    const refresh = !ours && Date.now() - lastRefresh >= REFRESH_EVERY_MS ? w.refresh : undefined;
    if (refresh) lastRefresh = Date.now();
    app = await get(w, refresh);
    seen.report(app);
  }
}

async function get(w: ArgoWait, refresh: 'normal' | 'hard' | undefined): Promise<ArgoApplication> {
  try {
    return await w.client.getApplication(w.app, refresh);
  } catch (error) {
    throw asStepFailure(error);
  }
}

async function requestSync(w: ArgoWait): Promise<void> {
  try {
    await w.client.sync(w.app, { prune: w.prune });
    w.log(`asked Argo CD to sync ${w.app}`);
  } catch (error) {
    // A sync already running (started by auto-sync, a person or a webhook) will pick the commit up.
    if (error instanceof ArgoCdError && /already in progress/i.test(error.message)) {
      w.log(`Argo CD ${w.app} is syncing already: waiting for that operation`);
      return;
    }
    throw asStepFailure(error);
  }
}

/** ArgoCdError as a StepFailure, keeping whether trying again can help. */
export function asStepFailure(error: unknown): unknown {
  if (error instanceof ArgoCdError) return new StepFailure(error.message, error.retryable, { cause: error });
  return error;
}

function isAutomated(app: ArgoApplication): boolean {
  const automated = app.spec?.syncPolicy?.automated;
  return automated !== undefined && automated !== null && automated.enabled !== false;
}

function revisionOf(app: ArgoApplication): string | undefined {
  return app.status?.sync?.revision ?? app.status?.sync?.revisions?.[0];
}

async function atCommit(w: ArgoWait, app: ArgoApplication): Promise<boolean> {
  return revisionsContain(w, [app.status?.sync?.revision, ...(app.status?.sync?.revisions ?? [])]);
}

async function revisionsContain(w: ArgoWait, revisions: (string | undefined)[]): Promise<boolean> {
  for (const revision of revisions) {
    if (revision !== undefined && revision !== '' && (await w.contains(revision))) return true;
  }
  return false;
}

/** Argo CD's own account of a Degraded application: its message, else its degraded resources'. */
export function degradedMessage(app: ArgoApplication): string {
  const parts: string[] = [];
  const own = app.status?.health?.message;
  if (own) parts.push(own);
  for (const r of app.status?.resources ?? []) {
    if (r.health?.status === 'Degraded') parts.push(`${r.kind ?? 'resource'}/${r.name ?? '?'}: ${r.health.message ?? 'Degraded'}`);
  }
  for (const c of app.status?.conditions ?? []) {
    if (c.message) parts.push(`${c.type ?? 'condition'}: ${c.message}`);
  }
  return parts.length > 0 ? parts.slice(0, 5).join('; ') : 'no message';
}

/** Logs each change of what Argo CD reports, once. */
class Reporter {
  private last = '';
  private lastOperationMessage = '';
  private lastHealthMessage = '';

  constructor(
    private readonly app: string,
    private readonly log: (line: string) => void,
  ) {}

  report(app: ArgoApplication): void {
    const line = this.summary(app);
    if (line !== this.last) {
      this.log(`Argo CD ${this.app}: ${line}`);
      this.last = line;
    }
    const operation = app.status?.operationState?.message ?? '';
    if (operation !== '' && operation !== this.lastOperationMessage) {
      this.log(`Argo CD ${this.app} operation: ${operation}`);
    }
    this.lastOperationMessage = operation;
    const health = app.status?.health?.message ?? '';
    if (health !== '' && health !== this.lastHealthMessage) this.log(`Argo CD ${this.app} health: ${health}`);
    this.lastHealthMessage = health;
  }

  summary(app: ArgoApplication): string {
    const s = app.status;
    const revision = revisionOf(app);
    const parts = [
      `sync ${s?.sync?.status ?? 'Unknown'}`,
      `health ${s?.health?.status ?? 'Unknown'}`,
      revision ? `revision ${revision.slice(0, 12)}` : 'no revision yet',
    ];
    if (s?.operationState?.phase) parts.push(`operation ${s.operationState.phase}`);
    return parts.join(', ');
  }
}
