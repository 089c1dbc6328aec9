import { ROLES } from '../core/access.js';
import { PROMOTION_STATES, STEP_STATES } from '../core/model.js';

/**
 * Shape checks for the JSON records a store (SQLite, PostgreSQL) reads back. The store wrote them, so a failure
 * means the data was damaged or edited by hand: the store turns it into a StateError naming the table
 * and the entry, instead of a TypeError deep in a command. The checks cover the fields the rest of
 * Lockstep reads without looking; fields added later are optional, so older records still pass.
 *
 * A check returns what is wrong with the value, or undefined when it has the shape.
 */
export type RowCheck = (value: unknown) => string | undefined;

type Kind = 'text' | 'number' | 'boolean' | 'object' | 'list' | 'map of text';
/** A field's kind; `?` when it may be absent. */
type FieldSpec = Kind | `${Kind}?`;

const KIND_NAMES: Readonly<Record<Kind, string>> = {
  text: 'text',
  number: 'a number',
  boolean: 'a boolean',
  object: 'an object',
  list: 'a list',
  'map of text': 'a map of text',
};

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'text';
  return `a ${typeof value}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fits(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'text':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return isObject(value);
    case 'list':
      return Array.isArray(value);
    case 'map of text':
      return isObject(value) && Object.values(value).every((v) => typeof v === 'string');
  }
}

function shape(fields: Readonly<Record<string, FieldSpec>>, extra?: (record: Record<string, unknown>) => string | undefined): RowCheck {
  return (value) => {
    if (!isObject(value)) return `the record is ${kindOf(value)}, not an object`;
    for (const [field, spec] of Object.entries(fields)) {
      const optional = spec.endsWith('?');
      const kind = (optional ? spec.slice(0, -1) : spec) as Kind;
      const member = Object.hasOwn(value, field) ? value[field] : undefined;
      if (member === undefined) {
        if (optional) continue;
        return `field ${field} is missing`;
      }
      if (!fits(member, kind)) return `field ${field} must be ${KIND_NAMES[kind]}, not ${kindOf(member)}`;
    }
    return extra?.(value);
  };
}

function oneOf(field: string, allowed: readonly string[]): (record: Record<string, unknown>) => string | undefined {
  return (record) => (allowed.includes(record[field] as string) ? undefined : `field ${field} is ${JSON.stringify(record[field])}, not one of ${allowed.join(', ')}`);
}

/** `labels` may be absent: it reads as no labels. */
export const checkRelease: RowCheck = shape({
  id: 'text',
  project: 'text',
  versions: 'map of text',
  labels: 'map of text?',
  message: 'text?',
  createdAt: 'text',
  createdBy: 'text',
  from: 'text?',
});

export const checkCancelRequest: RowCheck = shape({ promotionId: 'text', by: 'text', reason: 'text?', at: 'text' });

export const checkEvidence: RowCheck = shape({ promotionId: 'text', createdAt: 'text', keyid: 'text?', envelope: 'object' }, (record) => {
  const envelope = record.envelope as Record<string, unknown>;
  return typeof envelope.payloadType === 'string' && typeof envelope.payload === 'string' && Array.isArray(envelope.signatures)
    ? undefined
    : 'field envelope is not a DSSE envelope';
});

export const checkRejection: RowCheck = shape({ by: 'text', reason: 'text', at: 'text' });

const checkPlan = shape({ steps: 'list', levels: 'list', gates: 'list', digest: 'text' });

export const checkPromotion: RowCheck = shape(
  {
    id: 'text',
    project: 'text',
    releaseId: 'text',
    environment: 'text',
    kind: 'text',
    state: 'text',
    requestedBy: 'text',
    requestedAt: 'text',
    configDigest: 'text',
    plan: 'object',
    concurrency: 'number',
    onFailure: 'text',
  },
  (record) => {
    const plan = checkPlan(record.plan);
    return plan === undefined ? oneOf('state', PROMOTION_STATES)(record) : `plan: ${plan}`;
  },
);

export const checkStep: RowCheck = shape(
  {
    promotionId: 'text',
    component: 'text',
    environment: 'text',
    state: 'text',
    action: 'text',
    toVersion: 'text',
    fromVersion: 'text?',
    reversible: 'boolean',
    applyStarted: 'boolean',
    attempts: 'number',
    idempotencyKey: 'text',
    outputs: 'object?',
  },
  oneOf('state', STEP_STATES),
);

export const checkComponentState: RowCheck = shape({
  environment: 'text',
  component: 'text',
  version: 'text',
  releaseId: 'text',
  promotionId: 'text',
  configDigest: 'text',
  outputs: 'object',
  updatedAt: 'text',
});

export const checkApproval: RowCheck = shape(
  { promotionId: 'text', actor: 'text', decision: 'text', comment: 'text?', planDigest: 'text', at: 'text', expiresAt: 'text?', groups: 'list?' },
  (record) => {
    const groups = record.groups;
    if (Array.isArray(groups) && !groups.every((g) => typeof g === 'string')) return 'field groups must be a list of text';
    return oneOf('decision', ['approve', 'reject'])(record);
  },
);

/** An audit entry's `data` is an object; what is in it is the hash chain's business. */
export const checkAuditData: RowCheck = (value) => (isObject(value) ? undefined : `it is ${kindOf(value)}, not an object`);

/** `role` and `environments` narrow a token: a damaged one must not read as a token without limits. */
export const checkToken: RowCheck = shape(
  {
    name: 'text',
    identity: 'text',
    role: 'text?',
    environments: 'list?',
    hash: 'text',
    createdAt: 'text',
    createdBy: 'text',
    expiresAt: 'text?',
    revokedAt: 'text?',
  },
  (record) => {
    if (record.role !== undefined && !(ROLES as readonly unknown[]).includes(record.role)) return oneOf('role', ROLES)(record);
    const envs = record.environments;
    if (Array.isArray(envs) && !envs.every((e) => typeof e === 'string')) return 'field environments must be a list of text';
    return undefined;
  },
);

/** A queued notification: what the dispatcher sends and `notify log` shows. */
export const checkDelivery: RowCheck = shape(
  {
    deliveryId: 'text',
    target: 'text',
    event: 'text',
    cloudEventType: 'text?',
    auditSeq: 'number?',
    createdAt: 'text',
    contentType: 'text',
    body: 'text',
    attempts: 'number',
    deliveredAt: 'text?',
    history: 'list',
  },
);

export const checkDriftState: RowCheck = shape({ environment: 'text', component: 'text', type: 'text', state: 'text', findings: 'list', checkedAt: 'text' });
