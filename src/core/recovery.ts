import type { AdapterCapabilities, Observed } from './adapter.js';
import type { StepRecord } from './model.js';

/**
 * What to do with a step that was in flight when its process died. Pure: the engine observes the
 * system first (when the adapter can) and passes what it saw.
 *
 * The rule: a finished step is never applied again; an in-flight apply is re-run only where the
 * adapter says apply is idempotent, or skipped when observation shows the target version already
 * runs (and no outputs are needed from it); otherwise a person decides.
 */
export type Recovery =
  | { kind: 'restart'; reason: string }
  | { kind: 'reapply'; reason: string }
  | { kind: 'verify'; reason: string }
  | { kind: 'rerun-rollback'; reason: string }
  | { kind: 'rolled-back'; reason: string }
  | { kind: 'interrupted'; reason: string };

export interface RecoveryInput {
  step: StepRecord;
  capabilities: AdapterCapabilities;
  /** What `observe` returned; undefined when the adapter cannot observe or observation failed. */
  observed: Observed | undefined;
  /** The component declares outputs, which only an apply produces. */
  needsOutputs: boolean;
}

export function recoverStep({ step, capabilities, observed, needsOutputs }: RecoveryInput): Recovery {
  if (step.state === 'rolling-back') {
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
      if (observed?.version !== undefined && observed.version === step.toVersion && !needsOutputs) {
        return { kind: 'verify', reason: `observed ${observed.version}: apply had finished, verifying` };
      }
      if (capabilities.idempotentApply) {
        return { kind: 'reapply', reason: 'apply is idempotent: applying again' };
      }
      const seen =
        observed?.version !== undefined
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
