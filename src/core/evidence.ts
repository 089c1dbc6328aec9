import type { AuditEntry } from './audit.js';
import type { ApprovalRecord, PromotionRecord, ReleaseRecord, StepRecord } from './model.js';

/**
 * A promotion's evidence: an in-toto Statement v1 (github.com/in-toto/attestation, spec v1) whose
 * predicate is Lockstep's own promotion record, carried in a DSSE envelope (dsse.ts). Pure: built
 * from the records the store holds, which hold no secret (sensitive outputs are redacted before they
 * are stored, secrets never are). docs/evidence.md documents the predicate and its JSON Schema.
 */

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The predicate's type and version: a change that a v1 reader would misread gets a new URL. */
export const PROMOTION_PREDICATE_TYPE = 'https://lockstep.dev/promotion/v1';

/** in-toto ResourceDescriptor, as subjects use it: a name and a digest set. */
export interface Subject {
  name: string;
  digest: Record<string, string>;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: PromotionPredicate;
}

/** How an actor was established (engine/deps.ts ActorProof, as recorded in the audit data). */
export interface EvidenceIdentity {
  kind: 'claimed' | 'authenticated' | 'automatic' | 'unknown';
  via?: string;
  token?: string;
  issuer?: string;
  subject?: string;
}

export interface PromotionPredicate {
  project: string;
  environment: string;
  release: { id: string; versions: Record<string, string>; createdAt: string; createdBy: string; labels: Record<string, string> };
  promotion: {
    id: string;
    kind: string;
    state: string;
    reason?: string;
    requestedBy: string;
    requestedAt: string;
    startedAt?: string;
    finishedAt?: string;
    configDigest: string;
    rollbackOf?: string;
    windowOverride?: { by: string; reason: string; at: string };
  };
  plan: {
    digest: string;
    irreversible: boolean;
    steps: {
      component: string;
      type: string;
      fromVersion?: string;
      toVersion: string;
      action: string;
      reason: string;
      summary: string;
      reversible: boolean;
      risk: string;
    }[];
  };
  approvals: {
    actor: string;
    decision: 'approve' | 'reject';
    at: string;
    planDigest: string;
    identity: EvidenceIdentity;
    groups?: string[];
    comment?: string;
  }[];
  /** Every gate decision recorded for the promotion, in audit order. */
  gates: { gate: string; status: 'passed' | 'waiting' | 'blocked' | 'overridden'; at: string; actor: string; message?: string; auditSeq: number }[];
  steps: {
    component: string;
    state: string;
    action: string;
    fromVersion?: string;
    toVersion: string;
    startedAt?: string;
    finishedAt?: string;
    attempts: number;
    error?: string;
  }[];
  verification: {
    state: string;
    startedAt: string;
    finishedAt?: string;
    message?: string;
    checks: { name: string; state: string; failures: number; measurements: number; message: string }[];
  } | null;
  rollbacks: { component: string; state: string; at?: string; error?: string }[];
  /** The audit chain's head when the evidence was written: it covers the promotion's last entry. */
  audit: { seq: number; hash: string };
  /** False when no signing key was configured: the envelope then has no signature. */
  signed: boolean;
  generatedAt: string;
}

export interface EvidenceInput {
  promotion: PromotionRecord;
  release: ReleaseRecord;
  steps: readonly StepRecord[];
  approvals: readonly ApprovalRecord[];
  /** The promotion's own audit entries, in sequence order. */
  audit: readonly AuditEntry[];
  head: { seq: number; hash: string };
  signed: boolean;
  now: Date;
}

/** The statement for a promotion. Key order is fixed by construction, so the same input gives the same bytes. */
export function promotionStatement(input: EvidenceInput): Statement {
  return {
    _type: STATEMENT_TYPE,
    subject: evidenceSubjects(input.promotion, input.steps),
    predicateType: PROMOTION_PREDICATE_TYPE,
    predicate: promotionPredicate(input),
  };
}

