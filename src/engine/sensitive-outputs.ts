import { sensitiveOutputNames, type Adapter, type StepContext } from '../core/adapter.js';
import { StepFailure } from '../core/errors.js';
import type { OutputDeclaration, ProjectConfig } from '../core/model.js';
import { checkOutputs, sensitiveNames } from '../core/outputs.js';
import { referencedOutputs } from '../core/plan.js';
import type { Redactor } from '../core/redact.js';

/**
 * Sensitive outputs are never stored: the store keeps `***` in their place. A dependent that needs one
 * of a component this process did not apply (unchanged in this promotion, or applied before a restart)
 * has it read back from the producer's own system, never from the store. Shared by planning and the
 * run, which both render specs that may consume such values.
 */

/** Producer → the sensitive outputs of it that `consumer`'s `with` references. */
export function neededSensitiveOutputs(
  config: ProjectConfig,
  consumer: string,
  sensitiveOf: (producer: string) => readonly string[],
): Map<string, string[]> {
  const needed = new Map<string, string[]>();
  for (const [producer, outputs] of referencedOutputs(config, consumer)) {
    const sensitive = sensitiveOf(producer);
    const names = outputs.has('*') ? [...sensitive] : sensitive.filter((o) => outputs.has(o));
    if (names.length > 0) needed.set(producer, names);
  }
  return needed;
}

export interface ReadBack {
  config: ProjectConfig;
  /** The producer's adapter. */
  adapter: Adapter<unknown>;
  producer: string;
  /** Who needs the values, for the message when they cannot be had. */
  consumer: string;
  /** The outputs the consumer needs (for the message). */
  needed: readonly string[];
  /** Names recorded as sensitive when the producer last applied (system-marked ones included). */
  recordedSensitive: readonly string[];
  spec: unknown;
  ctx: StepContext;
  redactor: Redactor;
}

/**
 * Reads the producer's outputs from its system and returns its sensitive ones (declared, recorded as
 * marked, or marked now), after adding their values to the redactor. Throws StepFailure, saying what
 * to do, when the adapter cannot read outputs back or a needed one is missing.
 */
export async function readSensitiveOutputs(input: ReadBack): Promise<Record<string, unknown>> {
  const { config, adapter, producer, consumer, needed } = input;
  const declared: Record<string, OutputDeclaration> = config.components[producer]?.outputs ?? {};
  const refs = needed.map((o) => `${producer}.outputs.${o}`).join(', ');
  if (!adapter.readOutputs) {
    throw new StepFailure(
      `${consumer} needs ${refs}, sensitive: Lockstep never stores ${needed.length === 1 ? 'its value' : 'their values'}, ${producer} was not applied by this ` +
        `process, and the ${adapter.type} adapter cannot read outputs back from its system. Promote a release that applies ` +
        `${producer} together with ${consumer}, or pass the value as a secret (\${{ secrets.NAME }}) instead of an output`,
      false,
    );
  }
  const produced = await adapter.readOutputs(input.spec, input.ctx);
  const sensitive = sensitiveNames(declared, [...input.recordedSensitive, ...sensitiveOutputNames(produced)]);
  // Known as secrets before anything else is done with them (a type error below must not quote them).
  for (const name of sensitive) if (name in produced) input.redactor.add(produced[name]);
  const missing = needed.filter((o) => !(o in produced));
  if (missing.length > 0) {
    throw new StepFailure(
      `${consumer} needs ${missing.map((o) => `${producer}.outputs.${o}`).join(', ')}, but ${producer}'s system has no such output now ` +
        `(read back because sensitive values are never stored): apply ${producer} again`,
      false,
    );
  }
  const checked = checkOutputs(declared, produced, sensitive);
  if (checked.problems.length > 0) {
    throw new StepFailure(`${producer}: outputs read back from its system: ${checked.problems.join('; ')}`, false);
  }
  return Object.fromEntries(sensitive.filter((o) => o in checked.outputs).map((o) => [o, checked.outputs[o]]));
}
