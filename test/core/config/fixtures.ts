import { z } from 'zod';
import type { Adapter } from '../../../src/core/adapter.js';
import type { AdapterSet } from '../../../src/core/config/config-schema.js';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../../../src/core/errors.js';

/** A stand-in adapter: only `type` and `spec` matter to the loader. */
function testAdapter(type: string, spec: z.ZodType): Adapter<unknown> {
  const unused = (): never => {
    throw new Error('not used by config tests');
  };
  return {
    type,
    description: `test adapter ${type}`,
    spec,
    capabilities: () => ({ reversible: false, idempotentApply: false, observe: false }),
    plan: unused,
    apply: unused,
  };
}

/** The `command` spec as far as these tests need it. */
export const commandAdapter = testAdapter(
  'command',
  z.strictObject({
    apply: z.array(z.string()).min(1),
    env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    timeout: z.string().optional(),
  }),
);

/** A second type with integer, boolean and nested fields, for typed handoffs. */
export const scaleAdapter = testAdapter(
  'scale',
  z.strictObject({
    replicas: z.int().min(1),
    enabled: z.boolean().optional(),
    hosts: z.array(z.string()).optional(),
    target: z.strictObject({ url: z.url(), port: z.int() }).optional(),
  }),
);

export const ADAPTERS: AdapterSet = new Map([
  ['command', commandAdapter],
  ['scale', scaleAdapter],
]);

/** Lines joined with \n: line N of the YAML is element N-1, so positions are easy to read. */
export function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** The problems loading `source` reports, or [] when it loads. */
export function problemsOf(source: string, adapters: AdapterSet = ADAPTERS): ConfigProblem[] {
  try {
    loadConfig(source, 'lockstep.yaml', adapters);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

/** Formatted problems: `lockstep.yaml:LINE:COL: path: message`. */
export function problems(source: string, adapters: AdapterSet = ADAPTERS): string[] {
  return problemsOf(source, adapters).map(formatProblem);
}

/** A valid base: two environments and a component, to add one mistake to. */
export const ENVIRONMENTS = [
  'environments:',
  '  dev:',
  '    vars: { region: eu, replicas: 1 }',
  '  prod:',
  '    after: [dev]',
  '    vars: { region: us, replicas: 3 }',
];
