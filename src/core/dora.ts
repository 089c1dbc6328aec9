import type { PromotionRecord, ReleaseRecord, StepRecord, StepState } from './model.js';

/**
 * DORA's four keys and rework rate, computed from Lockstep's own record: promotions, their steps and
 * the releases they carried. Pure: the window and every record are passed in. docs/metrics.md holds
 * the definitions this file implements; the words below are the same.
 *
 * - An **outcome** is a promotion into the environment that started running and ended `succeeded`,
 *   or ended `failed` after it touched the environment (a step started to apply, or the environment's
 *   verification failed). Pending, rejected and cancelled-before-running promotions, and failures
 *   before anything applied, changed nothing: they are not outcomes. Outcomes of one environment
 *   never overlap (the environment's lock); they are ordered by start time.
 * - A **deployment** is an outcome that succeeded, of either kind (`promotion` or `rollback`).
 *   For one component: a deployment in which its step applied (`succeeded`, not `unchanged`).
 * - A **change** is an outcome of kind `promotion` (a rollback brings back what ran; it is no new
 *   change). For one component: one whose step started to apply.
 * - A change **failed** when it ended `failed` (for a component: its step ended failed, rolled back
 *   or rollback-failed), or when it succeeded and the next outcome in the environment is a rollback
 *   (for a component: a rollback that applied the component again).
 * - The environment is **failing** from the end of a failed outcome (of either kind) or of a deployment
 *   that the next outcome rolled back, until the end of the next succeeded outcome (for a component:
 *   one in which it has a step): that outcome **restores** it. Failures before the restore do not
 *   start a new episode.
 * - A deployment is **rework** when it restores: it was made because of a failure (a rollback, a
 *   fix-forward or a retry). DORA's rework rate (2024) is the share of deployments that were
 *   unplanned, made to address a problem in production; the restoring deployment is the one the
 *   record can name without guessing.
 * - **Lead time** of a change: from when the change entered the system (the release's creation, or its
 *   `committed-at` label when that is an earlier ISO 8601 time) to its first successful deployment of
 *   kind `promotion` in the environment. For a component: from the earliest such time among the
 *   releases that hold its version, to the first deployment of that version.
 *
 * Everything is counted in the window by the time it ended (a deployment, a change, a restore), with
 * both ends included; what came before the window decides what is failing when it opens.
 * Percentiles are nearest-rank: the p-th percentile of n sorted values is the value at rank
 * ⌈p/100 · n⌉, so the median of an even count is the lower of the two middle values, and every figure
 * is one that was measured.
 */

/** The label that carries when a release's change was committed (ISO 8601), for lead time. */
export const COMMITTED_AT_LABEL = 'committed-at';

export interface DoraWindow {
  from: Date;
  to: Date;
}

export interface DoraInput {
  window: DoraWindow;
  /** The environments to report on, in order. */
  environments: readonly string[];
  /** The components to report on per environment (none: no per-component figures). */
  components: readonly string[];
  /** Every promotion of those environments, whatever their state, in any order. */
  promotions: readonly PromotionRecord[];
  /** The steps of each promotion, by promotion id. */
  steps: ReadonlyMap<string, readonly StepRecord[]>;
  /** Every release the promotions carried (and, for component lead time, every release there is). */
  releases: readonly ReleaseRecord[];
}

export interface DoraFigures {
  deploymentFrequency: { count: number; perDay: number };
  leadTime: { count: number; medianSeconds: number | null; p90Seconds: number | null };
  /** failed / count of changes; null without changes. */
  changeFailureRate: number | null;
  changes: { count: number; failed: number };
  timeToRestore: {
    count: number;
    medianSeconds: number | null;
    p90Seconds: number | null;
    /** The environment (or component) has been failing since then, and is not restored at the window's end. */
    failingSince: string | null;
  };
  /** rework / deployments; null without deployments. */
  reworkRate: number | null;
  rework: { count: number };
}

export interface ComponentDora extends DoraFigures {
  component: string;
}

export interface EnvironmentDora extends DoraFigures {
  environment: string;
  components: ComponentDora[];
}

