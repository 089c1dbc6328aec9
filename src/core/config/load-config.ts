import { isNode, isScalar, LineCounter, parseDocument, visit, YAMLParseError, type Document, type YAMLError } from 'yaml';
import { sha256Hex } from '../canonical-json.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { isPlainObject } from '../expression/template.js';
import type { ComponentConfig, EnvironmentConfig, ProjectConfig } from '../model.js';
import { projectSchema, type AdapterSet, type ProjectOutput } from './config-schema.js';
import { draftConfig } from './draft-config.js';
import { accessIsValid } from './access-rules.js';
import { notifyIsValid } from './notify-rules.js';
import { oidcIsValid } from './oidc-rules.js';
import type { NotifyEventType } from '../notify/notify-events.js';
import { gatesAreValid } from './gate-rules.js';
import { describeValue, dotted, issueFindings, type Finding } from './findings.js';
import { deepestPoint, MAX_CONFIG_DEPTH, TOO_DEEP_MESSAGE } from './nesting.js';
import { readPlainYaml } from './plain-yaml.js';
import { SourcePositions, type Path, type Position } from './positions.js';
import { referencesResolve } from './references.js';
import type { Rule } from './rule.js';
import {
  afterNamesExist,
  componentsHaveNoCycles,
  componentTypesAreKnown,
  dependenciesExist,
  environmentsHaveNoCycles,
  outputDeclarationsAreValid,
  runRules,
} from './rules.js';
import { adapterSpecsAccept } from './spec-check.js';
import { fieldsAt } from './zod-fields.js';
import { ownRecord } from '../own.js';

export type { AdapterSet } from './config-schema.js';

/** A checked config and where it came from. */
export interface LoadedConfig {
  config: ProjectConfig;
  /** sha256 hex of the source text. */
  digest: string;
  file: string;
  source: string;
  /** Line and column (1-based) of the value at a path in the parsed config, or of its nearest ancestor. */
  locate(path: (string | number)[]): { line: number; column: number };
}

/** The checks that run after the schema, in no particular order: problems are sorted by position. */
export const CONFIG_RULES: readonly Rule[] = [
  componentTypesAreKnown,
  dependenciesExist,
  componentsHaveNoCycles,
  afterNamesExist,
  environmentsHaveNoCycles,
  outputDeclarationsAreValid,
  referencesResolve,
  adapterSpecsAccept,
  gatesAreValid,
  accessIsValid,
  notifyIsValid,
  oidcIsValid,
];

const NEEDS = 'project, environments and components';

/**
 * Parses and checks a `lockstep.yaml`. Collects every problem (YAML errors and duplicate keys, the
 * schema, unknown types, adapter specs, references, typed handoffs, cycles) and throws one
 * ConfigError holding all of them, sorted by line and column. After a YAML syntax error only the
 * syntax errors are reported: the rest of the document cannot be trusted. Pure.
 */
export function loadConfig(source: string, file: string, adapters: AdapterSet): LoadedConfig {
  // Before either parser: they are what would overflow the stack.
  const deep = deepestPoint(source);
  if (deep !== undefined) {
    throw new ConfigError([{ file, path: '', message: TOO_DEEP_MESSAGE, line: deep.line + 1, column: deep.column + 1 }]);
  }
  return loadPlainConfig(source, file, adapters) ?? loadFullConfig(source, file, adapters);
}

/**
 * The fast path: a config in plain YAML (see readPlainYaml) that has no problems is checked
 * without building `yaml`'s Document, which is most of the time a large config takes. Undefined
 * when the YAML is not plain or there is any problem: the full path then finds every problem with
 * its position, exactly as if this path did not exist.
 */
