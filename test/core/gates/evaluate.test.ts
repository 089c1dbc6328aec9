import { describe, expect, it } from 'vitest';
import { evaluateGates, type GateInput } from '../../../src/core/gates/evaluate.js';
import type { ApprovalRecord, EnvironmentConfig, GatesConfig, PromotionPlan, ReleaseRecord } from '../../../src/core/model.js';

const NOW = new Date('2026-11-24T12:00:00Z');

function gates(overrides: Partial<GatesConfig>): GatesConfig {
  return { windows: [], policy: [], verify: [], auto: false, overrideBy: [], ...overrides };
}

function input(g: Partial<GatesConfig>, extra: Partial<GateInput> = {}): GateInput {
  const environment: EnvironmentConfig = { name: 'prod', after: ['staging'], vars: {}, onFailure: 'rollback', gates: gates(g) };
  const release: ReleaseRecord = { id: 'r'.repeat(64), project: 'shop', versions: { api: '2' }, labels: {}, createdAt: '2026-11-24T08:00:00Z', createdBy: 'erin@example.com' };
  const plan: PromotionPlan = {
    releaseId: release.id,
    environment: 'prod',
    steps: [{ component: 'api', type: 'command', fromVersion: '1', toVersion: '2', action: 'apply', reason: '', reversible: false, summary: '', risk: 'high', dependsOn: [], level: 0, configDigest: 'c' }],
    levels: [['api']],
    gates: [],
    irreversible: true,
    digest: 'plan-1',
  };
  return { environment, groups: { sre: ['Bob@example.com', 'carol@example.com'] }, release, plan, kind: 'promotion', requestedBy: 'alice@example.com', approvals: [], upstream: [], now: NOW, ...extra };
}

function approval(actor: string, overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return { promotionId: 'p', actor, decision: 'approve', planDigest: 'plan-1', at: '2026-11-24T11:00:00Z', ...overrides };
}

describe('evaluateGates', () => {
  it('counts each person once, case-insensitively, only for the current plan and before expiry', () => {
    const approvals = [
      approval('bob@example.com'),
      approval('BOB@example.com'),
      approval('carol@example.com', { planDigest: 'plan-0' }),
      approval('carol@example.com', { expiresAt: '2026-11-24T11:59:59Z' }),
    ];
    const result = evaluateGates(input({ approvals: { count: 2, from: ['group:sre'], separationOfDuties: true } }, { approvals }));
    expect(result.verdict).toBe('waiting');
    expect(result.tally.counted.map((a) => a.actor)).toEqual(['bob@example.com']);
    expect(result.tally.ignored.map((i) => i.why)).toEqual(['duplicate', 'plan-changed', 'expired']);
    expect(result.tally.mayApprove).toEqual(['carol@example.com']);
  });

  it('tells a policy that more approvals or time may satisfy (waiting) from one nothing can (blocked)', () => {
    const waiting = evaluateGates(input({ policy: [{ expr: '!plan.destructive || approvals.count >= 3' }] }));
    expect(waiting.gates).toEqual([{ gate: 'policy[0]', status: 'waiting', message: '!plan.destructive || approvals.count >= 3 is false' }]);
    const blocked = evaluateGates(input({ policy: [{ expr: "plan.counts['irreversible'] == 0", message: 'no forward-only changes in prod' }] }));
    expect(blocked).toMatchObject({ verdict: 'blocked', summary: 'policy[0]: no forward-only changes in prod' });
  });

  it('soaks from the verification upstream until the release was replaced there', () => {
    const soak = { soak: '30m' };
    const running = evaluateGates(input(soak, { upstream: [{ environment: 'staging', verifiedAt: '2026-11-24T11:40:00Z' }] }));
    expect(running.gates[0]).toMatchObject({ gate: 'soak', status: 'waiting', until: '2026-11-24T12:10:00.000Z' });
    const replaced = evaluateGates(input(soak, { upstream: [{ environment: 'staging', verifiedAt: '2026-11-24T10:00:00Z', replacedAt: '2026-11-24T10:20:00Z' }] }));
    expect(replaced.gates[0]?.message).toBe('staging replaced this release after 20m 0s of 30m: promote it there again');
    const done = evaluateGates(input(soak, { upstream: [{ environment: 'staging', verifiedAt: '2026-11-24T10:00:00Z', replacedAt: '2026-11-24T10:45:00Z' }] }));
    expect(done.verdict).toBe('passed');
    expect(evaluateGates(input(soak, { kind: 'rollback' })).verdict).toBe('passed');
  });

  it('blocks a rejected release whatever else holds', () => {
    const base = input({});
    const result = evaluateGates({ ...base, release: { ...base.release, rejected: { by: 'dave@example.com', reason: 'bad', at: '2026-11-24T09:00:00Z' } } });
    expect(result).toMatchObject({ verdict: 'blocked', summary: 'release: release rejected by dave@example.com at 2026-11-24T09:00:00Z: bad' });
  });

  it('passes a closed window only with an override, saying so', () => {
    const windows = { windows: [{ deny: '2026-11-20 .. 2026-11-30', reason: 'freeze' }] };
    expect(evaluateGates(input(windows)).gates[0]).toMatchObject({ status: 'waiting', until: '2026-12-01T00:00:00.000Z' });
    const overridden = evaluateGates(input(windows, { windowOverride: { by: 'dave@example.com', reason: 'INC-1' } }));
    expect(overridden.gates[0]).toMatchObject({ status: 'passed', message: expect.stringMatching(/^OVERRIDDEN by dave@example.com \(INC-1\)/) as unknown });
  });
});
