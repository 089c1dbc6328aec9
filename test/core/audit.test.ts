import { describe, expect, it } from 'vitest';
import { AuditVerifier, chainEntry, type AuditEventInput } from '../../src/core/audit.js';

const base: AuditEventInput = {
  kind: 'step.succeeded',
  time: '2026-11-24T10:00:00.000Z',
  actor: 'alice@example.com',
  project: 'shop',
  data: { z: [1, { b: 'x', a: null }], a: 'é "quoted" \\n', n: 1.5 },
};

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
});