function loadPlainConfig(source: string, file: string, adapters: AdapterSet): LoadedConfig | undefined {
  const read = readPlainYaml(source);
  if (read === undefined || !isPlainObject(read.value)) return undefined;
  const raw = read.value;
  if (shapeProblems(raw).length > 0) return undefined;
  const parsed = projectSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const draft = draftConfig(raw);
  if (runRules(CONFIG_RULES, { config: draft.config, adapters, unusableWith: draft.unusableWith }).length > 0) {
    return undefined;
  }
  let positions: SourcePositions | undefined;
  // Positions need the Document: built only if someone asks.
  return loadedConfig(parsed.data, source, file, (path) => (positions ??= parseYaml(source).positions).value(path));
}

function loadFullConfig(source: string, file: string, adapters: AdapterSet): LoadedConfig {
  const { doc, positions } = parseYaml(source);
  const problems: ConfigProblem[] = [];
  const report = (f: Finding): void => {
    problems.push({ file, path: dotted(f.path), message: f.message, ...position(positions, f) });
  };
  const fail = (options?: { cause?: unknown }): never => {
    throw new ConfigError(sortProblems(problems), options);
  };

  for (const error of [...doc.errors, ...duplicateKeys(doc)]) problems.push(yamlProblem(error, positions, file));
  // After a syntax error the document is a guess; duplicate keys still leave a usable one.
  if (doc.errors.some((e) => e.code !== 'DUPLICATE_KEY')) fail();

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    // Alias bombs and the like.
    report({ path: [], message: `cannot read the YAML: ${error instanceof Error ? error.message : String(error)}` });
    fail({ cause: error });
  }
  if (raw === null || raw === undefined) {
    report({ path: [], message: `the config is empty: it needs ${NEEDS}` });
    fail();
  }
  if (!isPlainObject(raw)) {
    report({ path: [], message: `the config must be a mapping with ${NEEDS}, not ${describeValue(raw)}` });
    return fail();
  }
  const shape = shapeProblems(raw);
  for (const f of shape) report(f);
  // A loop or a nesting past the limit would take the checks below into endless or too deep walks.
  if (shape.some((f) => f.target !== 'key')) fail();

  const parsed = projectSchema.safeParse(raw);
  if (!parsed.success) {
    for (const f of issueFindings(parsed.error.issues, raw, [], (p) => fieldsAt(projectSchema, p))) report(f);
  }
  const draft = draftConfig(raw);
  for (const f of runRules(CONFIG_RULES, { config: draft.config, adapters, unusableWith: draft.unusableWith })) {
    report(f);
  }
  if (problems.length > 0 || !parsed.success) return fail();
  return loadedConfig(parsed.data, source, file, (path) => positions.value(path));
}

function parseYaml(source: string): { doc: Document; positions: SourcePositions } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, {
    lineCounter,
    prettyErrors: false,
    merge: true,
    // Keys are names: `[a, b]: 1` is an error, not a key made into text.
    stringKeys: true,
    // Core does no I/O: problems are returned, never printed as process warnings.
    logLevel: 'error',
    // The parser's own check compares each key with every key before it in its mapping, which is
    // quadratic in the number of components; duplicateKeys does the same check with a set.
    uniqueKeys: false,
  });
  return { doc, positions: new SourcePositions(doc, lineCounter, source) };
}

function loadedConfig(data: ProjectOutput, source: string, file: string, locate: LoadedConfig['locate']): LoadedConfig {
  // Records keyed by names are prototype-free, so `environments[name]` for a name typed on the
  // command line (`--to constructor`) finds a configured environment or nothing.
  const environments = ownRecord<EnvironmentConfig>(
    Object.entries(data.environments).map(([name, env]) => [name, { name, ...env, vars: ownRecord(Object.entries(env.vars)) }]),
  );
  const components = ownRecord<ComponentConfig>(
    Object.entries(data.components).map(([name, c]) => [name, { name, ...c, outputs: ownRecord(Object.entries(c.outputs)) }]),
  );
  const groups = ownRecord(Object.entries(data.groups));
  const access = data.access === undefined ? undefined : { ...data.access, environments: ownRecord(Object.entries(data.access.environments)) };
  return {
    config: {
      project: data.project,
      groups,
      environments,
      components,
      ...(access === undefined ? {} : { access }),
      ...(data.server === undefined ? {} : { server: data.server }),
      // The names were checked by notifyIsValid. Absent when there are none, as `access`.
      ...(data.notify.length === 0 ? {} : { notify: data.notify.map(({ events, ...t }) => ({ ...t, ...(events === undefined ? {} : { events: events as NotifyEventType[] }) })) }),
    },
    digest: sha256Hex(source),
    file,
    source,
    locate,
  };
}

