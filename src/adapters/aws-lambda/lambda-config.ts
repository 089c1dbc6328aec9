import type { FunctionConfiguration, Runtime } from '@aws-sdk/client-lambda';
import type { LambdaSpec } from './lambda-spec.js';

/**
 * The function configuration a spec asks for, compared with what Lambda reports. Only fields the spec
 * gives are compared and sent: a field left out stays as it is on the function.
 */
export interface ConfigChange {
  /** `memory`, `timeout`, `role`, `handler`, `runtime`, `layers`, or `environment.NAME`. */
  field: string;
  kind: 'added' | 'changed' | 'removed';
  /** Printable old and new values; undefined for an environment value that must not be shown. */
  from?: string;
  to?: string;
  /** The new value (or, for a removal, the old one) came from a secret or a sensitive output. */
  sensitive: boolean;
}

const MAX_SHOWN = 120;

/**
 * What UpdateFunctionConfiguration must change to give `current` the spec's configuration.
 * `isSensitive` tells which spec values came from secrets or sensitive outputs; for those, and for
 * environment variables being removed, no value is kept.
 */
export function configChanges(
  current: FunctionConfiguration,
  spec: LambdaSpec,
  isSensitive: (value: string) => boolean,
): ConfigChange[] {
  const changes: ConfigChange[] = [];
  const scalar = (field: string, from: string | number | undefined, to: string | number | undefined, unit = ''): void => {
    if (to === undefined || from === to) return;
    // A role handed over as a sensitive output: shown as such, like an environment value.
    const sensitive = typeof to === 'string' && isSensitive(to);
    changes.push({
      field,
      kind: from === undefined ? 'added' : 'changed',
      ...(from === undefined || sensitive ? {} : { from: `${from}${unit}` }),
      ...(sensitive ? {} : { to: `${to}${unit}` }),
      sensitive,
    });
  };
  scalar('memory', current.MemorySize, spec.memory, ' MB');
  scalar('timeout', current.Timeout, spec.timeout, ' s');
  scalar('role', current.Role, spec.role);
  scalar('handler', current.Handler, spec.handler);
  scalar('runtime', current.Runtime, spec.runtime);
  if (spec.layers !== undefined) {
    const before = (current.Layers ?? []).map((l) => l.Arn ?? '?');
    if (before.join('\n') !== spec.layers.join('\n')) {
      changes.push({ field: 'layers', kind: 'changed', from: list(before), to: list(spec.layers), sensitive: false });
    }
  }
  if (spec.environment !== undefined) {
    const old = current.Environment?.Variables ?? {};
    for (const [name, value] of Object.entries(spec.environment)) {
      const was = old[name];
      if (was === value) continue;
      const sensitive = isSensitive(value) || (was !== undefined && isSensitive(was));
      changes.push({
        field: `environment.${name}`,
        kind: was === undefined ? 'added' : 'changed',
        ...(sensitive || was === undefined ? {} : { from: quote(was) }),
        ...(sensitive ? {} : { to: quote(value) }),
        sensitive,
      });
    }
    for (const [name, was] of Object.entries(old)) {
      // The old value is never shown: a removed variable may well have held a secret.
      if (!(name in spec.environment)) changes.push({ field: `environment.${name}`, kind: 'removed', sensitive: isSensitive(was) });
    }
  }
  return changes;
}

/** One line of the plan or the log: `memory: 128 MB → 512 MB`, `environment.DB_PASSWORD: (sensitive) (changed)`. */
export function describeChange(change: ConfigChange): string {
  if (change.kind === 'removed') return `${change.field}: (removed)`;
  if (change.sensitive) return `${change.field}: (sensitive) (${change.kind})`;
  if (change.kind === 'added') return `${change.field}: (added) ${change.to ?? ''}`;
  return `${change.field}: ${change.from ?? '?'} → ${change.to ?? '?'}`;
}

/** Names only, for a one-line summary: `memory, role, environment (add MODE; change DB_PASSWORD)`. */
export function summarizeChanges(changes: readonly ConfigChange[]): string {
  const plain = changes.filter((c) => !c.field.startsWith('environment.')).map((c) => c.field);
  const env = changes.filter((c) => c.field.startsWith('environment.'));
  const names = (kind: ConfigChange['kind']): string[] =>
    env.filter((c) => c.kind === kind).map((c) => c.field.slice('environment.'.length));
  const parts = [
    names('added').length > 0 ? `add ${names('added').join(', ')}` : '',
    names('changed').length > 0 ? `change ${names('changed').join(', ')}` : '',
    names('removed').length > 0 ? `remove ${names('removed').join(', ')}` : '',
  ].filter((p) => p !== '');
  return [...(plain.length > 0 ? [`configuration: ${plain.join(', ')}`] : []), ...(parts.length > 0 ? [`environment: ${parts.join('; ')}`] : [])].join('; ');
}

/** The UpdateFunctionConfiguration (and CreateFunction) fields the spec sets. */
export function configurationRequest(spec: LambdaSpec): {
  MemorySize?: number;
  Timeout?: number;
  Role?: string;
  Handler?: string;
  Runtime?: Runtime;
  Layers?: string[];
  Environment?: { Variables: Record<string, string> };
} {
  return {
    ...(spec.memory === undefined ? {} : { MemorySize: spec.memory }),
    ...(spec.timeout === undefined ? {} : { Timeout: spec.timeout }),
    ...(spec.role === undefined ? {} : { Role: spec.role }),
    ...(spec.handler === undefined ? {} : { Handler: spec.handler }),
    // The SDK lists the runtimes it knew when it was built; Lambda is the judge of newer ones.
    ...(spec.runtime === undefined ? {} : { Runtime: spec.runtime as Runtime }),
    ...(spec.layers === undefined ? {} : { Layers: spec.layers }),
    ...(spec.environment === undefined ? {} : { Environment: { Variables: spec.environment } }),
  };
}

function quote(value: string): string {
  const shown = JSON.stringify(value);
  return shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN - 1)}…` : shown;
}

function list(values: readonly string[]): string {
  return values.length === 0 ? '(none)' : values.join(', ');
}
