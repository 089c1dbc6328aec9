import type { AuditEntry, AuditKind } from './audit.js';
import type { StepRecord, StepState } from './model.js';

/** The state each step entry of the audit log records a step in. `step.retried` and `step.marked-done` depend on the phase: none here. */
const STATE_AFTER: Partial<Record<AuditKind, StepState>> = {
  'step.started': 'running',
  'step.succeeded': 'succeeded',
  'step.unchanged': 'unchanged',
  'step.failed': 'failed',
  'step.skipped': 'skipped',
  'step.rollback-started': 'rolling-back',
  'step.rolled-back': 'rolled-back',
  'step.rollback-failed': 'rollback-failed',
};

/**
 * The step as the audit entry left it, from the record last known (an entry's data carries what
 * changed, not the whole record). Undefined for an entry that does not say which state the step is
 * in (`step.retried`, `step.marked-done`): read the step's record then. A client that follows a run
 * through the event stream shows each change in its place among the log lines this way, even when
 * the record it could read is already further on. Pure.
 */
export function stepAfterEntry(step: StepRecord, entry: AuditEntry): StepRecord | undefined {
  const state = STATE_AFTER[entry.kind];
  if (state === undefined) return undefined;
  const data = entry.data;
  const error = typeof data.error === 'string' ? data.error : undefined;
  switch (state) {
    case 'running':
      // Committed as the apply starts (planning is not recorded).
      return { ...step, state, phase: 'apply', startedAt: step.startedAt ?? entry.time, finishedAt: undefined, error: undefined };
    case 'rolling-back':
      return { ...step, state, phase: 'rollback', finishedAt: undefined };
    case 'failed': {
      const phase = data.phase === 'plan' || data.phase === 'apply' || data.phase === 'verify' ? data.phase : step.phase;
      return { ...step, state, phase, error: error ?? step.error, finishedAt: entry.time };
    }
    case 'rollback-failed':
      return { ...step, state, rollbackError: error ?? step.rollbackError, finishedAt: entry.time };
    case 'unchanged':
      return { ...step, state, phase: undefined, startedAt: step.startedAt ?? entry.time, finishedAt: entry.time };
    case 'skipped':
      // Never started: no times, as the runner records it.
      return { ...step, state };
    default:
      return { ...step, state, phase: undefined, finishedAt: entry.time };
  }
}
