/**
 * The data Lockstep works with: the config a user writes (after parsing), and the records the store
 * keeps (releases, promotions, steps, component state). Plain values only, so they serialise as JSON.
 */

import type { AccessConfig } from './access.js';
import type { NotifyTargetConfig } from './notify/notify-events.js';
import type { OidcConfig } from './oidc.js';

// ---------------------------------------------------------------- config

/** The value types an output (or an env var, or a reference) can have. */
export const VALUE_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'any'] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

/** A declared output of a component: its type and optional constraints, checked before any dependent sees it. */
export interface OutputDeclaration {
  type: ValueType;
  /** For strings: a regular expression the value must match. */
  pattern?: string;
  /** Allowed values. */
  enum?: unknown[];
  /** For arrays: the element type. */
  items?: ValueType;
  /** A sensitive output is a secret: redacted everywhere, never stored in clear, passed on only to inputs. */
  sensitive: boolean;
  description?: string;
}

export const ON_FAILURE = ['rollback', 'halt'] as const;
export type OnFailure = (typeof ON_FAILURE)[number];

export interface EnvironmentConfig {
  name: string;
  /** Environments a release must have succeeded in before it may enter this one. */
  after: string[];
  /** Binds this environment to each system's own notion of it. Values may hold `${{ }}` (env.name, secrets). */
  vars: Record<string, unknown>;
  onFailure: OnFailure;
  /** What must hold before a promotion into this environment runs, and the checks after it. */
  gates?: GatesConfig;
  description?: string;
  /** `drift: { every: 15m }`: the team server checks this environment for drift on that schedule. */
  drift?: { every: string };
}

/** `gates.approvals`: N-of-M approvals, bound to the plan digest. */
export interface ApprovalGateConfig {
  count: number;
  /** People (`alice@example.com`) and groups (`group:sre`) who may approve. */
  from: string[];
  /** The requester and the release's author cannot approve. */
  separationOfDuties: boolean;
  /** How long an approval counts (a duration, e.g. `24h`); absent: until the promotion runs. */
  expires?: string;
}

/** One change window as written: `allow` or `deny`, a weekly or absolute expression, in a time zone. */
export interface WindowConfig {
  allow?: string;
  deny?: string;
  timezone?: string;
  reason?: string;
}

export interface PolicyConfig {
  /** A CEL expression of type bool over release, plan, env, approvals and now. */
  expr: string;
  message?: string;
}

/** A check run on the environment after a promotion; a failure fails the promotion. */
export interface VerifyConfig {
  http?: { url: string; method: string; headers: Record<string, string>; body?: string; expect?: string; timeout: string };
  command?: { run: string[] };
  interval: string;
  count: number;
  failureLimit: number;
  initialDelay: string;
}

export interface GatesConfig {
  approvals?: ApprovalGateConfig;
  /** Every `after` environment ran this release, verified healthy, at least this long (a duration). */
  soak?: string;
  windows: WindowConfig[];
  policy: PolicyConfig[];
  verify: VerifyConfig[];
  /** Promote automatically (`lockstep tick`) once the release succeeded upstream and every gate passes. */
  auto: boolean;
  /** People and groups allowed to promote outside the change windows (`--override-window --reason`). */
  overrideBy: string[];
}

export interface ComponentConfig {
  name: string;
  type: string;
  /** Explicit dependencies; references to other components' outputs add implicit ones (see `dependencies`). */
  dependsOn: string[];
  /** The adapter's spec, as written (templates unresolved). */
  with: Record<string, unknown>;
  outputs: Record<string, OutputDeclaration>;
  description?: string;
}

export interface ProjectConfig {
  project: string;
  environments: Record<string, EnvironmentConfig>;
  components: Record<string, ComponentConfig>;
  groups: Record<string, string[]>;
  /** `access:`: roles for the team server. Absent: tokens hold the role they name (see core/access.ts). */
  access?: AccessConfig;
  /** `server:`: settings of the team server (its public URL, sign-in). */
  server?: ServerConfig;
  /** `notify:`: webhook targets (docs/notifications.md); absent or empty: none. */
  notify?: NotifyTargetConfig[];
}

