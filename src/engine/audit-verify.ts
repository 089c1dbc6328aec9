import type { KeyObject } from 'node:crypto';
import { AuditVerifier, type AuditEntry, type AuditVerification } from '../core/audit.js';
import { CheckpointVerifier, type CheckpointSummary } from '../core/audit-checkpoint.js';
import { InputError } from '../core/errors.js';
import type { Store } from '../store/store.js';

/** The chain's verification; `headMissing` when the chain is intact but lacks the head the caller recorded earlier. */
export type AuditCheck =
  AuditVerification | { ok: false; headMissing: true; entries: number; head: string; reason: string };

/**
 * Checks the audit log's hash chain from the very first row (one forged at sequence 0 or below must
 * fail too). With `head`, a hash recorded earlier: the chain must still contain it, so a removed
 * tail (or a rewritten chain) is found; entries appended since are fine. Never throws for a broken
 * chain: the result says where it broke.
 */
export async function verifyAuditLog(store: Pick<Store, 'auditPage'>, head?: string): Promise<AuditCheck> {
  const verifier = new AuditVerifier();
  let after: number | null = null;
  let headSeen = false;
  for (;;) {
    // Pages of 2,000: large enough that reading costs little per entry, small enough that a
    // page is garbage before the young generation fills (5,000 was measurably slower).
    const page = await store.auditPage(after, 2000);
    if (page.length === 0) break;
    let ok = true;
    for (const e of page) {
      if (!verifier.push(e)) {
        ok = false;
        break;
      }
      if (e.hash === head) headSeen = true;
    }
    if (!ok) break;
    after = page[page.length - 1]?.seq ?? after;
  }
  const result = verifier.result();
  if (result.ok && head !== undefined && !headSeen) {
    return {
      ok: false,
      headMissing: true,
      entries: result.entries,
      head: result.head,
      reason: `the chain does not contain the expected head ${head}`,
    };
  }
  return result;
}

/** A signed head recorded elsewhere (a checkpoint or evidence kept by an auditor): the chain must reach it. */
export interface SignedHead {
  seq: number;
  hash: string;
}

/** `audit verify --key`: the chain, every signed checkpoint in it, and optionally signed heads kept outside it. */
export type SignedAuditCheck =
  | { ok: true; entries: number; head: string; checkpoints: CheckpointSummary; unsignedTail: number }
  | { ok: false; entries: number; firstBad?: number; reason: string; checkpoints: CheckpointSummary };

/**
 * Verifies an exported audit log (JSON lines, as `audit export` writes and the server streams) with
 * the project's public key: the hash chain, and each `audit.checkpoint` entry's signature and the
 * head it signs (history rewritten before a checkpoint is found). Each of `anchors` (signed heads
 * kept outside the log) must be in the chain: a chain cut below one of them is found. Reads the
 * lines as they come; never throws for what they hold.
 */
export async function verifyAuditExport(
  chunks: AsyncIterable<string | Uint8Array>,
  publicKey: KeyObject,
  anchors: readonly SignedHead[] = [],
): Promise<SignedAuditCheck> {
  const chain = new AuditVerifier();
  const checkpoints = new CheckpointVerifier(publicKey);
  const wanted = new Map(anchors.map((a) => [a.seq, a.hash]));
  const decoder = new TextDecoder();
  let rest = '';
  let line = 0;
  let failure: { firstBad?: number; reason: string } | undefined;

  const take = (text: string): boolean => {
    line++;
    if (text.trim() === '') return true;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(text) as AuditEntry;
    } catch {
      failure = { reason: `line ${line} is not JSON` };
      return false;
    }
    if (!chain.push(entry)) {
      const r = chain.result();
      if (!r.ok) failure = { firstBad: r.firstBad, reason: r.reason };
      return false;
    }
    if (!checkpoints.push(entry)) {
      const r = checkpoints.result();
      if (!r.ok) failure = { firstBad: r.firstBad, reason: r.reason };
      return false;
    }
    const anchored = wanted.get(entry.seq);
    if (anchored !== undefined) {
      if (anchored !== entry.hash) {
        failure = { firstBad: entry.seq, reason: `entry ${entry.seq} does not have the hash a signed head gives it (history was rewritten)` };
        return false;
      }
      wanted.delete(entry.seq);
    }
    return true;
  };

  outer: for await (const chunk of chunks) {
    rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let newline = rest.indexOf('\n');
    while (newline >= 0) {
      if (!take(rest.slice(0, newline))) break outer;
      rest = rest.slice(newline + 1);
      newline = rest.indexOf('\n');
    }
  }
  if (failure === undefined && rest !== '') take(rest);
  const summary = checkpoints.result().checkpoints;
  const result = chain.result();
  if (failure !== undefined) return { ok: false, entries: result.entries, ...failure, checkpoints: summary };
  if (!result.ok) return { ok: false, entries: result.entries, firstBad: result.firstBad, reason: result.reason, checkpoints: summary };
  const missing = [...wanted.keys()].sort((a, b) => a - b)[0];
  if (missing !== undefined)
    return {
      ok: false,
      entries: result.entries,
      reason: `a signed head names entry ${missing}, but the chain ends at ${result.entries}: entries were removed from the end`,
      checkpoints: summary,
    };
  return { ok: true, entries: result.entries, head: result.head, checkpoints: summary, unsignedTail: result.entries - (summary.last?.seq ?? 0) };
}

/** Reads a signed head's (seq, hash) out of an opened checkpoint or evidence payload. */
export function signedHeadOf(payload: unknown, file: string): SignedHead {
  const p = payload as { seq?: unknown; hash?: unknown; predicate?: { audit?: { seq?: unknown; hash?: unknown } } } | null;
  const head = p?.predicate?.audit ?? p;
  if (typeof head?.seq === 'number' && typeof head.hash === 'string') return { seq: head.seq, hash: head.hash };
  throw new InputError(`${file}: neither a checkpoint nor evidence (no signed audit head)`, '--checkpoint');
}
