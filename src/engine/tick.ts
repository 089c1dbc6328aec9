import type { AuditEventInput } from '../core/audit.js';
import { ConflictError, errorMessage, InputError } from '../core/errors.js';
import type { EnvironmentConfig, PromotionRecord, ReleaseRecord } from '../core/model.js';
import type { EngineDeps } from './deps.js';
import { actorProof } from './gates.js';
import { advancePending, promote, type PromoteOptions } from './promote.js';
import { own } from '../core/own.js';
import { sealUnsealed } from './evidence.js';

/** Who requests an automatic promotion: not a person, so separation of duties never exempts anyone. */
export const AUTO_ACTOR = 'lockstep:auto';

export interface TickResult {
  /** Pending promotions whose gates were evaluated again, as they stand afterwards. */
  pending: PromotionRecord[];
  /** Promotions started by `auto: true` environments. */
  automatic: PromotionRecord[];
  /** What could not be done (a plan that failed, a busy environment), one per promotion or environment; the rest went on. */
  errors: { promotionId?: string; environment: string; message: string }[];
}

/**
 * One round of the work a server would do continuously: re-evaluates every pending promotion (runs
 * those whose gates now pass), then, environment by environment in promotion order, starts an
 * automatic promotion where `gates.auto` is true and a newer release has succeeded upstream. An
 * environment that is busy or has a promotion pending is left alone.
 */
export async function tick(deps: EngineDeps, options: Pick<PromoteOptions, 'onCreated' | 'onRunner'> = {}): Promise<TickResult> {
  const result: TickResult = { pending: [], automatic: [], errors: [] };
  const waiting = (await deps.store.listPromotions({ states: ['pending'] })).reverse();
  for (const p of waiting) {
    try {
      result.pending.push(await advancePending(deps, p.id, options));
    } catch (error) {
      // One promotion whose plan fails (a missing secret, an unreachable system) must not stop the others.
      result.errors.push({ promotionId: p.id, environment: p.environment, message: errorMessage(error) });
    }
  }

  for (const started of await startAutomatic(deps, options)) {
    if (started.promotion) result.automatic.push(started.promotion);
    if (started.error !== undefined) result.errors.push({ environment: started.environment, message: started.error });
  }
  // Evidence a crash kept from being written when its promotion ended.
  const sealed = await sealUnsealed({ store: deps.store, signer: deps.signer, clock: deps.clock });
  for (const e of sealed.errors) result.errors.push({ promotionId: e.promotionId, environment: '', message: `its evidence could not be written: ${e.message}` });
  return result;
}

export interface AutoStart {
  environment: string;
  promotion?: PromotionRecord;
  error?: string;
}

/**
 * Environment by environment in promotion order, starts an automatic promotion where `gates.auto` is
 * true and a newer release has succeeded upstream; an environment that is busy or has a promotion
 * pending is left alone. Each promotion runs to its end before the next environment is looked at,
 * unless `launch` runs it in the background (the server's worker): it is then keyed `auto:ENV`, so a
 * launcher that skips keys it already runs never starts one twice.
 */
export async function startAutomatic(
  deps: EngineDeps,
  options: Pick<PromoteOptions, 'onCreated' | 'onRunner'> = {},
  launch?: (key: string, work: () => Promise<PromotionRecord | undefined>) => void,
): Promise<AutoStart[]> {
  const out: AutoStart[] = [];
  const auto: EngineDeps = { ...deps, actor: AUTO_ACTOR };
  for (const env of promotionOrder(deps.loaded.config.environments)) {
    if (!env.gates?.auto) continue;
    if (await deps.store.activePromotion(env.name)) continue;
    if ((await deps.store.listPromotions({ environment: env.name, states: ['pending'] })).length > 0) continue;
    const candidate = await autoCandidate(deps, env);
    if (!candidate) continue;
    const why: AuditEventInput = {
      kind: 'gate.passed',
      time: deps.clock.now().toISOString(),
      actor: AUTO_ACTOR,
      project: deps.loaded.config.project,
      environment: env.name,
      releaseId: candidate.id,
      data: { gate: 'auto', reason: `release succeeded in ${env.after.join(', ') || 'no upstream environment'}; auto-promotion started by ${deps.actor}`, tickBy: deps.actor, ...actorProof(deps) },
    };
    const work = async (): Promise<PromotionRecord | undefined> => {
      try {
        // The reason is recorded in the commit that makes the promotion: made once, explained once.
        return await promote(auto, candidate.id, env.name, { ...options, automatic: { audit: [why] } });
      } catch (error) {
        // Another process (a server replica, a tick) made this very promotion first: nothing to report.
        if (error instanceof ConflictError && (await deps.store.listPromotions({ environment: env.name, releaseId: candidate.id, limit: 1 })).length > 0) return undefined;
        throw error;
      }
    };
    if (launch) {
      launch(`auto:${env.name}`, work);
      out.push({ environment: env.name });
      continue;
    }
    try {
      out.push({ environment: env.name, promotion: await work() });
    } catch (error) {
      out.push({ environment: env.name, error: errorMessage(error) });
    }
  }
  return out;
}

