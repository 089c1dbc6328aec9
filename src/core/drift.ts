import type { Observed, ObservedDifference } from './adapter.js';
import { REDACTED } from './redact.js';

/**
 * Drift: what runs now in an environment, as each component's adapter observes it, against what
 * Lockstep recorded there (the version applied and what that version means for the system). Pure:
 * the engine observes and records; this module only compares and describes.
 */

/** What is shown in the place of a secret value: only whether it changed. */
export const SECRET_EXPECTED = '(secret)';
export const SECRET_FOUND = '(secret, changed)';

/** One difference between the record and the system. Never holds a secret value. */
export interface DriftFinding {
  component: string;
  /** What differs: `version`, `hosts.web-1.current`, `values.yaml image.tag`, `migrations.0002 checksum`. */
  field: string;
  expected: string;
  found: string;
}

export const COMPONENT_DRIFT_STATES = ['clean', 'drifted', 'cannot-observe', 'not-deployed', 'error'] as const;
export type ComponentDriftState = (typeof COMPONENT_DRIFT_STATES)[number];

/** One component's check. */
export interface ComponentDrift {
  component: string;
  type: string;
  state: ComponentDriftState;
  /** The version Lockstep recorded in the environment (absent: never deployed there). */
  recordedVersion?: string;
  /** The version the system runs, when its adapter can tell. */
  observedVersion?: string;
  findings: DriftFinding[];
  /** Why it could not be observed or compared (no secret: the engine redacts it). */
  note?: string;
}

/** One environment's check, as `lockstep drift` prints it and the API returns it. */
export interface DriftReport {
  environment: string;
  checkedAt: string;
  components: ComponentDrift[];
  /** True when any component drifted. */
  drifted: boolean;
  /** Why the environment was not checked (a promotion is running there). */
  skipped?: string;
}

/** What the store keeps of a component's last drift check (shown by `status`). */
export interface DriftState extends ComponentDrift {
  environment: string;
  checkedAt: string;
}

export interface CompareInput {
  component: string;
  type: string;
  /** The version recorded for the component in the environment. */
  recordedVersion: string;
  observed: Observed;
  /** The outputs recorded when the component was applied (sensitive ones are not stored, so not compared). */
  recordedOutputs?: Readonly<Record<string, unknown>>;
  /** Names of outputs that are sensitive: never compared, never shown. */
  sensitiveOutputs?: readonly string[];
  /** Whether a value came from a secret or a sensitive output (then only "changed" is shown). */
  isSensitive?: (value: string) => boolean;
}

/**
 * Compares what an adapter observed with the record. Findings come from the adapter's structured
 * differences when it gives them, otherwise from its free-text drift lines; a version other than the
 * recorded one is always a finding. Secret values are replaced by SECRET_EXPECTED / SECRET_FOUND.
 */
export function compareObserved(input: CompareInput): ComponentDrift {
  const { component, type, recordedVersion, observed } = input;
  const sensitive = input.isSensitive ?? (() => false);
  const findings: DriftFinding[] = [];
  for (const d of observed.differences ?? []) findings.push(finding(component, d, sensitive));
  // An adapter that describes differences field by field describes all of them there.
  if (observed.differences === undefined) {
    for (const line of observed.drift ?? []) findings.push({ component, field: 'state', expected: 'as applied', found: line });
  }
  const recorded = input.recordedOutputs ?? {};
  const hidden = new Set(input.sensitiveOutputs ?? []);
  for (const [name, now] of Object.entries(observed.outputs ?? {})) {
    if (hidden.has(name) || !Object.hasOwn(recorded, name)) continue;
    const was = recorded[name];
    // A value the store keeps redacted was a secret when it was recorded: never compared, never shown.
    if (was === REDACTED) continue;
    if (outputText(was) !== outputText(now)) {
      findings.push(finding(component, { field: `outputs.${name}`, expected: outputText(was), found: outputText(now) }, sensitive));
    }
  }
  const versionNamed = findings.some((f) => f.field === 'version');
  if (observed.version !== undefined && observed.version !== recordedVersion && !versionNamed) {
    findings.unshift(finding(component, { field: 'version', expected: recordedVersion, found: observed.version }, sensitive));
  }
  const result: ComponentDrift = {
    component,
    type,
    state: findings.length > 0 ? 'drifted' : 'clean',
    recordedVersion,
    findings,
  };
  if (observed.version !== undefined) result.observedVersion = observed.version;
  return result;
}

function outputText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
}

function finding(component: string, d: ObservedDifference, sensitive: (value: string) => boolean): DriftFinding {
  const secret = d.sensitive === true || sensitive(d.expected) || sensitive(d.found);
  return secret
    ? { component, field: d.field, expected: SECRET_EXPECTED, found: d.expected === d.found ? SECRET_EXPECTED : SECRET_FOUND }
    : { component, field: d.field, expected: d.expected, found: d.found };
}

/** Whether any component of the report drifted. */
export function hasDrift(components: readonly ComponentDrift[]): boolean {
  return components.some((c) => c.state === 'drifted');
}

/**
 * What changed since the last check of a component, for the audit log: `detected` when it drifts
 * now and did not before, or drifts differently; `cleared` when it drifted before and is clean now.
 * Undefined when nothing changed (the same drift seen again is not recorded again). Pure.
 */
export function driftChange(
  before: Pick<ComponentDrift, 'state' | 'findings'> | undefined,
  now: Pick<ComponentDrift, 'state' | 'findings'>,
): 'detected' | 'cleared' | undefined {
  const drifted = (c: Pick<ComponentDrift, 'state'> | undefined): boolean => c?.state === 'drifted';
  if (drifted(now)) {
    if (!drifted(before)) return 'detected';
    return sameFindings(before?.findings ?? [], now.findings) ? undefined : 'detected';
  }
  if (drifted(before) && now.state === 'clean') return 'cleared';
  return undefined;
}

function sameFindings(a: readonly DriftFinding[], b: readonly DriftFinding[]): boolean {
  const key = (f: DriftFinding): string => JSON.stringify([f.field, f.expected, f.found]);
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.length === right.length && left.every((k, i) => k === right[i]);
}
