import type { z } from 'zod';
import type { Risk, StepAction } from './model.js';

/**
 * The Adapter port: one implementation per component type (`command`, `gitops`, `terraform`, …).
 * Adapters import core; core never imports adapters. They are registered in one place
 * (src/adapters/registry.ts).
 *
 * Contract:
 * - `spec` validates the component's `with:` block. It is also the *consumer's declared type* for typed
 *   handoffs: `lockstep validate` runs it over placeholders of each reference's declared type.
 * - `plan` is read-only.
 * - `apply` is convergent: applying version X when the system runs X changes nothing.
 * - Every method honours `ctx.signal` and throws `StepFailure` (with `retryable`) for failures it
 *   understands; anything else is treated as not retryable.
 */
export interface Adapter<Spec = unknown> {
  readonly type: string;
  /** One line for `lockstep schema` and the docs. */
  readonly description: string;
  /** Schema of `with:`; errors carry the dotted path below `with`. */
  readonly spec: z.ZodType<Spec>;
  /**
   * Templates the adapter renders itself, at run time, because their values exist only then (an
   * http poll URL reading `${{ response.id }}` of the trigger's response). In these fields (paths
   * below `with`, matched as prefixes), expressions that reference only these roots are left as
   * written by the engine and accepted by `validate`.
   */
  readonly lateBound?: LateBound;
  /** What this adapter can do for this spec: capabilities are data, never `type === …` checks. */
  capabilities(spec: Spec): AdapterCapabilities;
  plan(spec: Spec, ctx: StepContext): Promise<AdapterPlan>;
  /**
   * Returns the outputs. Those the system itself marks sensitive are named with `withSensitive`; the
   * engine treats them exactly as outputs declared `sensitive: true`.
   */
  apply(spec: Spec, plan: AdapterPlan, ctx: StepContext): Promise<Outputs>;
  /**
   * Reads the outputs the system holds now, without changing anything (`terraform output -json`,
   * `DescribeStacks`). The engine calls it when a dependent needs a sensitive output of a component it
   * did not apply in this process: sensitive values are never stored, so the system is their only
   * source. Adapters that cannot read outputs back leave it out.
   */
  readOutputs?(spec: Spec, ctx: StepContext): Promise<Outputs>;
  verify?(spec: Spec, outputs: Outputs, ctx: StepContext): Promise<void>;
  /** Brings the system back to `ctx.previousVersion`. Only called when `capabilities(spec).reversible`. */
  rollback?(spec: Spec, ctx: StepContext): Promise<void>;
  /**
   * What runs now, read-only: after a crash, to decide whether an in-flight step finished; and for
   * `lockstep drift`, where `ctx.version` is the version recorded in the environment and the adapter
   * says how the system differs from it (Observed.differences). Only called when
   * `capabilities(spec).observe`; adapters that cannot observe leave it out and are reported as such.
   */
  observe?(spec: Spec, ctx: StepContext): Promise<Observed>;
}

export interface LateBound {
  fields: readonly (readonly string[])[];
  roots: readonly string[];
}

/** Whether an expression at `at` (below `with`) referencing `refs` is the adapter's to render. */
export function isLateBound(late: LateBound | undefined, at: readonly (string | number)[], refs: readonly (readonly string[])[]): boolean {
  if (!late || refs.length === 0) return false;
  const inField = late.fields.some((f) => f.every((key, i) => at[i] === key));
  return inField && refs.every((r) => late.roots.includes(r[0] ?? ''));
}

export interface AdapterCapabilities {
  /** A rollback brings the previous version back. */
  reversible: boolean;
  /** Applying twice is safe: after a crash an in-flight apply may be re-run. */
  idempotentApply: boolean;
  /** `observe` can tell the running version. */
  observe: boolean;
  /**
   * The system can mark outputs sensitive on its own (Terraform's `sensitive = true`), so any step of
   * this type may produce a secret that lockstep.yaml does not name. The engine then holds the step's
   * log lines while it applies, until it knows the outputs and can redact them.
   */
  sensitiveOutputs?: boolean;
}

export interface AdapterPlan {
  /** The adapter may say a component needs nothing even when its version changed. */
  action?: StepAction;
  /** One line: what will change. */
  summary: string;
  /** More: a diff, the command's dry-run output. */
  details?: string;
  /** True when this apply cannot be undone (drops a column, deletes a resource). */
  irreversible?: boolean;
  /**
   * Why a rollback of this apply would be refused although the component is reversible in general
   * (a Terraform rollback that would destroy what this plan creates, with `allowDestroy: false`). The
   * plan then shows the step as "not reversible, because …" before anyone relies on it.
   */
  notReversible?: string;
  risk?: Risk;
  /**
   * Adapter-private data handed back to apply (a saved plan file's path, a change set id). It is
   * stored with the promotion's plan, so it must be JSON and hold no secret. The engine applies the
   * plan that was shown at promote time when it has data; otherwise it plans again inside the step.
   */
  data?: unknown;
  /**
   * What the outputs will be once this plan is applied, where the system can say before applying
   * (Terraform's saved plan, a CloudFormation change set, a command's `plan` script). Dependents are
   * planned against the known values; an output in `unknown`, or one the adapter does not mention,
   * is shown to them as "(known after X applies)". Left out: every output is unknown.
   */
  outputs?: PlannedOutputs;
}

