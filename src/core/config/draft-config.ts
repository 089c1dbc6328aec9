import type { AccessConfig } from '../access.js';
import { isPlainObject } from '../expression/template.js';
import { ownRecord } from '../own.js';
import {
  ON_FAILURE,
  VALUE_TYPES,
  type ComponentConfig,
  type EnvironmentConfig,
  type GatesConfig,
  type OnFailure,
  type OutputDeclaration,
  type ProjectConfig,
  type ValueType,
} from '../model.js';

/**
 * A best-effort ProjectConfig read from parsed YAML that may not pass the schema: every field with
 * the right shape is taken, the rest falls back to its default. The rules run on it, so one
 * malformed field does not hide the problems elsewhere; the loader only returns the
 * schema-checked config.
 */
export interface DraftConfig {
  config: ProjectConfig;
  /** Components whose `with` is not a mapping: their adapter spec cannot be checked. */
  unusableWith: Set<string>;
}

export function draftConfig(raw: unknown): DraftConfig {
  const root = isPlainObject(raw) ? raw : {};
  const unusableWith = new Set<string>();
  // Prototype-free records: the rules look names up in them (`components[target]` for a reference
  // to `components.constructor`), and such a name must find a configured entry or nothing.
  const environments = ownRecord<EnvironmentConfig>();
  for (const [name, value] of entries(root.environments)) {
    const env = isPlainObject(value) ? value : {};
    environments[name] = {
      name,
      after: strings(env.after),
      vars: ownRecord(entries(env.vars)),
      onFailure: (ON_FAILURE as readonly unknown[]).includes(env.onFailure) ? (env.onFailure as OnFailure) : 'rollback',
      // Raw: the gate rules read it defensively (see gate-rules.ts).
      gates: isPlainObject(env.gates) ? (env.gates as unknown as GatesConfig) : undefined,
    };
  }
  const components = ownRecord<ComponentConfig>();
  for (const [name, value] of entries(root.components)) {
    const component = isPlainObject(value) ? value : {};
    if (component.with !== undefined && !isPlainObject(component.with)) unusableWith.add(name);
    components[name] = {
      name,
      type: typeof component.type === 'string' ? component.type : '',
      dependsOn: strings(component.dependsOn),
      with: isPlainObject(component.with) ? component.with : {},
      outputs: outputs(component.outputs),
    };
  }
  return {
    config: {
      project: typeof root.project === 'string' ? root.project : '',
      environments,
      components,
      groups: groups(root.groups),
      // Raw: the access rule reads it defensively (see access-rules.ts).
      ...(isPlainObject(root.access) ? { access: root.access as unknown as AccessConfig } : {}),
      // Raw: the notify and oidc rules read them defensively (see notify-rules.ts, oidc-rules.ts).
      ...(isPlainObject(root.server) ? { server: root.server } : {}),
      ...(Array.isArray(root.notify) ? { notify: root.notify } : {}),
    },
    unusableWith,
  };
}

function entries(value: unknown): [string, unknown][] {
  return isPlainObject(value) ? Object.entries(value) : [];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function valueType(value: unknown): ValueType | undefined {
  return (VALUE_TYPES as readonly unknown[]).includes(value) ? (value as ValueType) : undefined;
}

function outputs(value: unknown): Record<string, OutputDeclaration> {
  const out = ownRecord<OutputDeclaration>();
  for (const [name, declaration] of entries(value)) {
    const d = isPlainObject(declaration) ? declaration : {};
    const items = valueType(d.items);
    out[name] = {
      type: valueType(d.type) ?? 'any',
      sensitive: d.sensitive === true,
      ...(typeof d.pattern === 'string' ? { pattern: d.pattern } : {}),
      ...(items !== undefined ? { items } : {}),
    };
  }
  return out;
}

function groups(value: unknown): Record<string, string[]> {
  const out = ownRecord<string[]>();
  for (const [name, members] of entries(value)) out[name] = strings(members);
  return out;
}
