import type { AdapterCapabilities, Observed } from './adapter.js';
import type { StepRecord } from './model.js';

/**
 * What to do with a step that was in flight when its process died. Pure: the engine observes the
 * system first (when the adapter can) and passes what it saw.
 *
 * The rule: a finished step is never applied again. A recorded apply (or rollback) process that is
 * still running is waited for, and one that finished is read back, outputs included: neither runs a
 * second time. Otherwise an in-flight apply is re-run only where the adapter says apply is idempotent,
 * or skipped when observation shows the target version already runs (and no outputs are needed from
 * it); otherwise a person decides.
 */
export type Recovery =
  | { kind: 'restart'; reason: string }
  | { kind: 'reapply'; reason: string }
  /** Enter apply again with the same attempt: its recorded processes are read back or waited for, never run twice. */
  | { kind: 'resume-apply'; reason: string }
  | { kind: 'verify'; reason: string }
  | { kind: 'rerun-rollback'; reason: string }
  /** Enter the rollback again with the same records: read back or waited for, never run twice. */
  | { kind: 'resume-rollback'; reason: string }
  | { kind: 'rolled-back'; reason: string }
  | { kind: 'interrupted'; reason: string };

export interface RecoveryInput {
  step: StepRecord;
  capabilities: AdapterCapabilities;
  /** What `observe` returned; undefined when the adapter cannot observe or observation failed. */
  observed: Observed | undefined;
  /** The component declares outputs, which only an apply produces. */
  needsOutputs: boolean;
  /**
   * What the durable records of the processes this step's phase started (in this attempt) say:
   * `running` (one outlived the process that started it), `finished` (every one ended with a recorded
   * exit status), `stopped` (one ended without a record, or was stopped on request: its outcome is
   * unknown), `none` (none started, or the adapter runs no processes). Default `none`.
   */
  runs?: RecordedRuns;
}

export type RecordedRuns = 'none' | 'running' | 'finished' | 'stopped';

export function recoverStep({ step, capabilities, observed, needsOutputs, runs = 'none' }: RecoveryInput): Recovery {
  if (step.state === 'rolling-back') {
    // A recorded rollback command still running or finished is never run a second time.
    if (runs === 'running') return { kind: 'resume-rollback', reason: 'its rollback command is still running: waiting for it' };
    if (runs === 'finished') {
      return { kind: 'resume-rollback', reason: 'its rollback command had finished: taking its recorded result' };
    }
    if (observed?.version !== undefined && observed.version === step.fromVersion) {
      return { kind: 'rolled-back', reason: `observed ${observed.version}: the rollback had finished` };
    }
    if (capabilities.idempotentApply) return { kind: 'rerun-rollback', reason: 'rollback is idempotent: running it again' };
    return {
      kind: 'interrupted',
      reason: `the rollback of ${step.component} was in flight and cannot safely be repeated`,
    };
  }
  switch (step.phase) {
    case undefined:
    case 'plan':
      return { kind: 'restart', reason: 'planning is read-only: starting the step again' };
    case 'verify':
      return { kind: 'verify', reason: 'apply had finished: verifying again' };
    case 'apply': {
      // Before anything else: a command that outlived the process is waited for, and one that finished
      // is read back, outputs included, whether or not apply is idempotent.
      if (runs === 'running') return { kind: 'resume-apply', reason: 'its apply command is still running: waiting for it' };
      if (runs === 'finished') {
        return { kind: 'resume-apply', reason: 'its apply command had finished: taking its recorded result and outputs' };
      }
      if (observed?.version !== undefined && observed.version === step.toVersion && !needsOutputs) {
        return { kind: 'verify', reason: `observed ${observed.version}: apply had finished, verifying` };
      }
      if (capabilities.idempotentApply) {
        return { kind: 'reapply', reason: 'apply is idempotent: applying again' };
      }
      const seen =
        runs === 'stopped'
          ? 'its command ended without recording how (or was stopped)'
          : observed?.version !== undefined
          ? `it runs ${observed.version}${needsOutputs && observed.version === step.toVersion ? ', but its outputs were lost' : ''}`
          : capabilities.observe
            ? 'observing it failed'
            : 'the adapter cannot observe it';
      return {
        kind: 'interrupted',
        reason: `${step.component} was being applied when the process stopped; ${seen}, and its apply is not idempotent`,
      };
    }
    case 'rollback':
      return { kind: 'interrupted', reason: `${step.component} stopped during rollback` };
  }
}