function promotionPredicate(input: EvidenceInput): PromotionPredicate {
  const { promotion: p, release } = input;
  const approvalEvents = input.audit.filter((e) => e.kind === 'approval.given' || e.kind === 'approval.rejected');
  return {
    project: p.project,
    environment: p.environment,
    release: { id: release.id, versions: release.versions, createdAt: release.createdAt, createdBy: release.createdBy, labels: release.labels },
    promotion: {
      id: p.id,
      kind: p.kind,
      state: p.state,
      ...opt('reason', p.reason),
      requestedBy: p.requestedBy,
      requestedAt: p.requestedAt,
      ...opt('startedAt', p.startedAt),
      ...opt('finishedAt', p.finishedAt),
      configDigest: p.configDigest,
      ...opt('rollbackOf', p.rollbackOf),
      ...opt('windowOverride', p.windowOverride),
    },
    plan: {
      digest: p.plan.digest,
      irreversible: p.plan.irreversible,
      steps: p.plan.steps.map((s) => ({
        component: s.component,
        type: s.type,
        ...opt('fromVersion', s.fromVersion),
        toVersion: s.toVersion,
        action: s.action,
        reason: s.reason,
        summary: s.summary,
        reversible: s.reversible,
        risk: s.risk,
      })),
    },
    approvals: input.approvals.map((a) => {
      const event = approvalEvents.find((e) => e.actor === a.actor && e.time === a.at);
      return {
        actor: a.actor,
        decision: a.decision,
        at: a.at,
        planDigest: a.planDigest,
        identity: identityOf(event?.data),
        ...opt('groups', a.groups),
        ...opt('comment', a.comment),
      };
    }),
    gates: input.audit.flatMap((e) => {
      const status = GATE_STATUS[e.kind];
      if (status === undefined) return [];
      const gate = typeof e.data.gate === 'string' ? e.data.gate : status === 'overridden' ? 'windows' : 'gates';
      const message = typeof e.data.reason === 'string' ? e.data.reason : undefined;
      return [{ gate, status, at: e.time, actor: e.actor, ...opt('message', message), auditSeq: e.seq }];
    }),
    steps: input.steps.map((s) => ({
      component: s.component,
      state: s.state,
      action: s.action,
      ...opt('fromVersion', s.fromVersion),
      toVersion: s.toVersion,
      ...opt('startedAt', s.startedAt),
      ...opt('finishedAt', s.finishedAt),
      attempts: s.attempts,
      ...opt('error', s.error),
    })),
    verification:
      p.verification === undefined
        ? null
        : {
            state: p.verification.state,
            startedAt: p.verification.startedAt,
            ...opt('finishedAt', p.verification.finishedAt),
            ...opt('message', p.verification.message),
            checks: p.verification.checks.map((c) => ({ name: c.name, state: c.state, failures: c.failures, measurements: c.measurements, message: c.message })),
          },
    rollbacks: input.steps
      .filter((s) => s.state === 'rolled-back' || s.state === 'rollback-failed' || s.state === 'rolling-back')
      .map((s) => {
        const event = [...input.audit].reverse().find((e) => e.component === s.component && (e.kind === 'step.rolled-back' || e.kind === 'step.rollback-failed'));
        return { component: s.component, state: s.state, ...opt('at', event?.time), ...opt('error', s.rollbackError) };
      }),
    audit: { seq: input.head.seq, hash: input.head.hash },
    signed: input.signed,
    generatedAt: input.now.toISOString(),
  };
}

const GATE_STATUS: Partial<Record<string, 'passed' | 'waiting' | 'blocked' | 'overridden'>> = {
  'gate.passed': 'passed',
  'gate.waiting': 'waiting',
  'gate.blocked': 'blocked',
  'gate.overridden': 'overridden',
};

function identityOf(data: Record<string, unknown> | undefined): EvidenceIdentity {
  const kind = data?.identity;
  if (kind !== 'claimed' && kind !== 'authenticated' && kind !== 'automatic') return { kind: 'unknown' };
  const out: EvidenceIdentity = { kind };
  for (const field of ['via', 'token', 'issuer', 'subject'] as const) {
    const value = data?.[field];
    if (typeof value === 'string') out[field] = value;
  }
  return out;
}

/** `{ [name]: value }` when value is defined, else nothing: optional members stay absent, never `undefined`. */
function opt<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V };
}

const GIT_COMMIT = /^(?:git:)?([0-9a-f]{40}|[0-9a-f]{64})$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const SHA256_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * The statement's subjects: the release (its id is the SHA-256 of its canonical content), then every
 * artifact of a step whose digest Lockstep knows: a component version or a commit that is a Git
 * commit id, a Lambda version's CodeSha256, a Terraform saved plan's SHA-256, each SQL migration's
 * checksum. Names are unique (`component/what`), sorted within a component.
 */