function position(positions: SourcePositions, f: Finding): Position {
  if (f.offset !== undefined) return positions.inString(f.path, f.offset);
  if (f.character !== undefined) return positions.atCharacter(f.path, f.character);
  if (f.target === 'key') return positions.key(f.path);
  if (f.target === 'parent') {
    const parent = f.path.slice(0, -1);
    return parent.length === 0 ? positions.value([]) : positions.key(parent);
  }
  return positions.value(f.path);
}

function yamlProblem(error: YAMLError, positions: SourcePositions, file: string): ConfigProblem {
  const offset = error.pos[0];
  const path = positions.pathAt(offset);
  let message = `YAML: ${error.message.split('\n')[0] ?? error.message}`;
  if (error.code === 'DUPLICATE_KEY') {
    message = `duplicate key ${String(path.at(-1) ?? '')}: a key may appear only once in a mapping`;
  } else if (error.code === 'MULTIPLE_DOCS') {
    message = 'a config is one YAML document: remove the second ---';
  }
  return { file, path: dotted(path), message, ...positions.atOffset(offset) };
}

/**
 * Every key equal to an earlier key of its mapping, as the parser reports them with its own check
 * on: the same code, message and offset, equality of scalar keys by value and of other keys by
 * identity.
 */
function duplicateKeys(doc: Document): YAMLError[] {
  const errors: YAMLError[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key: unknown = pair.key;
        // Compared as the parser does (===), so NaN equals nothing.
        const value = isScalar(key) ? key.value : key;
        if (typeof value === 'number' && Number.isNaN(value)) continue;
        if (seen.has(value)) {
          const offset = isNode(key) ? (key.range?.[0] ?? 0) : 0;
          errors.push(new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', 'Map keys must be unique'));
        }
        seen.add(value);
      }
    },
  });
  return errors;
}

const NOT_A_NAME = `__proto__ cannot be a key in a config: JavaScript gives the name a meaning of its own`;

/**
 * What the checks cannot walk or would lose: a value that contains itself (an alias to an
 * ancestor), a nesting deeper than MAX_CONFIG_DEPTH (aliases can build one that the text does not
 * show), and `__proto__` keys, which a schema would drop without a word. Stops at the first loop
 * or too-deep value. Pure.
 */
function shapeProblems(root: unknown): Finding[] {
  const found: Finding[] = [];
  const ancestors = new Set<unknown>();
  const walk = (value: unknown, path: Path): boolean => {
    if (value === null || typeof value !== 'object') return true;
    if (ancestors.has(value)) {
      found.push({ path, message: 'this YAML alias refers to a mapping or list that contains it: a config cannot nest itself' });
      return false;
    }
    if (path.length > MAX_CONFIG_DEPTH) {
      found.push({ path, message: TOO_DEEP_MESSAGE });
      return false;
    }
    ancestors.add(value);
    const children: [string | number, unknown][] = Array.isArray(value)
      ? value.map((v, i): [number, unknown] => [i, v])
      : Object.entries(value);
    for (const [k, v] of children) {
      if (k === '__proto__') found.push({ path: [...path, k], target: 'key', message: NOT_A_NAME });
      if (!walk(v, [...path, k])) return false;
    }
    ancestors.delete(value);
    return true;
  };
  walk(root, []);
  return found;
}

/** Sorted by line, column, path and message; exact duplicates dropped. */
export function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return [...problems]
    .filter((p) => {
      const k = `${p.line}:${p.column}:${p.path}:${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.column - b.column || cmp(a.path, b.path) || cmp(a.message, b.message));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
