import type { DriftState } from '../core/drift.js';
import type { AuditEntry, AuditEventInput } from '../core/audit.js';
import type { CancelRequest } from '../core/cancel-request.js';
import type { DsseEnvelope } from '../core/dsse.js';
import type {
  ApprovalRecord,
  ComponentState,
  ReleaseRejection,
  PromotionOwner,
  PromotionRecord,
  PromotionState,
  ReleaseRecord,
  StepRecord,
} from '../core/model.js';
import type { TokenRecord } from '../core/tokens.js';
import type { RowCounts, RowPage } from './state-rows.js';

/**
 * The Store port. Implementations: SQLite (embedded default, src/store/sqlite), PostgreSQL
 * (src/store/postgres; `--state postgres://…`, see src/project/state-target.ts).
 * One contract suite (test/store/store-contract.ts) runs against every implementation.
 *
 * Writes go through `commit`: one atomic transaction that changes state *and* appends the audit
 * events describing the change, so the audit log and the state never disagree. A commit is durable
 * when the promise resolves: the engine never starts the next action before that.
 */
export interface Store {
  /**
   * Creates the tables, or upgrades them to the newest schema version, in one transaction under a
   * lock (several processes may call it at once: one migrates, the others then find nothing to do).
   * Idempotent. A StateError, changing nothing, when the store is newer than this code.
   */
  migrate(): Promise<SchemaMigration>;
  /** The store's schema version (0: nothing was ever written) and the newest this code reads. Reads only; callable before `migrate`. */
  schemaVersion(): Promise<SchemaVersion>;
  close(): Promise<void>;

  // ------------------------------------------------ moving a whole state (lockstep state copy)

  /** How many rows each table of records holds (src/store/state-rows.ts). */
  countRows(): Promise<RowCounts>;
  /**
   * Every row of every table, verbatim, in pages of at most `pageSize`: tables in STATE_TABLES
   * order, each in its key's order. One consistent snapshot: what is committed while the pages are
   * read is not in them. Stop iterating early and the snapshot is let go.
   */
  exportRows(pageSize: number): AsyncIterable<RowPage>;
  /**
   * Writes the pages of another store's `exportRows` as they are (row ids, audit sequence numbers
   * and hashes kept: nothing is re-hashed), in one transaction: every row or none. ConflictError,
   * writing nothing, when this store holds any row already; a throw from `pages` (or a row the schema
   * refuses) rolls everything back. Returns the rows written per table.
   */
  importRows(pages: AsyncIterable<RowPage>): Promise<RowCounts>;

  /** The one write path. Throws ConflictError when `createPromotion` finds its environment busy. */
  commit(change: StoreChange): Promise<AuditEntry[]>;

  /**
   * Compare-and-set of a promotion's owner: succeeds (true) only when the current owner's token is
   * `expectedToken` (undefined: no owner). Used to take over a promotion whose process died.
   */
  claimPromotion(promotionId: string, owner: PromotionOwner | undefined, expectedToken: string | undefined): Promise<boolean>;

  /** Exact id or a unique prefix of at least 7 characters, with its rejection if any. NotFoundError; InputError when ambiguous or too short. */
  getRelease(idOrPrefix: string): Promise<ReleaseRecord>;
  /** Newest first. */
  listReleases(options?: { limit?: number }): Promise<ReleaseRecord[]>;

  /** Exact id or a unique prefix (≥ 7 characters). */
  getPromotion(idOrPrefix: string): Promise<PromotionRecord>;
  /** Newest first (by requestedAt, then id). */
  listPromotions(filter?: PromotionFilter): Promise<PromotionRecord[]>;
  /** The promotion holding the environment's lock, if any. */
  activePromotion(environment: string): Promise<PromotionRecord | undefined>;

  /**
   * The request that the promotion be cancelled (StoreChange.cancelRequest), if one was recorded: the
   * first one. Read by the process running it at every lease renewal. Exact id only.
   */
  getCancelRequest(promotionId: string): Promise<CancelRequest | undefined>;

  /** A promotion's approvals and rejections, oldest first. */
  listApprovals(promotionId: string): Promise<ApprovalRecord[]>;

