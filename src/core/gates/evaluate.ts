import { expandPeople, listsPerson } from '../config/gate-rules.js';
import { formatDuration, parseDuration } from '../duration.js';
import { errorMessage } from '../errors.js';
import type {
  ApprovalRecord,
  EnvironmentConfig,
  GateStatus,
  PlannedGate,
  PromotionKind,
  PromotionPlan,
  ReleaseRecord,
} from '../model.js';
import { compileCel, type CompiledCel, type PolicyVariables } from './cel.js';
import { formatInZone, parseWindow, windowStatus, type ParsedWindow } from './windows.js';

/** How long a release has run healthy in an upstream environment, for the soak gate. */
export interface UpstreamRun {
  environment: string;
  /** When it was verified healthy there (verification passed, or the run succeeded without checks). */
  verifiedAt?: string;
  /** When a later promotion started changing that environment; absent while the release still runs there. */
  replacedAt?: string;
}

export interface GateInput {
  environment: EnvironmentConfig;
  groups: Readonly<Record<string, readonly string[]>>;
  release: ReleaseRecord;
  plan: PromotionPlan;
  kind: PromotionKind;
  requestedBy: string;
  approvals: readonly ApprovalRecord[];
  upstream: readonly UpstreamRun[];
  windowOverride?: { by: string; reason: string };
  now: Date;
}

export const APPROVAL_IGNORED = ['plan-changed', 'expired', 'not-allowed', 'duplicate'] as const;
export type ApprovalIgnored = (typeof APPROVAL_IGNORED)[number];

export interface ApprovalTally {
  /** Approvals that count now, one per person. */
  counted: ApprovalRecord[];
  /** Approvals that do not count, and why. */
  ignored: { approval: ApprovalRecord; why: ApprovalIgnored; message: string }[];
  /** People who may still approve. */
  mayApprove: string[];
}

export interface GateEvaluation {
  gates: PlannedGate[];
  /** blocked if any gate is; else waiting if any gate is; else passed. */
  verdict: GateStatus;
  tally: ApprovalTally;
  /** One line: what is missing, or that every gate passed. */
  summary: string;
}

/**
 * Evaluates an environment's gates against a plan: the promotion path (from the plan), a release
 * rejection, approvals (bound to the plan digest), soak time, change windows and policies. Verify
 * checks run after the promotion and are not gates here. Pure: `now` and everything read from the
 * store come in as input.
 */
export function evaluateGates(input: GateInput): GateEvaluation {
  const gates: PlannedGate[] = input.plan.gates.filter((g) => g.gate === 'promotion-path');
  const config = input.environment.gates;
  if (input.release.rejected) {
    const r = input.release.rejected;
    gates.push({ gate: 'release', status: 'blocked', message: `release rejected by ${r.by} at ${r.at}: ${r.reason}` });
  }
  const tally = tallyApprovals(input);
  if (config?.approvals) gates.push(approvalGate(input, tally));
  if (config?.soak !== undefined) gates.push(soakGate(input, config.soak));
  if (config && config.windows.length > 0) gates.push(windowGate(input));
  config?.policy.forEach((policy, i) => gates.push(policyGate(input, tally, i, policy.expr, policy.message)));

  const verdict: GateStatus = gates.some((g) => g.status === 'blocked') ? 'blocked' : gates.some((g) => g.status === 'waiting') ? 'waiting' : 'passed';
  const open = gates.filter((g) => g.status === verdict);
  const summary = verdict === 'passed' ? (gates.length === 0 ? 'no gates' : 'every gate passed') : open.map((g) => `${g.gate}: ${g.message}`).join('; ');
  return { gates, verdict, tally, summary };
}

/**
 * Why `actor` may not approve (or reject) this promotion, or undefined when they may. `providerGroups`:
 * the groups the identity provider said the actor was in when they decided (ApprovalRecord.groups).
 */
export function approvalRefusal(
  input: Pick<GateInput, 'environment' | 'groups' | 'release' | 'requestedBy'>,
  actor: string,
  providerGroups: readonly string[] = [],
): string | undefined {
  const config = input.environment.gates?.approvals;
  if (!config) return `${input.environment.name} needs no approvals`;
  const who = actor.toLowerCase();
  if (!listsPerson(config.from, input.groups, actor, providerGroups)) return `${actor} is not allowed to approve promotions to ${input.environment.name} (approvals.from: ${config.from.join(', ')})`;
  if (config.separationOfDuties && who === input.requestedBy.toLowerCase()) {
    return `${actor} requested this promotion and cannot approve it (separation of duties)`;
  }
  if (config.separationOfDuties && who === input.release.createdBy.toLowerCase()) {
    return `${actor} created release ${input.release.id.slice(0, 12)} and cannot approve its promotion (separation of duties)`;
  }
  return undefined;
}

