import type { AuditCheck } from '../engine/audit-verify.js';
import type { DiffRequest, DiffResult } from '../engine/diff.js';
import type { DoraMetrics, DoraQuery } from '../engine/dora.js';
import type { RunObserver } from '../engine/deps.js';
import type { FollowEnd } from '../engine/follow.js';
import type { CreateReleaseInput } from '../engine/promote.js';
import type { PromotionRunner } from '../engine/runner.js';
import type { EnvironmentStatus } from '../engine/status.js';
import type { DriftReport } from '../core/drift.js';
import type { TickResult } from '../engine/tick.js';
import type { CreatedToken, NewToken } from '../engine/tokens.js';
import type { PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import type { DeliveryFilter, EvidenceRecord, StepLogLine } from '../store/store.js';
import type { DeliveryView, SentNotifications } from '../engine/notifications.js';
import type { TokenView } from '../core/tokens.js';
import type { WhoAmI } from '../core/whoami.js';

/**
 * What a promotion-running command (promote, approve, resume, rollback) hears while the backend
 * works, so that it prints the same lines whichever backend runs the promotion.
 */
export interface RunHooks {
  /** The plan is recorded (and, when it runs, about to run): print it. */
  onCreated: (promotion: PromotionRecord, planned?: { plan: PromotionPlan; release: ReleaseRecord }) => void;
  /** This process runs it: the runner can be cancelled (Ctrl-C). */
  onRunner: (runner: PromotionRunner) => void;
  /** Another process (a server, another terminal) runs it: show its steps as this one's. */
  onWatch: (promotion: PromotionRecord) => void;
}

/** What `promote --wait` hears besides RunHooks while the promotion waits on its gates. */
export interface WaitHooks extends RunHooks {
  /** What the pending promotion waits for changed (the first time: it waits). */
  onWaiting: (promotion: PromotionRecord) => void;
  /** Another process runs it now (the approval that completed its gates): say whose, then show its steps. */
  onFollow: (promotion: PromotionRecord) => void;
}

export interface WindowOverride {
  reason: string;
}

export interface PromoteRequest {
  /** Absent with `reapply`: the release the environment runs now. */
  release?: string;
  to: string;
  /** Components to apply again at the same version, to correct drift (`promote --reapply`). */
  reapply?: string[];
  concurrency: number;
  overrideWindow?: WindowOverride;
}

export interface DecisionRequest {
  promotion: string;
  comment?: string;
  reject?: boolean;
}

export interface ResumeRequest {
  /** One promotion; none: every unfinished one. */
  promotion?: string;
  retryStep: string[];
  markDone: string[];
  stopRunning?: boolean;
  overrideWindow?: WindowOverride;
}

export interface RollbackRequest {
  environment: string;
  concurrency: number;
  overrideWindow?: WindowOverride;
}

/** What `tick` did: ran here, or nothing, because a server does it continuously (`note` says so). */
export type TickOutcome = { kind: 'ran'; result: TickResult } | { kind: 'server'; note: string };

/**
 * What the CLI's commands need from Lockstep, whether it runs in this process (LocalBackend: the
 * engine over the project's files) or in a team server (HttpBackend: the HTTP API). A command
 * prints what the backend returns and never asks which one it has. Both throw the same error
 * classes for the same failures (InputError, NotFoundError, NotAllowedError, ConflictError,
 * GateBlocked), so the one top-level catch gives the same message and exit code.
 */
export interface Backend {
  createRelease(input: CreateReleaseInput): Promise<{ release: ReleaseRecord; created: boolean }>;
  listReleases(limit: number): Promise<ReleaseRecord[]>;
  /** A release and its promotions, newest first. */
  release(ref: string): Promise<{ release: ReleaseRecord; promotions: PromotionRecord[] }>;
  /** Marks a release known-bad; its pending promotions end rejected. */
  rejectRelease(ref: string, reason: string): Promise<{ release: ReleaseRecord; rejectedPromotions: PromotionRecord[] }>;
  /** What promoting the release would do, with the gates as they would stand now. Records nothing. */
  plan(ref: string, to: string): Promise<{ release: ReleaseRecord; plan: PromotionPlan }>;
  status(environment?: string): Promise<EnvironmentStatus[]>;
  /** Checks drift now (every environment, or one; every component, or one) and records what it finds. */
  drift(query: { environment?: string; component?: string }): Promise<DriftReport[]>;
  promotions(query: { environment?: string; limit: number }): Promise<PromotionRecord[]>;
  /** What differs between two environments, or two releases (`diff`). */
  diff(request: DiffRequest): Promise<DiffResult>;
  /** DORA metrics over a window ending now (`metrics`). */
  metrics(query: DoraQuery): Promise<DoraMetrics>;
  promotion(ref: string): Promise<{ promotion: PromotionRecord; steps: StepRecord[] }>;
  /** Steps across promotions, newest first (`history --component`). */
  stepHistory(query: { environment?: string; component?: string; limit: number }): Promise<StepRecord[]>;
  logs(ref: string, component?: string): Promise<StepLogLine[]>;
  verifyAudit(head?: string): Promise<AuditCheck>;
  /** The notification outbox, newest first (`notify log`). */
  deliveries(filter: DeliveryFilter): Promise<DeliveryView[]>;
  /**
   * `notify send`: queues and sends what is due now, retries included, within `budgetMs`. Only on
   * the project's own files: a server sends by itself, so through one it is refused (exit 2).
   */
  sendNotifications(budgetMs: number): Promise<SentNotifications>;
  /** `notify test NAME`: a test event to one target, and how it went. Locally only, as sendNotifications. */
  testNotification(target: string): Promise<DeliveryView>;
  /** The audit log as JSON lines, a chunk at a time. */
  exportAudit(): AsyncIterable<string | Uint8Array>;
  /** A finished promotion's evidence (NotFoundError before it is written). */
  evidence(ref: string): Promise<EvidenceRecord>;
  /** Promotes and follows the run to its end (or returns it pending or rejected by its gates). */
  promote(request: PromoteRequest, hooks: RunHooks): Promise<PromotionRecord>;
  /**
   * `promote --wait`: waits while the promotion is pending, then follows its run to its end,
   * wherever it runs. `stopped` when the signal aborted (the promotion goes on, or stays pending).
   */
  waitToEnd(promotion: PromotionRecord, hooks: WaitHooks, signal: AbortSignal): Promise<{ promotion: PromotionRecord; end: FollowEnd }>;
  /** Approves or rejects a pending promotion; an approval that completes the gates is followed to its end. */
  decide(request: DecisionRequest, hooks: RunHooks): Promise<PromotionRecord>;
  /**
   * Cancels a pending promotion (returned `cancelled`), or asks whoever runs a running one to cancel it
   * (returned as it stands, still running: see engine/cancel.ts). Does not wait for the end.
   */
  cancel(promotion: string, reason: string): Promise<PromotionRecord>;
  /** Continues one promotion, or every unfinished one, following each run to its end. */
  resume(request: ResumeRequest, hooks: RunHooks): Promise<PromotionRecord[]>;
  /** Promotes the release that ran before the current one, and follows the run. */
  rollback(request: RollbackRequest, hooks: RunHooks): Promise<PromotionRecord>;
  /** One round of background work, here; a server does it continuously, so through one it is nothing. */
  tick(hooks: RunHooks): Promise<TickOutcome>;
  createToken(input: NewToken): Promise<CreatedToken>;
  listTokens(): Promise<TokenView[]>;
  revokeToken(name: string): Promise<TokenView>;
  /** Who the caller is, how that is known, and the roles it holds per project. */
  whoami(): Promise<WhoAmI>;
  close(): Promise<void>;
}

/** What opening a backend needs from the command line. */
export interface BackendOptions {
  /** `release create`, `resume`: how refusals name the command. */
  command: string;
  observer?: RunObserver;
}
