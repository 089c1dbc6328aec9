import { describe, expect, it } from 'vitest';
import {
  AuditVerifier,
  auditEntryHash,
  chainEntry,
  HASHED_AUDIT_FIELDS,
  type AuditEntry,
  type AuditEventInput,
} from '../../src/core/audit.js';
import { canonicalJson, sha256Hex } from '../../src/core/canonical-json.js';

const base: AuditEventInput = {
  kind: 'step.succeeded',
  time: '2026-11-24T10:00:00.000Z',
  actor: 'alice@example.com',
  project: 'shop',
  data: { z: [1, { b: 'x', a: null }], a: 'é "quoted" \\n', n: 1.5 },
};

/** The definition the hash had before it was written out for the entry's shape. */
function referenceHash(entry: Omit<AuditEntry, 'hash'>): string {
  const { seq, kind, time, actor, project, environment, releaseId, promotionId, component, data, prevHash } = entry;
  return sha256Hex(canonicalJson({ seq, kind, time, actor, project, environment, releaseId, promotionId, component, data, prevHash }));
}

describe('audit chain', () => {
  it('verifies a chain and names the first changed entry', () => {
    const entries = [];
    let previous;
    for (let i = 0; i < 5; i++) {
      const e = chainEntry({ ...base, data: { i } }, previous);
      entries.push(e);
      previous = e;
    }
    const ok = new AuditVerifier();
    entries.forEach((e) => ok.push(e));
    expect(ok.result()).toMatchObject({ ok: true, entries: 5, head: entries[4]!.hash });
    const bad = new AuditVerifier();
    entries.map((e, i) => (i === 2 ? { ...e, actor: 'mallory' } : e)).forEach((e) => bad.push(e));
    expect(bad.result()).toMatchObject({ ok: false, firstBad: 3 });
  });

  it('lists the hashed fields in the order canonical JSON sorts them', () => {
    expect([...HASHED_AUDIT_FIELDS]).toEqual([...HASHED_AUDIT_FIELDS].sort());
    const entry = chainEntry({ ...base, environment: 'prod', releaseId: 'r', promotionId: 'p', component: 'api' }, undefined);
    expect([...HASHED_AUDIT_FIELDS].sort()).toEqual(Object.keys(entry).filter((k) => k !== 'hash').sort());
  });

  it('hashes exactly the canonical JSON of the entry, with and without the optional fields', () => {
    const optional = { environment: 'prod', releaseId: 'r1', promotionId: 'p1', component: 'api "x"' };
    const variants: Omit<AuditEntry, 'hash'>[] = [
      { ...base, seq: 1, prevHash: '0'.repeat(64) },
      { ...base, ...optional, seq: 2, prevHash: 'f'.repeat(64) },
      { ...base, environment: 'dev', component: 'db', seq: 3, prevHash: 'a'.repeat(64), data: {} },
      { ...base, seq: 4, prevHash: 'b'.repeat(64), releaseId: undefined, data: { nested: { deep: [{ y: 1, x: 'ü\u2028' }] } } },
    ];
    for (const entry of variants) expect(auditEntryHash(entry)).toBe(referenceHash(entry));
  });
});