  /** In the promotion's plan order (as written). */
  listSteps(promotionId: string): Promise<StepRecord[]>;
  /** Steps across promotions, newest promotion first. */
  listStepHistory(filter?: { environment?: string; component?: string; limit?: number }): Promise<StepRecord[]>;

  /** What runs in an environment, per component. */
  environmentState(environment: string): Promise<ComponentState[]>;
  /** The last drift check of each component of an environment (see StoreChange.driftStates), by component. */
  driftStates(environment: string): Promise<DriftState[]>;
  /**
   * Claims the scheduled drift check of an environment: true, and `now` recorded as its last check,
   * only when the last one was at or before `dueAfter` (or there was none). Atomic, so that among
   * several processes checking on a schedule one check runs per due time.
   */
  claimDriftCheck(environment: string, dueAfter: string, now: string): Promise<boolean>;

  /** A promotion's step log lines, oldest first; of one component, or of all. */
  stepLogs(promotionId: string, component?: string): Promise<StepLogLine[]>;

  /**
   * Step log lines of every promotion after `afterId` (exclusive; 0 for the first), in id order, in
   * pages of at most `limit`: what the event stream reads, with each line's place among the audit
   * entries (StoredLogLine.afterSeq).
   */
  logsAfter(afterId: number, limit: number): Promise<StoredLogLine[]>;
  /** The id of the last step log line (0 when there is none): with auditHead, where the event stream stands now. */
  logHead(): Promise<number>;

  /**
   * Audit entries in sequence order, from `afterSeq` (exclusive), in pages of at most `limit`.
   * `null` starts at the very first row, whatever its sequence number: a verifier must see a row
   * forged at sequence 0 or below too.
   */
  auditPage(afterSeq: number | null, limit: number): Promise<AuditEntry[]>;
  /** The last entry's sequence number and hash, if any. */
  auditHead(): Promise<{ seq: number; hash: string } | undefined>;
  /** One promotion's audit entries (exact id), in sequence order. */
  promotionAudit(promotionId: string): Promise<AuditEntry[]>;
  /** The newest entry of that kind, if any (the last `audit.checkpoint`). */
  lastAuditOfKind(kind: AuditEntry['kind']): Promise<AuditEntry | undefined>;

  // ------------------------------------------------ evidence (docs/evidence.md)

  /** A promotion's evidence (exact id), once written. */
  getEvidence(promotionId: string): Promise<EvidenceRecord | undefined>;
  /**
   * Promotions in a final state without evidence yet, oldest first, at most `limit`: those a crash
   * ended between their last commit and their evidence's. Ids only.
   */
  unsealedPromotions(limit: number): Promise<string[]>;

  /** Every API token, revoked and expired ones too, oldest first. Records hold hashes, never tokens. */
  listTokens(): Promise<TokenRecord[]>;
  /**
   * The token whose hash is `hash` (SHA-256 hex of its text), revoked or expired ones too: the caller
   * decides, and confirms the match in constant time (core/tokens.ts `sameTokenHash`).
   */
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;

  // ------------------------------------------------ the notification outbox (docs/notifications.md)
  // Bookkeeping of what is sent where, derived from the audit log: not state changes of their own,
  // so these writes add no audit entries (an entry per delivery would make deliveries of itself).

  /** How far `target` has read the audit log (its last sequence number read); undefined before its first read. */
  notifyCursor(target: string): Promise<number | undefined>;
  /**
   * Queues `deliveries` for `target` and moves its cursor from `after` to `upTo`, atomically: a
   * crash queues all of them with the cursor moved, or none. Compare-and-set: false (and nothing
   * written) when the cursor is not at `after` any more (another process queued them); `after`
   * undefined creates the cursor, false when it exists.
   */
  queueDeliveries(batch: DeliveryBatch): Promise<boolean>;
  /** The target's oldest delivery still pending (its head of line), claimed or not, due or not. */
  nextDelivery(target: string): Promise<DeliveryRecord | undefined>;
  /**
   * Claims a pending delivery for one attempt until `until`: false when it is not pending, or
   * another claim has not run out at `now`. The claim keeps two processes from sending it at once.
   */
  claimDelivery(id: number, claim: { token: string; until: string; now: string }): Promise<boolean>;
  /**
   * Records an attempt made under the claim `token` and what follows: delivered, failed for good, or
   * pending again from `nextAttemptAt`. Releases the claim. False (nothing written) when the claim
   * is not this one any more.
   */
  finishAttempt(id: number, token: string, outcome: AttemptOutcome): Promise<boolean>;
  /** Deliveries, newest first. */
  listDeliveries(filter?: DeliveryFilter): Promise<DeliveryRecord[]>;
  /** How many deliveries each target has in each status (for metrics). */
  deliveryCounts(): Promise<DeliveryCount[]>;