export interface DoraReport {
  window: { from: string; to: string; days: number };
  percentiles: 'nearest-rank';
  environments: EnvironmentDora[];
}

/** One outcome as a subject (the environment, or one component in it) sees it. */
interface Outcome {
  kind: PromotionRecord['kind'];
  startedAt: number;
  finishedAt: number;
  /** A deployment of the subject. */
  deployed: boolean;
  /** A change of the subject. */
  change: boolean;
  /** It failed for the subject. */
  failed: boolean;
  /** The next outcome in the environment rolled the subject back. */
  rolledBack: boolean;
  /** It would end a failing episode: it succeeded, and (for a component) holds the component. */
  restores: boolean;
  /** What the lead time counts: the release (environment) or the component's version. */
  leadKey: string;
  /** When the change entered the system, in ms (NaN: not known). */
  leadStart: number;
}

const FAILED_STEP: ReadonlySet<StepState> = new Set(['failed', 'rolled-back', 'rollback-failed']);

export function computeDora(input: DoraInput): DoraReport {
  const from = input.window.from.getTime();
  const to = input.window.to.getTime();
  const days = (to - from) / 86_400_000;
  const releases = new Map(input.releases.map((r) => [r.id, r]));
  const versionStart = componentVersionStarts(input.releases);
  // Steps by promotion and component: whether a rollback applied a component again is a lookup.
  const stepOf = new Map<string, Map<string, StepRecord>>();
  for (const [id, steps] of input.steps) stepOf.set(id, new Map(steps.map((s) => [s.component, s])));

  const environments = input.environments.map((environment): EnvironmentDora => {
    const touched = (p: PromotionRecord): boolean =>
      p.failure?.phase === 'verification' || (input.steps.get(p.id) ?? []).some((s) => s.applyStarted);
    // Times parsed once, for the environment's figures and every component's.
    const outcomes = input.promotions
      .filter((p) => p.environment === environment && p.startedAt !== undefined && p.finishedAt !== undefined)
      .filter((p) => p.state === 'succeeded' || (p.state === 'failed' && touched(p)))
      .map((p) => ({ p, start: time(p.startedAt), finish: time(p.finishedAt), steps: stepOf.get(p.id) }))
      .sort((a, b) => a.start - b.start || a.finish - b.finish || a.p.id.localeCompare(b.p.id));

    const envOutcomes = outcomes.map(({ p, start, finish }, i): Outcome => {
      const release = releases.get(p.releaseId);
      return {
        kind: p.kind,
        startedAt: start,
        finishedAt: finish,
        deployed: p.state === 'succeeded',
        change: p.kind === 'promotion',
        failed: p.state === 'failed',
        rolledBack: outcomes[i + 1]?.p.kind === 'rollback',
        restores: p.state === 'succeeded',
        leadKey: p.releaseId,
        leadStart: release ? releaseStart(release) : NaN,
      };
    });

    // One pass over the outcomes and their steps, each step appended to its component's outcomes:
    // a pass per component would walk every promotion's steps once per component.
    const seenBy = new Map<string, Outcome[]>(input.components.map((c) => [c, []]));
    outcomes.forEach(({ p, start, finish }, i) => {
      const next = outcomes[i + 1];
      for (const step of input.steps.get(p.id) ?? []) {
        const seen = seenBy.get(step.component);
        if (seen === undefined) continue;
        const nextStep = next?.p.kind === 'rollback' ? next.steps?.get(step.component) : undefined;
        seen.push({
          kind: p.kind,
          startedAt: start,
          finishedAt: finish,
          deployed: p.state === 'succeeded' && step.state === 'succeeded',
          change: p.kind === 'promotion' && step.applyStarted,
          failed: FAILED_STEP.has(step.state),
          rolledBack: nextStep?.applyStarted === true,
          restores: p.state === 'succeeded',
          leadKey: step.toVersion,
          leadStart: versionStart.get(step.component)?.get(step.toVersion) ?? NaN,
        });
      }
    });
    const components = input.components.map((component): ComponentDora => ({ component, ...figures(seenBy.get(component) ?? [], from, to, days) }));

    return { environment, ...figures(envOutcomes, from, to, days), components };
  });

  return { window: { from: input.window.from.toISOString(), to: input.window.to.toISOString(), days }, percentiles: 'nearest-rank', environments };
}