/**
 * The newest release that succeeded in every upstream environment (any release, for an environment
 * without `after`), is not rejected, and was never promoted to `env`. Releases older than one already
 * promoted there are not candidates: auto-promotion moves forward only, and a failed or rejected
 * release is not tried again by itself.
 */
export async function autoCandidate(deps: EngineDeps, env: EnvironmentConfig): Promise<ReleaseRecord | undefined> {
  const here = new Set((await deps.store.listPromotions({ environment: env.name })).map((p) => p.releaseId));
  for (const release of await deps.store.listReleases({ limit: 100 })) {
    if (release.project !== deps.loaded.config.project) continue;
    if (here.has(release.id)) return undefined;
    if (release.rejected) continue;
    if (Object.keys(deps.loaded.config.components).some((c) => own(release.versions, c) === undefined)) continue;
    let upstreamDone = true;
    for (const e of env.after) {
      const done = await deps.store.listPromotions({ environment: e, releaseId: release.id, states: ['succeeded'], limit: 1 });
      if (done.length === 0) upstreamDone = false;
    }
    if (upstreamDone) return release;
  }
  return undefined;
}

/** Environments ordered so that each comes after everything in its `after` (the config has no cycles). */
export function promotionOrder(environments: Readonly<Record<string, EnvironmentConfig>>): EnvironmentConfig[] {
  const out: EnvironmentConfig[] = [];
  const placed = new Set<string>();
  const visit = (env: EnvironmentConfig): void => {
    if (placed.has(env.name)) return;
    placed.add(env.name);
    for (const a of env.after) {
      const upstream = environments[a];
      if (upstream) visit(upstream);
    }
    out.push(env);
  };
  for (const env of Object.values(environments)) visit(env);
  return out;
}

/**
 * Marks a release known-bad: it can never be promoted again, anywhere, and its pending promotions are
 * rejected now. Promotions already running carry on (stop them with Ctrl-C, roll back with `rollback`).
 */
export async function rejectRelease(deps: EngineDeps, releaseRef: string, reason: string): Promise<{ release: ReleaseRecord; rejectedPromotions: PromotionRecord[] }> {
  if (reason.trim() === '') throw new InputError('release reject needs --reason: say what is wrong with it', '--reason');
  const release = await deps.store.getRelease(releaseRef);
  const at = deps.clock.now().toISOString();
  await deps.store.commit({
    releaseRejection: { releaseId: release.id, rejection: { by: deps.actor, reason, at } },
    audit: [{ kind: 'release.rejected', time: at, actor: deps.actor, project: release.project, releaseId: release.id, data: { reason, ...actorProof(deps) } }],
  });
  const rejectedPromotions: PromotionRecord[] = [];
  for (const p of await deps.store.listPromotions({ releaseId: release.id, states: ['pending'] })) rejectedPromotions.push(await advancePending(deps, p.id));
  return { release: await deps.store.getRelease(release.id), rejectedPromotions };
}

/** How often `promote --wait` looks for approvals given by others (gates on time are awaited exactly). */
export const WAIT_POLL_MS = 2_000;

/**
 * `promote --wait`: evaluates a pending promotion's gates again until they pass (it then runs) or
 * nothing can satisfy them any more; `onWaiting` hears each new state. Stops when `signal` aborts,
 * leaving the promotion pending.
 */
export async function waitWhilePending(
  deps: EngineDeps,
  promotion: PromotionRecord,
  options: Pick<PromoteOptions, 'onCreated' | 'onRunner'> & { signal: AbortSignal; onWaiting?(p: PromotionRecord): void; pollMs?: number },
): Promise<PromotionRecord> {
  let current = promotion;
  let said = '';
  while (current.state === 'pending' && !options.signal.aborted) {
    if (current.reason !== said) {
      said = current.reason ?? '';
      options.onWaiting?.(current);
    }
    const soonest = current.plan.gates.filter((g) => g.status === 'waiting' && g.until).map((g) => Date.parse(g.until as string) - deps.clock.now().getTime());
    const wait = Math.max(50, Math.min(options.pollMs ?? WAIT_POLL_MS, ...soonest));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      options.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
    if (options.signal.aborted) break;
    current = await advancePending(deps, current.id, options);
  }
  return current;
}