  /**
   * Optional capability (PostgreSQL): tells `listener` after a commit by any process on the same
   * state, so several servers wake each other instead of polling. Called at most once per committed
   * change (possibly fewer: notices may be merged), never for one rolled back. When the store lost
   * its connection for notices and has it again, it calls every listener once with every flag set:
   * changes may have been missed meanwhile. Listeners must not throw. Returns the unsubscribe.
   * Stores without it (SQLite) leave their readers to poll.
   */
  onChange?(listener: (notice: ChangeNotice) => void): () => void;
}

/** What a commit changed, as far as those woken by it care (Store.onChange). */
export interface ChangeNotice {
  /** Work may have appeared: a promotion created or changed (approved, handed back, finished), a delivery queued. */
  work: boolean;
  /** Audit entries were appended. */
  audit: boolean;
  /** Step log lines were appended. */
  logs: boolean;
}

/** What `migrate` did. */
export interface SchemaMigration {
  /** The schema version before and after (0: the store was empty). */
  from: number;
  to: number;
  /** The migrations this call applied, in order (none when the store was up to date). */
  applied: { version: number; name: string }[];
}

export interface SchemaVersion {
  /** The store's (0: none yet). */
  current: number;
  /** The newest this Lockstep knows. */
  newest: number;
}

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A delivery as queued: the body is made once, so every attempt sends the same bytes. */
export interface NewDelivery {
  /** Sent as X-Lockstep-Delivery; the same on every attempt, so a receiver can drop duplicates. */
  deliveryId: string;
  target: string;
  /** The notify event (`promotion.finished`), or `notify.test`. */
  event: string;
  /** For cdevents: the CloudEvent's type. */
  cloudEventType?: string;
  /** The audit entry it comes from. */
  auditSeq?: number;
  createdAt: string;
  contentType: string;
  /** Never holds a secret: made from audit entries and records, which hold none. */
  body: string;
}

/** One try: the HTTP status when there was an answer, else why not (secrets already redacted). */
export interface DeliveryAttempt {
  at: string;
  httpStatus?: number;
  error?: string;
  durationMs: number;
}

export interface DeliveryRecord extends NewDelivery {
  /** Assigned by the store, increasing: the order of a target's deliveries. */
  id: number;
  status: DeliveryStatus;
  attempts: number;
  /** When it may be tried (again). */
  nextAttemptAt: string;
  deliveredAt?: string;
  /** The last attempts, newest last (at most MAX_ATTEMPT_HISTORY). */
  history: DeliveryAttempt[];
}

/** How many attempts a delivery record keeps. */
export const MAX_ATTEMPT_HISTORY = 10;

export interface DeliveryBatch {
  target: string;
  after: number | undefined;
  upTo: number;
  deliveries: NewDelivery[];
}

export type AttemptOutcome =
  | { attempt: DeliveryAttempt; status: 'delivered' | 'failed' }
  | { attempt: DeliveryAttempt; status: 'pending'; nextAttemptAt: string };

export interface DeliveryFilter {
  target?: string;
  status?: DeliveryStatus;
  limit?: number;
}

export interface DeliveryCount {
  target: string;
  status: DeliveryStatus;
  count: number;
}

export interface PromotionFilter {
  environment?: string;
  releaseId?: string;
  states?: readonly PromotionState[];
  limit?: number;
}