/** `server:` of lockstep.yaml: how people and other tools reach this project's server. */
export interface ServerConfig {
  /** The server's public URL: links in notifications point there, and sign-in's redirect URI. */
  url?: string;
  /** Sign-in with an OpenID provider (core/oidc.ts), the same in every project a server serves. */
  oidc?: OidcConfig;
}

// ---------------------------------------------------------------- records

/** An immutable release: one version per component. Its id is sha256(canonicalJson(releaseContent(r))). */
export interface ReleaseRecord {
  id: string;
  project: string;
  versions: Record<string, string>;
  message?: string;
  labels: Record<string, string>;
  createdAt: string;
  createdBy: string;
  /** Environment the missing versions were taken from, if any. */
  from?: string;
  /** Set by `lockstep release reject`: a known-bad release is promoted nowhere again. */
  rejected?: ReleaseRejection;
}

export interface ReleaseRejection {
  by: string;
  reason: string;
  at: string;
}

/** A person's decision on a pending promotion, bound to the plan they saw. */
export interface ApprovalRecord {
  promotionId: string;
  actor: string;
  decision: 'approve' | 'reject';
  comment?: string;
  /** The plan digest approved; a changed plan makes the approval count no more. */
  planDigest: string;
  at: string;
  /** When the approval stops counting (from `approvals.expires`). */
  expiresAt?: string;
  /**
   * The groups the identity provider said the approver was in when they decided (OIDC sign-in):
   * `from: [group:sre]` counts them as it counts `groups:`. Absent for any other identity.
   */
  groups?: string[];
}

export const PROMOTION_STATES = [
  'pending', // waiting on gates
  'running',
  'rolling-back',
  'interrupted', // a step was in flight when the process died and cannot be safely re-applied: a person decides
  'succeeded',
  'failed',
  'rejected',
  'cancelled',
] as const;
export type PromotionState = (typeof PROMOTION_STATES)[number];
export const FINAL_PROMOTION_STATES: readonly PromotionState[] = ['succeeded', 'failed', 'rejected', 'cancelled'];

export const PROMOTION_KINDS = ['promotion', 'rollback'] as const;
export type PromotionKind = (typeof PROMOTION_KINDS)[number];

/** Who runs a promotion now. A claim is valid until `leaseUntil`, or until its process is known dead. */
export interface PromotionOwner {
  token: string;
  host: string;
  pid: number;
  leaseUntil: string;
  /** When the claim was made or last renewed (absent in records of older versions): how long a dead owner's promotion waited. */
  renewedAt?: string;
}

export interface PromotionRecord {
  id: string;
  project: string;
  releaseId: string;
  environment: string;
  kind: PromotionKind;
  state: PromotionState;
  requestedBy: string;
  requestedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Digest of the config the promotion was planned from. */
  configDigest: string;
  /** The plan as shown to the user (secrets redacted). */
  plan: PromotionPlan;
  concurrency: number;
  onFailure: OnFailure;
  /** Why the promotion ended, stopped or is waiting, in one sentence. */
  reason?: string;
  /**
   * What failed first (a step, or the environment's verification), recorded when it happens: later
   * failures (a refused rollback) must not take its place in the reason.
   */
  failure?: PromotionFailure;
  owner?: PromotionOwner;
  /** For a rollback promotion: the promotion whose release it brings back. */
  rollbackOf?: string;
  /**
   * Components applied again at the version they run, to correct drift (`promote --reapply`): the
   * plan applies them even though nothing changed in the release or the configuration.
   */
  reapply?: string[];
  /** Set while interrupted: the phase to continue in once a person has decided. */
  interruptedIn?: 'running' | 'rolling-back';
  /** An emergency promotion outside the change windows, by someone in `overrideBy`. */
  windowOverride?: { by: string; reason: string; at: string };
  /** The post-promotion checks (`gates.verify`) and their outcome. */
  verification?: VerificationRecord;
  /** When the environment was last known healthy with this release: verification passed (or, without checks, the run succeeded). Soak counts from here. */
  verifiedAt?: string;
  /** Keys of gate events already in the audit log (an approval expired or invalidated), so each is recorded once. */
  gateEvents?: string[];
  /**
   * Set when the promotion stopped halfway for a new approval: values its remaining steps consume
   * came out different from the plan that was approved. The steps already applied stay applied; the
   * promotion is pending again, keeps the environment's lock, and runs on (or, rejected, applies
   * `onFailure`) once the new plan is decided.
   */
  replanned?: { at: string; changes: InputChange[] };
}