export function evidenceSubjects(promotion: PromotionRecord, steps: readonly StepRecord[]): Subject[] {
  const subjects: Subject[] = [{ name: `release:${promotion.releaseId}`, digest: { sha256: promotion.releaseId } }];
  const planned = new Map(promotion.plan.steps.map((s) => [s.component, s]));
  for (const step of steps) {
    const found = new Map<string, Record<string, string>>();
    const version = GIT_COMMIT.exec(step.toVersion)?.[1];
    if (version !== undefined) found.set(`${step.component}/version`, { gitCommit: version });
    const data = planned.get(step.component)?.data as Record<string, unknown> | undefined;
    const commit = [step.outputs?.commit, data?.commit].find((c): c is string => typeof c === 'string' && GIT_COMMIT.test(c));
    if (commit !== undefined) found.set(`${step.component}/commit`, { gitCommit: commit.replace(/^git:/, '') });
    const code = step.outputs?.codeSha256;
    if (typeof code === 'string' && SHA256_BASE64.test(code)) found.set(`${step.component}/code`, { sha256: Buffer.from(code, 'base64').toString('hex') });
    if (data?.kind === 'terraform-plan' && typeof data.planSha256 === 'string' && SHA256_HEX.test(data.planSha256))
      found.set(`${step.component}/plan`, { sha256: data.planSha256 });
    if (Array.isArray(data?.steps)) {
      for (const m of data.steps as unknown[]) {
        const mig = m as { direction?: unknown; version?: unknown; checksum?: unknown } | null;
        if (mig === null || typeof mig.version !== 'string' || typeof mig.checksum !== 'string' || !SHA256_HEX.test(mig.checksum)) continue;
        found.set(`${step.component}/migration/${typeof mig.direction === 'string' ? `${mig.direction}/` : ''}${mig.version}`, { sha256: mig.checksum });
      }
    }
    for (const name of [...found.keys()].sort()) subjects.push({ name, digest: found.get(name) ?? {} });
  }
  return subjects;
}

export interface StatementExpectations {
  releaseId?: string;
  environment?: string;
}

/**
 * Checks a decoded payload is a Statement v1 with Lockstep's promotion predicate about what the
 * auditor expects. Returns the reason it is not, or undefined. Never throws.
 */
export function statementProblem(value: unknown, expect: StatementExpectations = {}): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the payload is not a JSON object';
  const s = value as Record<string, unknown>;
  if (s._type !== STATEMENT_TYPE) return `_type is ${JSON.stringify(s._type)}, expected ${STATEMENT_TYPE}`;
  if (!Array.isArray(s.subject) || s.subject.length === 0) return 'subject is not a non-empty list';
  for (const [i, sub] of (s.subject as unknown[]).entries()) {
    const d = (sub as { digest?: unknown } | null)?.digest;
    if (typeof d !== 'object' || d === null || Object.keys(d).length === 0 || Object.values(d).some((v) => typeof v !== 'string'))
      return `subject[${i}] has no digest set`;
  }
  if (s.predicateType !== PROMOTION_PREDICATE_TYPE) return `predicateType is ${JSON.stringify(s.predicateType)}, expected ${PROMOTION_PREDICATE_TYPE}`;
  const p = s.predicate as Partial<PromotionPredicate> | null;
  if (typeof p !== 'object' || p === null) return 'predicate is not an object';
  if (typeof p.environment !== 'string' || typeof p.project !== 'string') return 'predicate lacks project or environment';
  const releaseId = p.release?.id;
  if (typeof releaseId !== 'string') return 'predicate lacks release.id';
  const releaseSubject = (s.subject as Subject[]).find((sub) => sub.name === `release:${releaseId}`);
  if (releaseSubject?.digest.sha256 !== releaseId) return `no subject names release ${releaseId} with that sha256 digest`;
  if (typeof p.plan?.digest !== 'string') return 'predicate lacks plan.digest';
  if (typeof p.audit?.hash !== 'string' || typeof p.audit.seq !== 'number') return 'predicate lacks the audit head';
  if (expect.releaseId !== undefined && !releaseId.startsWith(expect.releaseId))
    return `the evidence is about release ${releaseId}, not ${expect.releaseId}`;
  if (expect.environment !== undefined && p.environment !== expect.environment)
    return `the evidence is about environment ${p.environment}, not ${expect.environment}`;
  return undefined;
}
