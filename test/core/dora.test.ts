import { describe, expect, it } from 'vitest';
import { COMMITTED_AT_LABEL, percentile, releaseStart } from '../../src/core/dora.js';
import type { ReleaseRecord } from '../../src/core/model.js';

describe('dora: nearest-rank percentiles and where lead time starts', () => {
  it('takes the value at rank ⌈p/100 · n⌉ of the sorted values', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([7], 90)).toBe(7);
    // n = 4: median rank 2 (the lower middle, not their mean 25), p90 rank ⌈3.6⌉ = 4.
    expect(percentile([40, 10, 30, 20], 50)).toBe(20);
    expect(percentile([40, 10, 30, 20], 90)).toBe(40);
    // n = 10: p90 rank 9; median rank 5.
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(ten, 90)).toBe(9);
    expect(percentile(ten, 50)).toBe(5);
    // n = 11: p90 rank ⌈9.9⌉ = 10.
    expect(percentile([...ten, 11], 90)).toBe(10);
  });

  it('starts lead time at an earlier committed-at label, else at the release’s creation', () => {
    const release = (labels: Record<string, string>): ReleaseRecord => ({
      id: 'x',
      project: 'shop',
      versions: {},
      labels,
      createdAt: '2026-11-10T00:00:00.000Z',
      createdBy: 'a@example.com',
    });
    const created = Date.parse('2026-11-10T00:00:00Z');
    expect(releaseStart(release({}))).toBe(created);
    expect(releaseStart(release({ [COMMITTED_AT_LABEL]: '2026-11-09T12:00:00Z' }))).toBe(Date.parse('2026-11-09T12:00:00Z'));
    expect(releaseStart(release({ [COMMITTED_AT_LABEL]: '2026-11-09T13:00:00+01:00' }))).toBe(Date.parse('2026-11-09T12:00:00Z'));
    // Later than the release, or not a full time with a zone: not believed.
    expect(releaseStart(release({ [COMMITTED_AT_LABEL]: '2026-11-11T00:00:00Z' }))).toBe(created);
    expect(releaseStart(release({ [COMMITTED_AT_LABEL]: 'yesterday' }))).toBe(created);
    expect(releaseStart(release({ [COMMITTED_AT_LABEL]: '2026-11-09' }))).toBe(created);
  });
});
