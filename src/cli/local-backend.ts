import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Identity } from '../core/access.js';
import { whoIs, type WhoAmI } from '../core/whoami.js';
import { approve } from '../engine/approve.js';
import { auditExport } from '../engine/audit-export.js';
import { errorMessage } from '../core/errors.js';
import { flushNotifications, listDeliveries, prepareNotifications, sendTestNotification } from '../engine/notifications.js';
import { verifyAuditLog } from '../engine/audit-verify.js';
import { cancelPromotion } from '../engine/cancel.js';
import { diff, type DiffRequest } from '../engine/diff.js';
import { doraMetrics, type DoraQuery } from '../engine/dora.js';
import { promotionEvidence } from '../engine/evidence.js';
import type { EngineDeps } from '../engine/deps.js';
import { waitToEnd } from '../engine/follow.js';
import { previewPlan } from '../engine/plan-preview.js';
import { createRelease, promote, reapplyComponents, resume, rollbackEnvironment } from '../engine/promote.js';
import { InputError } from '../core/errors.js';
import { promotionLogs, promotionWithSteps, releaseWithPromotions } from '../engine/records.js';
import { environmentStatus } from '../engine/status.js';
import { checkDrift } from '../engine/drift.js';
import { rejectRelease, tick } from '../engine/tick.js';
import { checkNewToken, createToken, listTokens, revokeToken, type NewToken } from '../engine/tokens.js';
import type { Store } from '../store/store.js';
import { resolveActor } from './actor.js';
import type { Backend, BackendOptions, ResumeRequest, RollbackRequest, RunHooks, TickOutcome, WaitHooks } from './backend.js';
import { openProject, openStore, readConfig, type GlobalOptions, type StateAccess } from './context.js';

/**
 * The engine in this process, over the project's config and state. Reads that need only the state
 * (release list, history, logs, audit) open only the store, as they always did: they work with a
 * config that no longer validates.
 */
export class LocalBackend implements Backend {
  private deps: Promise<EngineDeps> | undefined;
  private store: Promise<Store> | undefined;

  constructor(
    private readonly options: GlobalOptions,
    private readonly access: StateAccess,
    private readonly backend: BackendOptions,
  ) {}

  private engine(): Promise<EngineDeps> {
    this.deps ??= openProject(this.options, this.access, this.backend.observer).then(async (deps) => {
      // Targets seen for the first time hear what this command is about to record.
      if (this.access !== 'read') await prepareNotifications(deps);
      return deps;
    });
    return this.deps;
  }

  /** Locally the actor is claimed (--actor, LOCKSTEP_ACTOR, git, the OS user), and the audit log says so. */
  private caller(): Identity {
    return { name: resolveActor(this.options.actor, process.env, dirname(resolve(this.options.config))), via: { kind: 'claimed' } };
  }

  private state(): Promise<Store> {
    this.store ??= this.deps ? this.deps.then((d) => d.store) : openStore(this.options, this.access);
    return this.store;
  }

  async close(): Promise<void> {
    await this.flushAtClose();
    const stores = new Set<Store>();
    for (const s of [this.deps?.then((d) => d.store), this.store]) {
      if (s === undefined) continue;
      try {
        stores.add(await s);
      } catch {
        // It never opened: its error reached the command already.
      }
    }
    for (const s of stores) await s.close();
  }

  /**
   * Without a server nobody else sends what this command recorded: it goes out now, within a short
   * bound (notifications.ts FLUSH_BUDGET_MS), after the command's result is printed. What cannot be
   * sent stays in the outbox; the command's outcome never depends on it.
   */
  private async flushAtClose(): Promise<void> {
    if (this.access === 'read' || this.deps === undefined) return;
    try {
      const deps = await this.deps;
      const sent = await flushNotifications(deps);
      if (sent.retrying + sent.failed > 0) {
        process.stderr.write(
          `lockstep: notify: ${sent.retrying + sent.failed} notification(s) could not be sent (lockstep notify log shows why); ${sent.retrying > 0 ? 'they are tried again by the next command, lockstep notify send, or a server' : 'given up'}\n`,
        );
      }
    } catch (error) {
      // The engine never opened (its error reached the command already), or the outbox could not be read.
      if (this.deps !== undefined && !(await this.deps.then(() => false, () => true))) process.stderr.write(`lockstep: notify: ${errorMessage(error)}\n`);
    }
  }

  async createRelease(input: Parameters<Backend['createRelease']>[0]) {
    return createRelease(await this.engine(), input);
  }

  async listReleases(limit: number) {
    return (await this.state()).listReleases({ limit });
  }

  async release(ref: string) {
    return releaseWithPromotions(await this.state(), ref);
  }

  async plan(ref: string, to: string) {
    return previewPlan(await this.engine(), ref, to);
  }

