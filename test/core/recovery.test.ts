import { describe, expect, it } from 'vitest';
import type { AdapterCapabilities } from '../../src/core/adapter.js';
import type { StepRecord } from '../../src/core/model.js';
import { recoverStep, type RecordedRuns } from '../../src/core/recovery.js';

const applying: StepRecord = {
  promotionId: 'p1',
  component: 'api',
  environment: 'dev',
  state: 'running',
  phase: 'apply',
  action: 'apply',
  fromVersion: '1',
  toVersion: '2',
  reversible: true,
  applyStarted: true,
  attempts: 1,
  idempotencyKey: 'p1:api',
};
const rollingBack: StepRecord = { ...applying, state: 'rolling-back', phase: 'rollback' };
const notIdempotent: AdapterCapabilities = { reversible: true, idempotentApply: false, observe: false };
const idempotent: AdapterCapabilities = { ...notIdempotent, idempotentApply: true };

function decide(step: StepRecord, capabilities: AdapterCapabilities, runs: RecordedRuns, needsOutputs = false) {
  return recoverStep({ step, capabilities, observed: undefined, needsOutputs, runs }).kind;
}

describe('recoverStep with the records of the step processes', () => {
  it('enters apply again with the same records when its command still runs or finished, idempotent or not, outputs or not', () => {
    for (const capabilities of [notIdempotent, idempotent]) {
      for (const needsOutputs of [false, true]) {
        expect(decide(applying, capabilities, 'running', needsOutputs)).toBe('resume-apply');
        expect(decide(applying, capabilities, 'finished', needsOutputs)).toBe('resume-apply');
      }
    }
  });

  it('waits for a command still running even when observation says the target version runs already', () => {
    const observed = { version: '2' };
    expect(recoverStep({ step: applying, capabilities: { ...idempotent, observe: true }, observed, needsOutputs: false, runs: 'running' }).kind).toBe('resume-apply');
    expect(recoverStep({ step: applying, capabilities: { ...idempotent, observe: true }, observed, needsOutputs: false, runs: 'none' }).kind).toBe('verify');
  });

  it('keeps the rules for an interrupted apply when no command started or it ended without a record', () => {
    for (const runs of ['none', 'stopped'] as const) {
      expect(decide(applying, idempotent, runs)).toBe('reapply');
      expect(decide(applying, notIdempotent, runs)).toBe('interrupted');
    }
    expect(recoverStep({ step: applying, capabilities: notIdempotent, observed: undefined, needsOutputs: false, runs: 'stopped' }).reason).toContain('ended without recording how');
  });

  it('does the same for a rollback', () => {
    expect(decide(rollingBack, notIdempotent, 'running')).toBe('resume-rollback');
    expect(decide(rollingBack, notIdempotent, 'finished')).toBe('resume-rollback');
    expect(decide(rollingBack, notIdempotent, 'stopped')).toBe('interrupted');
    expect(decide(rollingBack, idempotent, 'stopped')).toBe('rerun-rollback');
  });
});
