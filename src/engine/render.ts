import { isLateBound, type Adapter } from '../core/adapter.js';
import { InputError } from '../core/errors.js';
import { renderTemplates, type EvalScope } from '../core/expression/index.js';
import type { ProjectConfig, ReleaseRecord } from '../core/model.js';
import type { Redactor } from '../core/redact.js';
import type { SecretSource } from './secrets.js';
import { own } from '../core/own.js';
import { printable } from '../core/printable.js';

/** An environment's vars with their templates (env.name, secrets) rendered; throws naming every var that cannot be. */
export function renderEnvironmentVars(
  config: ProjectConfig,
  environment: string,
  secrets: SecretSource,
  redactor: Redactor,
): Record<string, unknown> {
  const { vars, unavailable } = renderEnvironmentVarsEach(config, environment, secrets, redactor);
  if (unavailable.size > 0) throw new InputError([...unavailable.values()].join('\n'), 'config');
  return vars;
}

/**
 * An environment's vars rendered one by one: a var that cannot be rendered (a secret that is not set)
 * is left out and its problem kept under its name, so the vars beside it (plain literals) stay
 * available and a message can name the one var that is missing, not everything that reads vars.
 */
export function renderEnvironmentVarsEach(
  config: ProjectConfig,
  environment: string,
  secrets: SecretSource,
  redactor: Redactor,
): { vars: Record<string, unknown>; unavailable: Map<string, string> } {
  const env = config.environments[environment];
  if (!env) throw new InputError(`unknown environment ${printable(environment)}`, '--to');
  const scope: EvalScope = { values: { env: { name: environment } }, secret: (n) => secrets.get(n), redactor };
  // Entries, not assignments: a var may be called __proto__.
  const rendered: [string, unknown][] = [];
  const unavailable = new Map<string, string>();
  for (const [name, value] of Object.entries(env.vars)) {
    try {
      rendered.push([name, renderTemplates(value, scope, { path: ['environments', environment, 'vars', name] })]);
    } catch (error) {
      unavailable.set(name, redactor.redact((error as Error).message));
    }
  }
  return { vars: Object.fromEntries(rendered), unavailable };
}

/**
 * What `components.<name>` reads in expressions: each component's version in the release, and its
 * outputs, looked up only when an expression reads them. Built once per plan or run: building it per
 * component would make planning quadratic in the number of components.
 */
export function componentsScope(
  config: ProjectConfig,
  release: ReleaseRecord,
  outputsOf: (component: string) => Record<string, unknown> | undefined,
): Record<string, unknown> {
  const components: Record<string, unknown> = {};
  for (const name of Object.keys(config.components)) {
    const entry: Record<string, unknown> = { version: own(release.versions, name) };
    Object.defineProperty(entry, 'outputs', { enumerable: true, get: () => outputsOf(name) ?? {} });
    components[name] = entry;
  }
  return components;
}

export interface ComponentScopeInput {
  environment: string;
  vars: Record<string, unknown>;
  release: ReleaseRecord;
  component: string;
  previousVersion: string | undefined;
  /** From componentsScope, shared by every component of the plan or run. */
  components: Record<string, unknown>;
  secrets: SecretSource;
  redactor: Redactor;
}

export function componentScope(input: ComponentScopeInput): EvalScope {
  return {
    values: {
      env: { name: input.environment, vars: input.vars },
      version: own(input.release.versions, input.component),
      previousVersion: input.previousVersion ?? '',
      release: { id: input.release.id, labels: input.release.labels, versions: input.release.versions },
      components: input.components,
    },
    secret: (n) => input.secrets.get(n),
    redactor: input.redactor,
  };
}

/**
 * Renders a component's `with` and parses it with its adapter's spec. Errors name the component and
 * the field; they pass through the redactor so a secret never reaches a message.
 */
export function renderSpec(
  adapter: Adapter<unknown>,
  component: string,
  withBlock: Record<string, unknown>,
  scope: EvalScope,
): unknown {
  let rendered: unknown;
  try {
    rendered = renderTemplates(withBlock, scope, {
      path: ['components', component, 'with'],
      keep: (at, refs) => isLateBound(adapter.lateBound, at, refs),
    });
  } catch (error) {
    const message = (error as Error).message;
    throw new InputError(scope.redactor?.redact(message) ?? message, 'config', { cause: error });
  }
  const parsed = adapter.spec.safeParse(rendered);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `components.${component}.with${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`,
    );
    throw new InputError(scope.redactor?.redact(lines.join('\n')) ?? lines.join('\n'), 'config');
  }
  return parsed.data;
}