  async status(environment?: string) {
    return environmentStatus(await this.engine(), environment);
  }

  async diff(request: DiffRequest) {
    return diff(await this.engine(), request);
  }

  async metrics(query: DoraQuery) {
    return doraMetrics(await this.engine(), query);
  }

  async drift(query: { environment?: string; component?: string }) {
    return checkDrift(await this.engine(), { ...query, trigger: 'command' });
  }

  async promotions(query: { environment?: string; limit: number }) {
    return (await this.state()).listPromotions(query);
  }

  async promotion(ref: string) {
    return promotionWithSteps(await this.state(), ref);
  }

  async logs(ref: string, component?: string) {
    return promotionLogs(await this.state(), ref, component);
  }

  async verifyAudit(head?: string) {
    return verifyAuditLog(await this.state(), head);
  }

  async deliveries(filter: Parameters<Backend['deliveries']>[0]) {
    return listDeliveries(await this.state(), filter);
  }

  async sendNotifications(budgetMs: number) {
    return flushNotifications(await this.engine(), { budgetMs, ignoreBackoff: true });
  }

  async testNotification(target: string) {
    return sendTestNotification(await this.engine(), target);
  }

  async promote(request: Parameters<Backend['promote']>[0], hooks: Parameters<Backend['promote']>[1]) {
    if (request.reapply !== undefined && request.reapply.length > 0) {
      return reapplyComponents(await this.engine(), request.to, request.reapply, {
        release: request.release,
        concurrency: request.concurrency,
        overrideWindow: request.overrideWindow,
        onRunner: hooks.onRunner,
        onCreated: hooks.onCreated,
      });
    }
    if (request.release === undefined) throw new InputError('promote needs a RELEASE (or --reapply COMPONENT)', 'release');
    return promote(await this.engine(), request.release, request.to, {
      concurrency: request.concurrency,
      overrideWindow: request.overrideWindow,
      onRunner: hooks.onRunner,
      onCreated: hooks.onCreated,
    });
  }

  async cancel(promotion: string, reason: string) {
    return cancelPromotion(await this.engine(), promotion, reason);
  }

  async decide(request: Parameters<Backend['decide']>[0], hooks: Parameters<Backend['decide']>[1]) {
    return approve(await this.engine(), request.promotion, {
      comment: request.comment,
      reject: request.reject,
      onRunner: hooks.onRunner,
      onCreated: hooks.onCreated,
    });
  }

  async rejectRelease(ref: string, reason: string) {
    return rejectRelease(await this.engine(), ref, reason);
  }

  async stepHistory(query: { environment?: string; component?: string; limit: number }) {
    return (await this.state()).listStepHistory(query);
  }

  async *exportAudit(): AsyncGenerator<string> {
    yield* auditExport(await this.state());
  }

  async evidence(ref: string) {
    return promotionEvidence(await this.state(), ref);
  }

  async waitToEnd(promotion: Parameters<Backend['waitToEnd']>[0], hooks: WaitHooks, signal: AbortSignal) {
    const deps = await this.engine();
    return waitToEnd(deps, promotion, {
      signal,
      observer: deps.observer,
      onRunner: hooks.onRunner,
      onCreated: (p) => hooks.onCreated(p),
      onFollow: hooks.onFollow,
      onWaiting: hooks.onWaiting,
    });
  }

  async resume(request: ResumeRequest, hooks: RunHooks) {
    const { promotion, ...options } = request;
    return resume(await this.engine(), promotion, { ...options, onRunner: hooks.onRunner });
  }

  async rollback(request: RollbackRequest, hooks: RunHooks) {
    return rollbackEnvironment(await this.engine(), request.environment, {
      concurrency: request.concurrency,
      overrideWindow: request.overrideWindow,
      onRunner: hooks.onRunner,
      onCreated: hooks.onCreated,
    });
  }

  async tick(hooks: RunHooks): Promise<TickOutcome> {
    return { kind: 'ran', result: await tick(await this.engine(), { onRunner: hooks.onRunner, onCreated: hooks.onCreated }) };
  }

  async createToken(input: NewToken) {
    // Checked before the state is opened (or created): a refused or mistyped command leaves no trace.
    checkNewToken({ loaded: readConfig(this.options.config) }, this.caller(), input);
    return createToken(await this.engine(), this.caller(), input);
  }

  async listTokens() {
    return listTokens(await this.engine(), this.caller());
  }

  async revokeToken(name: string) {
    return revokeToken(await this.engine(), this.caller(), name);
  }

  /** The claimed actor, and what the config here gives it (every role when it has no `access:`). */
  whoami(): Promise<WhoAmI> {
    const projects = existsSync(this.options.config) ? [readConfig(this.options.config).config] : [];
    return Promise.resolve(whoIs(this.caller(), projects.map((config) => ({ name: config.project, config }))));
  }
}