/** The figures of one subject from its outcomes, in order. */
function figures(outcomes: readonly Outcome[], from: number, to: number, days: number): DoraFigures {
  const inWindow = (t: number): boolean => t >= from && t <= to;
  let deployments = 0;
  let changes = 0;
  let failedChanges = 0;
  let rework = 0;
  const restores: number[] = [];
  const leadTimes: number[] = [];
  const leadSeen = new Set<string>();
  let failingSince: number | undefined;

  for (const o of outcomes) {
    const counted = inWindow(o.finishedAt);
    const bad = o.failed || (o.deployed && o.rolledBack);
    if (counted && o.deployed) deployments++;
    if (counted && o.change) {
      changes++;
      if (bad) failedChanges++;
    }
    // A restore closes the episode first: a deployment that is rolled back later both ends the
    // failure before it and starts its own.
    if (o.restores && failingSince !== undefined) {
      if (counted) {
        restores.push(o.finishedAt - failingSince);
        if (o.deployed) rework++;
      }
      failingSince = undefined;
    }
    if (bad && failingSince === undefined) failingSince = o.finishedAt;
    if (o.deployed && o.kind === 'promotion' && !leadSeen.has(o.leadKey)) {
      leadSeen.add(o.leadKey);
      if (counted && Number.isFinite(o.leadStart)) leadTimes.push(Math.max(0, o.finishedAt - o.leadStart));
    }
  }

  return {
    deploymentFrequency: { count: deployments, perDay: days > 0 ? deployments / days : 0 },
    leadTime: { count: leadTimes.length, medianSeconds: seconds(percentile(leadTimes, 50)), p90Seconds: seconds(percentile(leadTimes, 90)) },
    changeFailureRate: changes > 0 ? failedChanges / changes : null,
    changes: { count: changes, failed: failedChanges },
    timeToRestore: {
      count: restores.length,
      medianSeconds: seconds(percentile(restores, 50)),
      p90Seconds: seconds(percentile(restores, 90)),
      failingSince: failingSince !== undefined && failingSince <= to ? new Date(failingSince).toISOString() : null,
    },
    reworkRate: deployments > 0 ? rework / deployments : null,
    rework: { count: rework },
  };
}

/**
 * The nearest-rank percentile: the value at rank ⌈p/100 · n⌉ (1-based) of the sorted values; undefined
 * for no values.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

function seconds(ms: number | undefined): number | null {
  return ms === undefined ? null : ms / 1000;
}

function time(iso: string | undefined): number {
  return iso === undefined ? NaN : Date.parse(iso);
}

/** When the release's change entered the system: its `committed-at` label when that is a valid, earlier time; else its creation. */
export function releaseStart(release: ReleaseRecord): number {
  const created = time(release.createdAt);
  const label = Object.hasOwn(release.labels, COMMITTED_AT_LABEL) ? release.labels[COMMITTED_AT_LABEL] : undefined;
  const committed = label !== undefined && ISO_TIME.test(label) ? Date.parse(label) : NaN;
  return Number.isFinite(committed) && committed <= created ? committed : created;
}

/** A full ISO 8601 date and time with a zone (`2026-11-02T09:30:00Z`, `…+01:00`): nothing Date.parse guesses at. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** Per component and version: the earliest start among the releases that hold that version. */
function componentVersionStarts(releases: readonly ReleaseRecord[]): Map<string, Map<string, number>> {
  const starts = new Map<string, Map<string, number>>();
  for (const release of releases) {
    const start = releaseStart(release);
    for (const [component, version] of Object.entries(release.versions)) {
      const byVersion = starts.get(component) ?? new Map<string, number>();
      starts.set(component, byVersion);
      const known = byVersion.get(version);
      if (known === undefined || start < known) byVersion.set(version, start);
    }
  }
  return starts;
}
