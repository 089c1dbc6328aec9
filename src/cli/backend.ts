import type { AuditCheck } from '../engine/audit-verify.js';
import type { EngineDeps, RunObserver } from '../engine/deps.js';
import type { CreateReleaseInput } from '../engine/promote.js';
import type { PromotionRunner } from '../engine/runner.js';
import type { EnvironmentStatus } from '../engine/status.js';
import type { PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import type { DeliveryFilter, StepLogLine } from '../store/store.js';
import type { DeliveryView } from '../engine/notifications.js';

/**
 * What a promotion-running command (promote, approve) hears while the backend works, so that it
 * prints the same lines whichever backend runs the promotion.
 */
export interface RunHooks {
  /** The plan is recorded (and, when it runs, about to run): print it. */
  onCreated: (promotion: PromotionRecord, planned?: { plan: PromotionPlan; release: ReleaseRecord }) => void;
  /** This process runs it: the runner can be cancelled (Ctrl-C). */
  onRunner: (runner: PromotionRunner) => void;
  /** Another process (a server, another terminal) runs it: show its steps as this one's. */
  onWatch: (promotion: PromotionRecord) => void;
}

export interface PromoteRequest {
  release: string;
  to: string;
  concurrency: number;
}

export interface DecisionRequest {
  promotion: string;
  comment?: string;
  reject?: boolean;
}

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
  /** What promoting the release would do, with the gates as they would stand now. Records nothing. */
  plan(ref: string, to: string): Promise<{ release: ReleaseRecord; plan: PromotionPlan }>;
  status(environment?: string): Promise<EnvironmentStatus[]>;
  promotions(query: { environment?: string; limit: number }): Promise<PromotionRecord[]>;
  promotion(ref: string): Promise<{ promotion: PromotionRecord; steps: StepRecord[] }>;
  logs(ref: string, component?: string): Promise<StepLogLine[]>;
  verifyAudit(head?: string): Promise<AuditCheck>;
  /** The notification outbox, newest first (`notify log`). */
  deliveries(filter: DeliveryFilter): Promise<DeliveryView[]>;
  /** Promotes and follows the run to its end (or returns it pending or rejected by its gates). */
  promote(request: PromoteRequest, hooks: RunHooks): Promise<PromotionRecord>;
  /** Approves or rejects a pending promotion; an approval that completes the gates is followed to its end. */
  decide(request: DecisionRequest, hooks: RunHooks): Promise<PromotionRecord>;
  /**
   * Cancels a pending promotion (returned `cancelled`), or asks whoever runs a running one to cancel it
   * (returned as it stands, still running: see engine/cancel.ts). Does not wait for the end.
   */
  cancel(promotion: string, reason: string): Promise<PromotionRecord>;
  /**
   * The engine itself, for the commands the API has no route for yet. A backend that cannot give
   * it refuses with an InputError naming the command (exit 2): such a command never runs locally
   * by accident. `feature` names an option that needs it (`--wait`).
   */
  engine(feature?: string): Promise<EngineDeps>;
  close(): Promise<void>;
}

/** What opening a backend needs from the command line. */
export interface BackendOptions {
  /** `release create`, `resume`: how refusals name the command. */
  command: string;
  observer?: RunObserver;
}
