import type { KeyObject } from 'node:crypto';
import { openEnvelope } from './dsse.js';
import { IN_TOTO_PAYLOAD_TYPE, statementProblem, type Statement } from './evidence.js';

export type EvidenceVerification =
  | { ok: true; signed: boolean; keyid?: string; statement: Statement }
  | { ok: false; reason: string };

/**
 * Checks exported evidence text offline (`evidence verify`). Pure; never throws for what the text holds.
 * Checks: JSON, a DSSE envelope signed by the key (or unsigned, if allowed), a Statement about what is expected. */
export function verifyEvidenceText(
  text: string,
  options: { publicKey?: KeyObject; allowUnsigned: boolean; releaseId?: string; environment?: string },
): EvidenceVerification {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'the file is not JSON' };
  }
  const opened = openEnvelope(envelope, { publicKey: options.publicKey, payloadType: IN_TOTO_PAYLOAD_TYPE, allowUnsigned: options.allowUnsigned });
  if (!opened.ok) return opened;
  let statement: unknown;
  try {
    statement = JSON.parse(opened.payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'the payload is not JSON' };
  }
  const problem = statementProblem(statement, { releaseId: options.releaseId, environment: options.environment });
  if (problem !== undefined) return { ok: false, reason: problem };
  const s = statement as Statement;
  // The statement says whether it was signed: an unsigned one claiming otherwise, or the reverse, is not what Lockstep wrote.
  if (s.predicate.signed !== opened.signed) return { ok: false, reason: `the statement says signed: ${String(s.predicate.signed)}, but the envelope is ${opened.signed ? 'signed' : 'unsigned'}` };
  return { ok: true, signed: opened.signed, ...(opened.keyid === undefined ? {} : { keyid: opened.keyid }), statement: s };
}
