import { createHash } from 'node:crypto';
import type { PromotionRecord, StepRecord, StepState } from './model.js';

/**
 * A promotion as an OpenTelemetry trace, in the OTLP/HTTP JSON encoding (ExportTraceServiceRequest):
 * the promotion is the root span (kind SERVER), each step that started a child span, and the time it
 * waited on its gates one more. Attribute names are the CI/CD semantic conventions'
 * (`cicd.pipeline.*`), with `deployment.environment.name` and Lockstep's own under `lockstep.*`.
 *
 * Pure: ids are derived from the promotion's id and the component's name, so exporting the same
 * promotion twice gives the same trace, which a tracing backend merges.
 */

export type OtlpValue = { stringValue: string } | { intValue: string } | { boolValue: boolean };

export interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 INTERNAL, 2 SERVER. */
  kind: 1 | 2;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  /** 0 UNSET, 1 OK, 2 ERROR. */
  status: { code: 0 | 1 | 2; message?: string };
}

export interface OtlpTraceRequest {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{ scope: { name: string; version: string }; spans: OtlpSpan[] }>;
  }>;
}

export interface TraceResource {
  serviceName: string;
  /** From OTEL_RESOURCE_ATTRIBUTES. */
  attributes: Record<string, string>;
  version: string;
}

/** `cicd.pipeline.result` of a promotion that ended. */
const PIPELINE_RESULT: Partial<Record<PromotionRecord['state'], string>> = {
  succeeded: 'success',
  failed: 'failure',
  cancelled: 'cancellation',
  // Refused by its gates or by a person: it never ran.
  rejected: 'skip',
};

/** `cicd.pipeline.task.run.result` of a step: `lockstep.step.state` says the rest. */
const TASK_RESULT: Record<StepState, string> = {
  pending: 'skip',
  running: 'error',
  succeeded: 'success',
  unchanged: 'skip',
  failed: 'failure',
  skipped: 'skip',
  // Applied, then undone because the promotion failed (resultOf: unless it failed itself).
  'rolling-back': 'cancellation',
  'rolled-back': 'cancellation',
  'rollback-failed': 'failure',
  interrupted: 'error',
};

export function promotionTrace(
  promotion: PromotionRecord,
  steps: readonly StepRecord[],
  resource: TraceResource,
): OtlpTraceRequest {
  const traceId = idOf(`trace:${promotion.id}`, 16);
  const rootId = idOf(`promotion:${promotion.id}`, 8);
  const end = promotion.finishedAt ?? promotion.startedAt ?? promotion.requestedAt;
  const pipeline = `${promotion.project}/${promotion.environment}`;
  const result = PIPELINE_RESULT[promotion.state] ?? 'error';
  const failed = result === 'failure' || result === 'error';
  const spans: OtlpSpan[] = [
    {
      traceId,
      spanId: rootId,
      // The semantic conventions' `{action} {pipeline}`; a rollback says so.
      name: `${promotion.kind === 'rollback' ? 'ROLLBACK' : 'RUN'} ${pipeline}`,
      kind: 2,
      startTimeUnixNano: nanos(promotion.requestedAt),
      endTimeUnixNano: nanos(end),
      attributes: attributes({
        'cicd.pipeline.name': pipeline,
        'cicd.pipeline.run.id': promotion.id,
        'cicd.pipeline.action.name': 'RUN',
        'cicd.pipeline.result': result,
        'error.type': failed ? (promotion.failure?.phase ?? promotion.state) : undefined,
        'deployment.environment.name': promotion.environment,
        'lockstep.project': promotion.project,
        'lockstep.release.id': promotion.releaseId,
        'lockstep.promotion.kind': promotion.kind,
        'lockstep.promotion.state': promotion.state,
        'lockstep.requested_by': promotion.requestedBy,
        'lockstep.plan.digest': promotion.plan.digest,
      }),
      status: failed ? { code: 2, message: promotion.reason ?? promotion.state } : { code: result === 'success' ? 1 : 0 },
    },
  ];
  // In an environment with gates: the time it waited on them (approvals, soak, a window) before it
  // ran, or until it was refused.
  const gatesEnd = promotion.startedAt ?? (promotion.state === 'rejected' || promotion.state === 'cancelled' ? end : undefined);
  if (promotion.plan.gates.length > 0 && gatesEnd !== undefined) {
    spans.push({
      traceId,
      spanId: idOf(`gates:${promotion.id}`, 8),
      parentSpanId: rootId,
      name: 'gates',
      kind: 1,
      startTimeUnixNano: nanos(promotion.requestedAt),
      endTimeUnixNano: nanos(gatesEnd),
      attributes: attributes({ 'lockstep.gates.passed': promotion.startedAt !== undefined }),
      status: { code: 0 },
    });
  }
  const types = new Map(promotion.plan.steps.map((s) => [s.component, s.type]));
  for (const step of steps) {
    if (step.startedAt === undefined) continue;
    const taskResult = resultOf(step);
    spans.push({
      traceId,
      spanId: idOf(`step:${promotion.id}:${step.component}`, 8),
      parentSpanId: rootId,
      name: step.component,
      kind: 1,
      startTimeUnixNano: nanos(step.startedAt),
      endTimeUnixNano: nanos(step.finishedAt ?? end),
      attributes: attributes({
        'cicd.pipeline.task.name': step.component,
        'cicd.pipeline.task.run.id': `${promotion.id}/${step.component}`,
        'cicd.pipeline.task.type': 'deploy',
        'cicd.pipeline.task.run.result': taskResult,
        // The phase it failed in: a rollback since has moved the step's own phase on.
        'error.type':
          taskResult === 'failure' || taskResult === 'error'
            ? ((promotion.failure?.component === step.component ? promotion.failure.phase : step.phase) ?? step.state)
            : undefined,
        'lockstep.component.type': types.get(step.component),
        'lockstep.step.state': step.state,
        'lockstep.step.action': step.action,
        'lockstep.step.from_version': step.fromVersion,
        'lockstep.step.to_version': step.toVersion,
        'lockstep.step.attempts': step.attempts,
      }),
      status:
        taskResult === 'failure' || taskResult === 'error'
          ? { code: 2, message: step.rollbackError ?? step.error ?? step.state }
          : { code: taskResult === 'success' ? 1 : 0 },
    });
  }
  return {
    resourceSpans: [
      {
        resource: { attributes: attributes({ ...resource.attributes, 'service.name': resource.serviceName, 'service.version': resource.version }) },
        scopeSpans: [{ scope: { name: 'lockstep', version: resource.version }, spans }],
      },
    ],
  };
}

/** A step that failed itself stays a failure once rolled back; one rolled back for another's failure was cancelled. */
function resultOf(step: StepRecord): string {
  const undone = step.state === 'rolling-back' || step.state === 'rolled-back' || step.state === 'rollback-failed';
  return undone && step.error !== undefined ? 'failure' : TASK_RESULT[step.state];
}

function attributes(values: Record<string, string | number | boolean | undefined>): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (typeof value === 'number') out.push({ key, value: { intValue: String(value) } });
    else if (typeof value === 'boolean') out.push({ key, value: { boolValue: value } });
    else out.push({ key, value: { stringValue: value } });
  }
  return out;
}

/** An ISO 8601 time as OTLP's nanoseconds since the epoch, a decimal string (it exceeds 2^53). */
function nanos(iso: string): string {
  return `${BigInt(Date.parse(iso)) * 1_000_000n}`;
}

/** A stable, non-zero id of `bytes` bytes in lowercase hex (OTLP JSON writes ids in hex). */
function idOf(seed: string, bytes: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, bytes * 2);
}