/** Planned outputs: see AdapterPlan.outputs. Values here are checked against the declarations like applied ones. */
export interface PlannedOutputs {
  /** Output values known before applying, by name. */
  known: Record<string, unknown>;
  /** Names whose values only the apply will tell. */
  unknown: string[];
  /** Names the system marks sensitive (known or not): their values are redacted everywhere. */
  sensitive?: string[];
}

/** The key under which outputs carry the names the system marks sensitive (see withSensitive). */
export const SENSITIVE_OUTPUTS: unique symbol = Symbol('lockstep.sensitiveOutputs');

/**
 * Output values by name. A symbol key, not a string one, carries the sensitive names: a command may
 * write any string key to its outputs file, and parsed JSON never has a symbol key.
 */
export type Outputs = Record<string, unknown> & { readonly [SENSITIVE_OUTPUTS]?: readonly string[] };

/** `values`, with `names` marked as sensitive by the system that produced them. */
export function withSensitive(values: Record<string, unknown>, names: readonly string[]): Outputs {
  return names.length === 0 ? values : { ...values, [SENSITIVE_OUTPUTS]: [...names] };
}

/** The names an adapter marked sensitive in its outputs (none for a plain object). */
export function sensitiveOutputNames(outputs: Outputs): readonly string[] {
  return outputs[SENSITIVE_OUTPUTS] ?? [];
}

export interface Observed {
  /** The version the system runs now, if the adapter can tell. */
  version?: string;
  /** Where the system disagrees with itself (hosts on different versions, a value changed by hand). */
  drift?: string[];
  /**
   * What differs from what this version means for the system, field by field (a host's `current`, a
   * value at a path of a file, a migration's checksum): `lockstep drift` lists these. Values that come
   * from a secret or a sensitive output are marked `sensitive` and are shown as changed only.
   * Adapters that give them describe every difference here (the free-text `drift` is then not used).
   */
  differences?: ObservedDifference[];
  /**
   * The outputs as the system gives them now (a Lambda alias's function version and code hash): for
   * drift, each is compared with the output recorded when the component was applied. Sensitive ones
   * are compared but never shown.
   */
  outputs?: Record<string, unknown>;
  /** Anything else worth showing (per-host versions, the revision an Application runs). No secrets. */
  details?: Record<string, unknown>;
}

/** One field where the system differs from what the observed version means. */
export interface ObservedDifference {
  field: string;
  expected: string;
  found: string;
  sensitive?: boolean;
}

export interface StepLogger {
  (line: string): void;
}

export interface StepContext {
  readonly signal: AbortSignal;
  /** Streams one line into the step log (the engine redacts secrets before storing or printing). */
  readonly log: StepLogger;
  /** Tells the engine the step is alive (long applies call it at least every few seconds). */
  readonly heartbeat: () => void;
  /** Stable across retries and resumes of the same step: systems that dedupe on a key can use it. */
  readonly idempotencyKey: string;
  readonly project: string;
  readonly projectDir: string;
  /**
   * A directory the adapter may keep caches in (a git clone cache, downloaded artifacts), shared by
   * every promotion of this project on this machine. Adapters lock what they share inside it.
   */
  readonly cacheDir: string;
  /**
   * The directory holding the state database. Unlike the cache, it is durable and backed up with the
   * database: an adapter keeps here, in a folder of its own, what must not be lost (Terraform's local
   * state, under `terraform-state/`).
   */
  readonly stateDir: string;
  /**
   * Whether a value in the spec came from a secret or a sensitive output. A plan or log line that
   * compares old and new values names such a value instead of showing it (the engine redacts the
   * new value anyway, but cannot know the old one the adapter read from the system).
   */
  readonly isSensitive: (value: string) => boolean;
  readonly environment: { readonly name: string; readonly vars: Readonly<Record<string, unknown>> };
  readonly release: { readonly id: string; readonly versions: Readonly<Record<string, string>> };
  readonly promotionId: string;
  readonly component: string;
  /** The version this step brings the component to (for rollback: the version being undone). */
  readonly version: string;
  /** The version running before this promotion, if any; rollback brings it back. */
  readonly previousVersion: string | undefined;
  /**
   * Where the processes this call starts keep their records (`runs/<promotion>/<component>/<phase>-<attempt>`
   * beside the state): pid and start identity, output, exit status, outputs file. The same for the
   * same step, phase and attempt after a restart, so that an adapter entered again after a crash
   * returns the recorded result of a process that finished instead of running it again, and waits for
   * one still running instead of starting a second (see run-journal.ts). Undefined when no record
   * is kept (planning, observing, drift checks: read-only work that is simply done again).
   */
  readonly runDir?: string;
  /**
   * This step applies the version that runs already, because a person asked (`promote --reapply`) to
   * correct drift: an adapter may then also put back records of its own that were changed by hand (a
   * migration history row's checksum), which a plain apply refuses to touch.
   */
  readonly reapply?: boolean;
}