export function tallyApprovals(input: GateInput): ApprovalTally {
  const config = input.environment.gates?.approvals;
  const counted: ApprovalRecord[] = [];
  const ignored: ApprovalTally['ignored'] = [];
  const seen = new Set<string>();
  for (const approval of input.approvals) {
    if (approval.decision !== 'approve') continue;
    const who = approval.actor.toLowerCase();
    const refusal = approvalRefusal(input, approval.actor, approval.groups);
    if (approval.planDigest !== input.plan.digest) {
      ignored.push({ approval, why: 'plan-changed', message: `the plan changed after ${approval.actor} approved it (approved ${approval.planDigest.slice(0, 12)}, now ${input.plan.digest.slice(0, 12)})` });
    } else if (approval.expiresAt !== undefined && Date.parse(approval.expiresAt) <= input.now.getTime()) {
      ignored.push({ approval, why: 'expired', message: `the approval by ${approval.actor} expired at ${approval.expiresAt}` });
    } else if (refusal !== undefined) {
      ignored.push({ approval, why: 'not-allowed', message: refusal });
    } else if (seen.has(who)) {
      ignored.push({ approval, why: 'duplicate', message: `${approval.actor} already approved: each person counts once` });
    } else {
      seen.add(who);
      counted.push(approval);
    }
  }
  const mayApprove = config
    ? [...expandPeople(config.from, input.groups)].filter((p) => !seen.has(p) && approvalRefusal(input, p) === undefined)
    : [];
  return { counted, ignored, mayApprove };
}

function approvalGate(input: GateInput, tally: ApprovalTally): PlannedGate {
  const config = input.environment.gates?.approvals;
  const count = config?.count ?? 0;
  const by = tally.counted.map((a) => a.actor);
  // Approvals that stopped counting, and why: their givers are told here, and in the audit log.
  const lapsed = tally.ignored.filter((i) => i.why === 'plan-changed' || i.why === 'expired');
  const lapsedNote = lapsed.length > 0 ? `; no longer counting: ${lapsed.map((i) => `${i.approval.actor} (${i.why === 'expired' ? 'expired' : 'the plan changed since'})`).join(', ')}` : '';
  const have = `${by.length} of ${count} approvals${by.length > 0 ? ` (${by.join(', ')})` : ''}`;
  if (by.length >= count) return { gate: 'approvals', status: 'passed', message: have };
  const needed = count - by.length;
  const short = tally.mayApprove.length < needed ? `; only ${tally.mayApprove.length} more ${tally.mayApprove.length === 1 ? 'person' : 'people'} can approve` : '';
  return {
    gate: 'approvals',
    status: 'waiting',
    message: `${have}; ${needed} more from: ${tally.mayApprove.join(', ') || 'nobody'}${short}${lapsedNote}`,
    who: tally.mayApprove,
  };
}

function soakGate(input: GateInput, soak: string): PlannedGate {
  const ms = parseDuration(soak) ?? 0;
  if (input.kind === 'rollback') return { gate: 'soak', status: 'passed', message: 'a rollback brings back a release that ran here before' };
  const after = input.environment.after;
  if (after.length === 0) return { gate: 'soak', status: 'passed', message: 'no upstream environment' };
  const waiting: string[] = [];
  let until = 0;
  for (const name of after) {
    const run = input.upstream.find((u) => u.environment === name);
    if (!run?.verifiedAt) {
      waiting.push(`not yet verified in ${name}`);
      continue;
    }
    const from = Date.parse(run.verifiedAt);
    const end = run.replacedAt !== undefined ? Date.parse(run.replacedAt) : input.now.getTime();
    if (end - from >= ms) continue;
    if (run.replacedAt !== undefined) {
      waiting.push(`${name} replaced this release after ${formatDuration(end - from)} of ${soak}: promote it there again`);
    } else {
      waiting.push(`${name}: ${formatDuration(end - from)} of ${soak}, ${formatDuration(from + ms - end)} to go`);
      until = Math.max(until, from + ms);
    }
  }
  if (waiting.length === 0) return { gate: 'soak', status: 'passed', message: `ran ${soak} in ${after.join(', ')}` };
  return { gate: 'soak', status: 'waiting', message: waiting.join('; '), until: until > 0 ? new Date(until).toISOString() : undefined };
}