/** One atomic write. Every field is optional but `audit`; the parts are applied in the order listed. */
export interface StoreChange {
  /**
   * Fencing: the commit applies only while `promotionId` is still owned by `ownerToken`; otherwise it
   * fails with ConflictError and writes nothing. A process that lost its claim (its lease expired and
   * another process took the promotion over) can then never overwrite the new owner's records.
   */
  fence?: { promotionId: string; ownerToken: string };
  release?: ReleaseRecord;
  /**
   * A new promotion. With `lock: true` it takes the environment's lock in the same transaction and
   * the commit fails with ConflictError (naming the holder) when another promotion holds it.
   */
  createPromotion?: {
    record: PromotionRecord;
    lock: boolean;
    /**
     * Only if no promotion of the same release to the same environment exists (in any state):
     * otherwise ConflictError and nothing written. Checked inside the commit, so of several processes
     * making the same automatic promotion at once, exactly one does.
     */
    once?: boolean;
  };
  /**
   * Replaces the promotion record (matched by id). `releaseLock` frees its environment; `takeLock`
   * takes it (a pending promotion whose gates passed), failing with ConflictError when it is held.
   */
  promotion?: { record: PromotionRecord; releaseLock?: boolean; takeLock?: boolean };
  /** Deletes the promotion's steps before `steps` are written: a re-planned pending promotion. */
  replaceSteps?: string;
  /** Upserts, matched by (promotionId, component). */
  steps?: StepRecord[];
  /**
   * Records a request that the promotion's owner cancel it (the owner reads it: getCancelRequest). The
   * first request stays: a later one changes nothing, but its audit events are appended (both asked).
   * NotFoundError when the promotion does not exist.
   */
  cancelRequest?: CancelRequest;
  /** Appended; approvals are never changed or deleted. */
  approvals?: ApprovalRecord[];
  /** Marks a release known-bad (once; a second rejection is a ConflictError). */
  releaseRejection?: { releaseId: string; rejection: ReleaseRejection };
  /** Upserts, matched by (environment, component). */
  componentStates?: ComponentState[];
  /** The outcome of a drift check per component; upserts, matched by (environment, component). */
  driftStates?: DriftState[];
  /** Appended to the step logs (already redacted by the caller). */
  logs?: StepLogLine[];
  /**
   * A new API token (its hash, never its text). ConflictError when a token of that name is not
   * revoked (an expired one too: revoke it first, so a name always means one token).
   */
  createToken?: TokenRecord;
  /** Marks the token of that name that is not revoked as revoked at `at`. NotFoundError when there is none. */
  revokeToken?: { name: string; at: string };
  /**
   * A finished promotion's evidence, written once: ConflictError when it has evidence already (another
   * process wrote it), NotFoundError when the promotion does not exist.
   */
  evidence?: EvidenceRecord;
  audit: AuditEventInput[];
}

/** A promotion's signed (or, without a key, unsigned) evidence: an in-toto Statement in a DSSE envelope. */
export interface EvidenceRecord {
  promotionId: string;
  createdAt: string;
  /** The signing key's id, when it was signed. */
  keyid?: string;
  envelope: DsseEnvelope;
}

/** One line of what a step's commands printed. */
export interface StepLogLine {
  promotionId: string;
  component: string;
  time: string;
  line: string;
}

/** A step log line as stored, with its place in the project's order of events. */
export interface StoredLogLine extends StepLogLine {
  /** Assigned by the store, increasing in commit order, never reused (log lines are never deleted). */
  id: number;
  /**
   * The sequence number of the last audit entry committed before the line (0: none), so the line
   * comes after that entry and before the next one. Lines committed with audit entries come before them.
   */
  afterSeq: number;
}

/**
 * The store could not be reached (PostgreSQL down, restarting, or cut off) for longer than a write
 * is retried, or a commit was cut off while committing, so whether it landed is unknown. Nothing is
 * decided from it: the engine records no failure for it and leaves the promotion to crash recovery,
 * which reads what the store holds once it answers again. The server answers 503.
 */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The state cannot serve the request: a damaged row (the message names its table and entry), a
 * read-only state asked to record something, a schema this Lockstep cannot read or upgrade. Not
 * retryable: a person has to look at the file. The CLI exits 1.
 */
export class StateError extends Error {
  override readonly name = 'StateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