/** A value a step was about to consume that differs from what its approved plan showed. */
export interface InputChange {
  consumer: string;
  producer: string;
  output: string;
  /** Absent for sensitive values: they are shown as changed only. */
  approved?: unknown;
  now?: unknown;
  sensitive?: boolean;
}

export interface PromotionFailure {
  /** Absent when the environment's verification failed, or a new approval was refused. */
  component?: string;
  /**
   * `approval`: it ran in part, stopped for a new approval of a changed plan, and that was refused.
   * `cancel`: it was cancelled while no step ran (a cancel during a step fails that step instead).
   */
  phase: StepPhase | 'verification' | 'approval' | 'cancel';
  error: string;
  at: string;
}

export interface VerificationRecord {
  state: 'running' | 'passed' | 'failed' | 'cancelled';
  startedAt: string;
  finishedAt?: string;
  message?: string;
  checks: { name: string; state: string; failures: number; measurements: number; message: string }[];
}

export const STEP_STATES = [
  'pending',
  'running',
  'succeeded',
  'unchanged',
  'failed',
  'skipped', // never started because the promotion failed first
  'rolling-back',
  'rolled-back',
  'rollback-failed',
  'interrupted',
] as const;
export type StepState = (typeof STEP_STATES)[number];

export const STEP_PHASES = ['plan', 'apply', 'verify', 'rollback'] as const;
export type StepPhase = (typeof STEP_PHASES)[number];

export interface StepRecord {
  promotionId: string;
  component: string;
  environment: string;
  state: StepState;
  /** The phase the step is in (running) or stopped in (failed, interrupted). */
  phase?: StepPhase;
  action: StepAction;
  fromVersion?: string;
  toVersion: string;
  reversible: boolean;
  /** True once apply has started: the system may have changed. */
  applyStarted: boolean;
  /** Outputs after apply, validated; sensitive ones redacted. */
  outputs?: Record<string, unknown>;
  /** Names of the sensitive outputs (declared so, or marked by the system); never their values. */
  sensitiveOutputs?: string[];
  /** Why the step's own plan, apply or verify failed; a failed rollback does not overwrite it. */
  error?: string;
  /** Why its rollback failed (state rollback-failed). */
  rollbackError?: string;
  startedAt?: string;
  finishedAt?: string;
  attempts: number;
  lastLog?: string;
  idempotencyKey: string;
  /** What ran before this step changed anything; a rollback restores it. Absent on a first install. */
  previous?: PreviousState;
}

export interface PreviousState {
  version: string;
  releaseId: string;
  configDigest: string;
  outputs: Record<string, unknown>;
  sensitiveOutputs?: string[];
  inputs?: Record<string, string>;
}