const parsedWindows = new Map<string, ParsedWindow>();

function windowGate(input: GateInput): PlannedGate {
  const windows = (input.environment.gates?.windows ?? []).map((w) => {
    const key = JSON.stringify(w);
    let parsed = parsedWindows.get(key);
    if (!parsed) {
      const result = parseWindow(w);
      // validate has checked every window; a failure here is a bug, not bad input.
      if (!result.ok) throw new Error(`change window ${key}: ${result.message}`);
      parsed = result.window;
      parsedWindows.set(key, parsed);
    }
    return parsed;
  });
  const status = windowStatus(windows, input.now);
  if (status.open) return { gate: 'windows', status: 'passed', message: status.message };
  if (input.windowOverride) {
    return { gate: 'windows', status: 'passed', message: `OVERRIDDEN by ${input.windowOverride.by} (${input.windowOverride.reason}); ${status.message}` };
  }
  if (!status.opensAt) return { gate: 'windows', status: 'blocked', message: `${status.message}; no window opens within 400 days` };
  const zone = windows.find((w) => w.kind === 'allow')?.timezone ?? windows[0]?.timezone ?? 'UTC';
  return {
    gate: 'windows',
    status: 'waiting',
    message: `${status.message}; opens ${formatInZone(status.opensAt, zone)} (in ${formatDuration(status.opensAt.getTime() - input.now.getTime())})`,
    until: status.opensAt.toISOString(),
  };
}

const compiledPolicies = new Map<string, CompiledCel>();

function policyGate(input: GateInput, tally: ApprovalTally, index: number, expr: string, message: string | undefined): PlannedGate {
  const gate = `policy[${index}]`;
  let compiled = compiledPolicies.get(expr);
  try {
    if (!compiled) {
      compiled = compileCel('policy', expr);
      compiledPolicies.set(expr, compiled);
    }
    // The message says what is wrong when the policy is false: a policy that holds shows what holds.
    if (compiled.evaluate({ ...policyVariables(input, tally) })) return { gate, status: 'passed', message: `holds: ${expr}` };
  } catch (error) {
    return { gate, status: 'blocked', message: `${expr}: ${errorMessage(error)}` };
  }
  // False now; with more approvals, or later, it may hold.
  const canChange = compiled.references.has('approvals') || compiled.references.has('now');
  return { gate, status: canChange ? 'waiting' : 'blocked', message: message ?? `${expr} is false` };
}

/** The variables a policy sees. */
export function policyVariables(input: GateInput, tally: ApprovalTally): PolicyVariables {
  const steps = input.plan.steps;
  const applied = steps.filter((s) => s.action === 'apply');
  const irreversible = applied.filter((s) => !s.reversible);
  const destructive = applied.filter((s) => s.risk === 'high');
  return {
    release: {
      id: input.release.id,
      versions: input.release.versions,
      labels: input.release.labels,
      message: input.release.message ?? '',
      createdBy: input.release.createdBy,
      createdAt: new Date(input.release.createdAt),
    },
    plan: {
      components: Object.fromEntries(
        steps.map((s) => [s.component, { type: s.type, action: s.action, from: s.fromVersion ?? '', to: s.toVersion, reversible: s.reversible, risk: s.risk }]),
      ),
      changed: applied.map((s) => s.component),
      irreversible: irreversible.length > 0,
      destructive: destructive.length > 0,
      counts: {
        total: steps.length,
        apply: applied.length,
        unchanged: steps.length - applied.length,
        irreversible: irreversible.length,
        destructive: destructive.length,
        unknowns: (input.plan.unknowns ?? []).length,
      },
      unknowns: (input.plan.unknowns ?? []).map((u) => ({ consumer: u.consumer, field: u.field, producer: u.producer, output: u.output })),
    },
    env: { name: input.environment.name, after: input.environment.after },
    approvals: { count: tally.counted.length, by: tally.counted.map((a) => a.actor) },
    now: input.now,
  };
}
