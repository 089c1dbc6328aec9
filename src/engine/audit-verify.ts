import { AuditVerifier, type AuditVerification } from '../core/audit.js';
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
