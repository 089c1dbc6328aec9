import { AuditVerifier } from '../../src/core/audit.js';
import type { AuditEventInput, AuditVerification } from '../../src/core/audit.js';
import { sha256Hex } from '../../src/core/canonical-json.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import type { Store } from '../../src/store/store.js';

/* Records and checks the engine-specific store tests (SQLite, PostgreSQL) share. */

export async function verify(store: Store): Promise<AuditVerification> {
  const verifier = new AuditVerifier();
  // From the very first row, as `lockstep audit verify` reads: rows at sequence 0 or below included.
  let after: number | null = null;
  for (let page = await store.auditPage(after, 4); page.length > 0; page = await store.auditPage(after, 4)) {
    for (const entry of page) verifier.push(entry);
    after = page.at(-1)?.seq ?? after;
  }
  return verifier.result();
}

export function event(n: number): AuditEventInput {
  return {
    kind: 'step.started',
    time: '2026-01-01T00:00:00.000Z',
    actor: 'bob@example.com',
    project: 'checkout',
    data: { n },
  };
}

export function releaseRecord(): ReleaseRecord {
  return {
    id: sha256Hex('release'),
    project: 'checkout',
    versions: { api: '1.0.0' },
    labels: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'carol@example.com',
  };
}

export function promotionRecord(seed: string, releaseId: string): PromotionRecord {
  return {
    id: sha256Hex(seed),
    project: 'checkout',
    releaseId,
    environment: 'prod',
    kind: 'promotion',
    state: 'pending',
    requestedBy: 'alice@example.com',
    requestedAt: '2026-01-01T00:05:00.000Z',
    configDigest: sha256Hex('config'),
    plan: {
      releaseId,
      environment: 'prod',
      steps: [],
      levels: [],
      gates: [],
      irreversible: false,
      digest: sha256Hex('plan'),
    },
    concurrency: 1,
    onFailure: 'halt',
  };
}