/** What runs in an environment, per component, as far as Lockstep knows. */
export interface ComponentState {
  environment: string;
  component: string;
  version: string;
  releaseId: string;
  promotionId: string;
  /** Digest of the component's configuration when it was applied; a change re-applies it. */
  configDigest: string;
  /** Recorded outputs (sensitive ones redacted); flow to dependents when the component is unchanged. */
  outputs: Record<string, unknown>;
  /**
   * Names of the sensitive outputs (declared so, or marked by the system that produced them). Their
   * values are never stored: a dependent that needs one has it read back from the system.
   */
  sensitiveOutputs?: string[];
  /**
   * What the component was applied with of other components' outputs: `producer.outputs.name` → a
   * fingerprint of the value (inputFingerprint). A later promotion that would hand it another value
   * applies it again, even at the same version and configuration. Absent in records made before
   * Lockstep kept them.
   */
  inputs?: Record<string, string>;
  updatedAt: string;
}

// ---------------------------------------------------------------- plans

export const STEP_ACTIONS = ['apply', 'unchanged'] as const;
export type StepAction = (typeof STEP_ACTIONS)[number];

export const RISKS = ['low', 'medium', 'high'] as const;
export type Risk = (typeof RISKS)[number];

/** One component's part of a promotion plan. */
export interface PlannedStep {
  component: string;
  type: string;
  fromVersion?: string;
  toVersion: string;
  action: StepAction;
  /** Why apply or unchanged ("version 1.4.1 → 1.4.2", "configuration changed", "already at 1.4.2"). */
  reason: string;
  reversible: boolean;
  /** What the adapter says it will do (redacted). */
  summary: string;
  details?: string;
  risk: Risk;
  dependsOn: string[];
  /** DAG level: 0 for components without dependencies. */
  level: number;
  configDigest: string;
  /**
   * The outputs of other components this step consumes, as its plan was made: each value known then
   * (or its fingerprint, for a sensitive one), or marked unknown. Before the step applies, the values
   * it is about to use are checked against these: a value that came out different stops it before it
   * applies (the approval covered the value shown).
   */
  inputs?: PlannedInput[];
  /** Why a rollback would be refused although the component is reversible in general (then `reversible` is false). */
  notReversible?: string;
  /** The adapter's own plan data (see AdapterPlan.data): what apply applies when the step first runs. */
  data?: unknown;
}

/** One output of another component that a step consumes, as it stood when the step was planned. */
export interface PlannedInput {
  producer: string;
  output: string;
  /** `known`: the value (or, for a sensitive one, its fingerprint) was known when planning. */
  state: 'known' | 'unknown';
  /** The value, when known and not sensitive. */
  value?: unknown;
  /** The value is sensitive: only its fingerprint is kept, and a change is shown as "changed" only. */
  sensitive?: boolean;
  /** inputFingerprint of a known sensitive value. */
  fingerprint?: string;
}

/** A value that goes into a dependent's plan but is known only after its producer applies. */
export interface PlanUnknown {
  /** The component whose `with` receives the value. */
  consumer: string;
  /** Where in the consumer's config it goes: `with.values.roleArn`. */
  field: string;
  producer: string;
  /** The output's name, or `*` for a reference to all of them. */
  output: string;
}

export const GATE_STATUSES = ['passed', 'waiting', 'blocked'] as const;
export type GateStatus = (typeof GATE_STATUSES)[number];

/**
 * One gate's state. `waiting`: a person (approvals) or time (soak, a window) can still satisfy it;
 * `blocked`: nothing can (a policy is false, the release was rejected).
 */
export interface PlannedGate {
  gate: string;
  status: GateStatus;
  message: string;
  /** Waiting on time: the earliest instant it may pass. */
  until?: string;
  /** Waiting on people: who may act. */
  who?: string[];
}

export interface PromotionPlan {
  releaseId: string;
  environment: string;
  steps: PlannedStep[];
  /** Components grouped by DAG level, in order. */
  levels: string[][];
  gates: PlannedGate[];
  irreversible: boolean;
  /** Values that go into dependents' plans but are known only after their producers apply (absent: none). */
  unknowns?: PlanUnknown[];
  /** sha256 of the plan's canonical JSON (without this field); approvals bind to it. */
  digest: string;
}
