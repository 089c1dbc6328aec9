import { describe, expect, it } from 'vitest';
import { auditPageOf, auditSearch, parseAuditFilter, AUDIT_PAGE_SIZE } from '../../web/src/pages/audit/audit-filter.js';
import { diffVersions, formatComparand, parseComparand } from '../../web/src/pages/release/version-diff.js';
import type { AuditEntry } from '../../src/core/audit.js';

describe('the release page’s version diff', () => {
  it('lists every component of either side once, in name order, with what changed', () => {
    expect(diffVersions({ api: '1.0', web: '2.0', db: '7' }, { api: '1.1', web: '2.0', cache: '3' })).toEqual([
      { component: 'api', here: '1.0', there: '1.1', change: 'changed' },
      { component: 'cache', there: '3', change: 'only-there' },
      { component: 'db', here: '7', change: 'only-here' },
      { component: 'web', here: '2.0', there: '2.0', change: 'same' },
    ]);
  });

  it('reads and writes the `against` parameter, refusing what is neither a release nor an environment', () => {
    expect(parseComparand('env:prod-eu')).toEqual({ kind: 'environment', name: 'prod-eu' });
    expect(parseComparand('release:abc')).toEqual({ kind: 'release', id: 'abc' });
    for (const bad of [null, '', 'env:', 'release:', 'prod']) expect(parseComparand(bad)).toBeUndefined();
    expect(formatComparand({ kind: 'environment', name: 'dev' })).toBe('env:dev');
  });
});

describe('the audit page’s filters', () => {
  const entry = (seq: number, kind: AuditEntry['kind'], actor: string, environment?: string): AuditEntry => ({
    seq,
    kind,
    actor,
    time: '2026-12-01T00:00:00.000Z',
    project: 'shop',
    ...(environment === undefined ? {} : { environment }),
    data: {},
    prevHash: '',
    hash: '',
  });

  it('round-trips through the URL, leaving out what is not set and page 1', () => {
    const filter = parseAuditFilter('?actor=a%40x&kind=approval&page=3&environment=');
    expect(filter).toEqual({ actor: 'a@x', kind: 'approval', page: 3 });
    expect(auditSearch(filter)).toBe('?actor=a%40x&kind=approval&page=3');
    expect(auditSearch({ page: 1 })).toBe('');
    expect(parseAuditFilter('?page=-2').page).toBe(1);
    expect(parseAuditFilter('?page=x').page).toBe(1);
  });

  it('matches a kind exactly or as a family, and pages newest first', () => {
    const entries = [
      entry(1, 'approval.given', 'ann', 'prod'),
      entry(2, 'approval.rejected', 'bob', 'prod'),
      entry(3, 'approval-like' as AuditEntry['kind'], 'ann', 'prod'),
      entry(4, 'step.started', 'ann', 'dev'),
    ];
    expect(auditPageOf(entries, { kind: 'approval', page: 1 }).rows.map((e) => e.seq)).toEqual([2, 1]);
    expect(auditPageOf(entries, { kind: 'approval.given', page: 1 }).rows.map((e) => e.seq)).toEqual([1]);
    expect(auditPageOf(entries, { actor: 'ann', environment: 'prod', page: 1 }).rows.map((e) => e.seq)).toEqual([3, 1]);

    const many = Array.from({ length: AUDIT_PAGE_SIZE * 2 + 5 }, (_, i) => entry(i + 1, 'step.started', 'ann'));
    const last = auditPageOf(many, { page: 3 });
    expect([last.pages, last.matching, last.rows.map((e) => e.seq)]).toEqual([3, many.length, [5, 4, 3, 2, 1]]);
    // A page past the end shows the last one.
    expect(auditPageOf(many, { page: 9 }).rows[0]?.seq).toBe(5);
  });
});
