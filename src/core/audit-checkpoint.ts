import type { KeyObject } from 'node:crypto';
import type { AuditEntry } from './audit.js';
import { canonicalJson } from './canonical-json.js';
import { openEnvelope, signEnvelope, type DsseEnvelope } from './dsse.js';

/**
 * Signed audit checkpoints: the chain's head (sequence, hash, time) signed with the project's key
 * and appended to the chain as an `audit.checkpoint` entry. Whoever can write the database but not
 * sign cannot rewrite history before a checkpoint (the signed hash would no longer be in the chain)
 * nor cut the chain below a checkpoint they were shown. Pure.
 */

export const CHECKPOINT_PAYLOAD_TYPE = 'application/vnd.lockstep.audit-checkpoint+json';
export const CHECKPOINT_TYPE = 'https://lockstep.dev/audit-checkpoint/v1';

/**
 * A checkpoint is written at the end of each promotion, and after at most this many entries since
 * the last one: what a cut tail can remove without a trace is bounded by it.
 */
export const CHECKPOINT_EVERY = 1000;

export interface CheckpointPayload {
  _type: typeof CHECKPOINT_TYPE;
  project: string;
  /** The head signed: the entry with this sequence number has this hash. */
  seq: number;
  hash: string;
  /** When it was signed (ISO 8601). */
  time: string;
}

/** What an `audit.checkpoint` entry's data holds: the head in clear, and the envelope signing it. */
export interface CheckpointData {
  seq: number;
  hash: string;
  envelope: DsseEnvelope;
}

export function signCheckpoint(payload: Omit<CheckpointPayload, '_type'>, privateKey: KeyObject): CheckpointData {
  const full: CheckpointPayload = { _type: CHECKPOINT_TYPE, ...payload };
  return { seq: payload.seq, hash: payload.hash, envelope: signEnvelope(CHECKPOINT_PAYLOAD_TYPE, Buffer.from(canonicalJson(full), 'utf8'), privateKey) };
}

export type CheckpointCheck = { ok: true; payload: CheckpointPayload } | { ok: false; reason: string };

/** Checks a checkpoint envelope's signature by `publicKey` and its payload's shape. Never throws. */
export function openCheckpoint(envelope: unknown, publicKey: KeyObject): CheckpointCheck {
  const opened = openEnvelope(envelope, { publicKey, payloadType: CHECKPOINT_PAYLOAD_TYPE });
  if (!opened.ok) return opened;
  let payload: unknown;
  try {
    payload = JSON.parse(opened.payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'its payload is not JSON' };
  }
  const p = payload as Partial<CheckpointPayload> | null;
  if (p === null || typeof p !== 'object' || p._type !== CHECKPOINT_TYPE || !Number.isSafeInteger(p.seq) || typeof p.hash !== 'string' || typeof p.time !== 'string' || typeof p.project !== 'string')
    return { ok: false, reason: `its payload is not a ${CHECKPOINT_TYPE} checkpoint` };
  return { ok: true, payload: p as CheckpointPayload };
}

export interface CheckpointSummary {
  /** Checkpoints found and verified. */
  count: number;
  /** The newest checkpoint's signed head; entries after it are covered by the chain alone. */
  last?: { seq: number; hash: string; time: string; entrySeq: number };
}

/**
 * Verifies every checkpoint of a chain as it is read (after AuditVerifier accepted the entry): its
 * signature, that the head it signs is the entry with that sequence number in this chain, and that
 * it comes after that entry. Remembers the last `window` hashes, which every checkpoint written by
 * Lockstep falls within (it signs the head it has just read).
 */
export class CheckpointVerifier {
  private readonly hashes: string[];
  private readonly summary: CheckpointSummary = { count: 0 };
  private failure: { firstBad: number; reason: string } | undefined;

  constructor(
    private readonly publicKey: KeyObject,
    private readonly window = 65_536,
  ) {
    this.hashes = new Array<string>(window);
  }

  push(entry: AuditEntry): boolean {
    if (this.failure) return false;
    this.hashes[entry.seq % this.window] = entry.hash;
    if (entry.kind !== 'audit.checkpoint') return true;
    const reason = this.problem(entry);
    if (reason !== undefined) {
      this.failure = { firstBad: entry.seq, reason };
      return false;
    }
    return true;
  }

  private problem(entry: AuditEntry): string | undefined {
    const data = entry.data as Partial<CheckpointData>;
    const opened = openCheckpoint(data.envelope, this.publicKey);
    if (!opened.ok) return `checkpoint: ${opened.reason}`;
    const { seq, hash, time } = opened.payload;
    if (data.seq !== seq || data.hash !== hash) return 'checkpoint: the head in clear differs from the one signed';
    if (seq >= entry.seq) return `checkpoint: it signs entry ${seq}, which does not come before it`;
    if (entry.seq - seq >= this.window) return `checkpoint: it signs entry ${seq}, too far back to check`;
    if (this.hashes[seq % this.window] !== hash)
      return `checkpoint: entry ${seq} does not have the hash signed at ${time} (history before the checkpoint was rewritten)`;
    this.summary.count++;
    this.summary.last = { seq, hash, time, entrySeq: entry.seq };
    return undefined;
  }

  result(): { ok: true; checkpoints: CheckpointSummary } | { ok: false; firstBad: number; reason: string; checkpoints: CheckpointSummary } {
    return this.failure ? { ok: false, ...this.failure, checkpoints: this.summary } : { ok: true, checkpoints: this.summary };
  }
}
