import { canonicalJson, sha256Hex } from './canonical-json.js';

/**
 * Audit events: every state change, appended with time, actor and the SHA-256 of the previous entry.
 * Pure: hashing and verification take entries in, give results out.
 */
export const AUDIT_KINDS = [
  'config.loaded',
  'config.reloaded',
  'config.refused',
  'release.created',
  'release.rejected',
  'promotion.requested',
  'promotion.started',
  'promotion.resumed',
  'promotion.interrupted',
  'promotion.finished',
  'promotion.replanned',
  'promotion.handed-back',
  'promotion.taken-over',
  'promotion.cancel-requested',
  'step.started',
  'step.succeeded',
  'step.unchanged',
  'step.failed',
  'step.skipped',
  'step.rollback-started',
  'step.rolled-back',
  'step.rollback-failed',
  'step.marked-done',
  'step.retried',
  'gate.waiting',
  'gate.passed',
  'gate.blocked',
  'gate.overridden',
  'approval.given',
  'approval.rejected',
  'approval.refused',
  'approval.expired',
  'approval.invalidated',
  'verification.started',
  'verification.finished',
  'token.created',
  'token.revoked',
  'evidence.written',
  'audit.checkpoint',
  'drift.detected',
  'drift.cleared',
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** What a caller appends. The store assigns `seq`, `prevHash` and `hash` inside the write transaction. */
export interface AuditEventInput {
  kind: AuditKind;
  time: string;
  actor: string;
  project: string;
  environment?: string;
  releaseId?: string;
  promotionId?: string;
  component?: string;
  /** Details; must never hold a secret (callers redact). */
  data: Record<string, unknown>;
}

export interface AuditEntry extends AuditEventInput {
  seq: number;
  prevHash: string;
  hash: string;
}

/** The `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The members an entry's hash covers (all but `hash`), in the order canonical JSON writes them: sorted
 * by code unit. A test checks this list against the sort.
 */
export const HASHED_AUDIT_FIELDS = [
  'actor',
  'component',
  'data',
  'environment',
  'kind',
  'prevHash',
  'project',
  'promotionId',
  'releaseId',
  'seq',
  'time',
] as const satisfies readonly (keyof Omit<AuditEntry, 'hash'>)[];

/**
 * The hash of an entry: SHA-256 of the canonical JSON of everything but `hash` itself.
 *
 * The text is exactly `canonicalJson` of those members, written out for the entry's fixed shape:
 * the generic sort-and-join per entry was a quarter of `audit verify`. Only `data`, whose shape is
 * free, goes through `canonicalJson`.
 */
export function auditEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  let text = '';
  for (const field of HASHED_AUDIT_FIELDS) {
    const value: unknown = entry[field];
    if (value === undefined) continue;
    // A string's canonical JSON is JSON.stringify's; asking canonicalJson costs more per field.
    text += `${text === '' ? '{' : ','}"${field}":${typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value)}`;
  }
  return sha256Hex(text === '' ? '{}' : `${text}}`);
}

/** Builds the next entry of a chain whose last entry is `previous` (undefined for the first). */
export function chainEntry(input: AuditEventInput, previous: { seq: number; hash: string } | undefined): AuditEntry {
  const unsigned = { ...input, seq: (previous?.seq ?? 0) + 1, prevHash: previous?.hash ?? GENESIS_HASH };
  return { ...unsigned, hash: auditEntryHash(unsigned) };
}

export type AuditVerification =
  | { ok: true; entries: number; head: string }
  | { ok: false; entries: number; firstBad: number; reason: string };

/**
 * Verifies a chain, entry by entry, in the order given. Detects a changed entry (hash mismatch), a
 * removed, inserted or reordered one (sequence gap or `prevHash` mismatch). A removed *tail* leaves a
 * valid shorter chain: compare `head` with a head recorded elsewhere (`audit verify --head`).
 */
export class AuditVerifier {
  private count = 0;
  private previous: { seq: number; hash: string } | undefined;
  private failure: { firstBad: number; reason: string } | undefined;

  push(entry: AuditEntry): boolean {
    if (this.failure) return false;
    const expectedSeq = (this.previous?.seq ?? 0) + 1;
    const expectedPrev = this.previous?.hash ?? GENESIS_HASH;
    if (entry.seq !== expectedSeq) {
      this.failure = { firstBad: entry.seq, reason: `sequence ${entry.seq} where ${expectedSeq} was expected (an entry was removed, inserted or reordered)` };
    } else if (entry.prevHash !== expectedPrev) {
      this.failure = { firstBad: entry.seq, reason: `its previous-hash does not match entry ${expectedSeq - 1} (an entry was removed, inserted or reordered)` };
    } else if (auditEntryHash(entry) !== entry.hash) {
      this.failure = { firstBad: entry.seq, reason: 'its content does not match its hash (the entry was changed)' };
    } else {
      this.previous = { seq: entry.seq, hash: entry.hash };
      this.count++;
      return true;
    }
    return false;
  }

  result(): AuditVerification {
    if (this.failure) return { ok: false, entries: this.count, ...this.failure };
    return { ok: true, entries: this.count, head: this.previous?.hash ?? GENESIS_HASH };
  }
}
