import { describe, expect, it } from 'vitest';
import { compareObserved, driftChange, hasDrift, SECRET_EXPECTED, SECRET_FOUND, type ComponentDrift } from '../../src/core/drift.js';

const base = { component: 'api', type: 'gitops', recordedVersion: '1.4.2' };

describe('compareObserved', () => {
  it('is clean when the system runs the recorded version and names no difference', () => {
    expect(compareObserved({ ...base, observed: { version: '1.4.2', differences: [] } })).toEqual({
      ...base,
      state: 'clean',
      observedVersion: '1.4.2',
      findings: [],
    });
  });

  it('names another version first, then each difference the adapter gives', () => {
    const result = compareObserved({
      ...base,
      observed: { version: '1.4.1', differences: [{ field: 'values.yaml image.tag', expected: '1.4.2', found: '1.4.1' }] },
    });
    expect(result.state).toBe('drifted');
    expect(result.findings).toEqual([
      { component: 'api', field: 'version', expected: '1.4.2', found: '1.4.1' },
      { component: 'api', field: 'values.yaml image.tag', expected: '1.4.2', found: '1.4.1' },
    ]);
  });

  it('uses free-text drift lines only when the adapter gives no differences', () => {
    expect(compareObserved({ ...base, observed: { drift: ['stack orders does not exist'] } }).findings).toEqual([
      { component: 'api', field: 'state', expected: 'as applied', found: 'stack orders does not exist' },
    ]);
    expect(compareObserved({ ...base, observed: { version: '1.4.2', drift: ['ignored'], differences: [] } }).state).toBe('clean');
  });

  it('shows a secret as changed only: marked by the adapter, or recognised by isSensitive', () => {
    const result = compareObserved({
      ...base,
      observed: {
        differences: [
          { field: 'values.yaml db.password', expected: 's3cret-value', found: 'other-value', sensitive: true },
          { field: 'values.yaml db.url', expected: 'postgres://u:pw@db/x', found: 'postgres://u:pw@db/y' },
        ],
      },
      isSensitive: (v) => v.includes(':pw@'),
    });
    expect(result.findings).toEqual([
      { component: 'api', field: 'values.yaml db.password', expected: SECRET_EXPECTED, found: SECRET_FOUND },
      { component: 'api', field: 'values.yaml db.url', expected: SECRET_EXPECTED, found: SECRET_FOUND },
    ]);
    expect(JSON.stringify(result)).not.toMatch(/s3cret|other-value|:pw@/);
  });

  it('compares observed outputs with the recorded ones, never sensitive or redacted ones', () => {
    const result = compareObserved({
      ...base,
      observed: { version: '1.4.2', outputs: { functionVersion: '3', codeSha256: 'abc', token: 'live-token', apiKey: 'k2' } },
      recordedOutputs: { functionVersion: '2', codeSha256: 'abc', token: '***', apiKey: 'k1' },
      sensitiveOutputs: ['apiKey'],
    });
    expect(result.findings).toEqual([{ component: 'api', field: 'outputs.functionVersion', expected: '2', found: '3' }]);
  });
});

describe('driftChange', () => {
  const drifted = (found: string): Pick<ComponentDrift, 'state' | 'findings'> => ({
    state: 'drifted',
    findings: [{ component: 'api', field: 'version', expected: '1', found }],
  });
  const clean: Pick<ComponentDrift, 'state' | 'findings'> = { state: 'clean', findings: [] };

  it('detected the first time, not again for the same findings, again when they change; cleared when gone', () => {
    expect(driftChange(undefined, drifted('2'))).toBe('detected');
    expect(driftChange(clean, drifted('2'))).toBe('detected');
    expect(driftChange(drifted('2'), drifted('2'))).toBeUndefined();
    expect(driftChange(drifted('2'), drifted('3'))).toBe('detected');
    expect(driftChange(drifted('2'), clean)).toBe('cleared');
    expect(driftChange(clean, clean)).toBeUndefined();
    expect(driftChange(undefined, clean)).toBeUndefined();
    // Not observable now says nothing about whether the drift is gone.
    expect(driftChange(drifted('2'), { state: 'error', findings: [] })).toBeUndefined();
  });

  it('hasDrift is true only for a drifted component', () => {
    expect(hasDrift([{ ...base, state: 'cannot-observe', findings: [] }])).toBe(false);
    expect(hasDrift([{ ...base, ...drifted('2') }])).toBe(true);
  });
});
