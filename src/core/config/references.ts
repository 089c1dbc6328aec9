import { isLateBound } from '../adapter.js';
import { findReferences, type TemplateRef } from '../expression/template.js';
import type { ProjectConfig } from '../model.js';
import type { Finding } from './findings.js';
import type { Rule } from './rule.js';

/** What a component's `with` may reference. */
export const COMPONENT_REFERENCES = [
  'env.name',
  'env.vars.<name>',
  'version',
  'previousVersion',
  'release.id',
  'components.<component>.version',
  'components.<component>.outputs.<output>',
  'secrets.<NAME>',
] as const;

/** What an environment's `vars` may reference: they are rendered before any component is known. */
export const ENVIRONMENT_REFERENCES = ['env.name', 'secrets.<NAME>'] as const;

/**
 * Every `${{ }}` in components' `with` and environments' `vars` parses, and every reference in it
 * names something that exists: env vars defined in every environment, declared outputs of other
 * components. Secrets are not checked here: they exist only where the promotion runs.
 */
export const referencesResolve: Rule = ({ config, adapters }) => {
  const out: Finding[] = [];
  for (const env of Object.values(config.environments)) {
    const base = ['environments', env.name, 'vars'];
    const { refs, errors } = findReferences(env.vars);
    for (const e of errors) out.push({ path: [...base, ...e.at], offset: e.offset, message: e.message });
    for (const ref of refs) {
      const message = environmentReferenceProblem(ref);
      if (message !== undefined) out.push({ path: [...base, ...ref.at], offset: ref.offset, message });
    }
  }
  for (const component of Object.values(config.components)) {
    const base = ['components', component.name, 'with'];
    const { refs, errors } = findReferences(component.with);
    const late = adapters.get(component.type)?.lateBound;
    for (const e of errors) out.push({ path: [...base, ...e.at], offset: e.offset, message: e.message });
    for (const ref of refs) {
      // The adapter renders these itself at run time (`${{ response.id }}` in an http poll URL).
      if (isLateBound(late, ref.at, [ref.path])) continue;
      const message = componentReferenceProblem(ref, component.name, config);
      if (message !== undefined) out.push({ path: [...base, ...ref.at], offset: ref.offset, message });
    }
  }
  return out;
};

function environmentReferenceProblem(ref: TemplateRef): string | undefined {
  const [root, ...rest] = ref.path;
  if (root === 'env' && rest.length === 1 && rest[0] === 'name') return undefined;
  if (root === 'secrets') return secretProblem(ref, rest);
  return `${ref.path.join('.')} cannot be used in environment vars: they may only use ${ENVIRONMENT_REFERENCES.join(' and ')}`;
}

/** Why a reference in component `self`'s `with` does not resolve, or undefined when it does. */
export function componentReferenceProblem(ref: TemplateRef, self: string, config: ProjectConfig): string | undefined {
  const name = ref.path.join('.');
  const [root, ...rest] = ref.path;
  switch (root) {
    case 'env':
      if (rest.length === 1 && rest[0] === 'name') return undefined;
      if (rest[0] === 'vars' && rest[1] !== undefined) {
        const variable = rest[1];
        const environments = Object.values(config.environments);
        const missing = environments.filter((e) => !Object.hasOwn(e.vars, variable)).map((e) => e.name);
        if (missing.length === 0) return undefined;
        if (missing.length === environments.length) {
          return `env.vars.${variable} is not defined in any environment`;
        }
        return `env.vars.${variable} is not defined in ${missing.length === 1 ? 'environment' : 'environments'} ${missing.join(', ')}`;
      }
      break;
    case 'version':
    case 'previousVersion':
      if (rest.length === 0) return undefined;
      return `${root} is a string; it has no fields`;
    case 'release':
      if (rest.length === 1 && rest[0] === 'id') return undefined;
      break;
    case 'secrets':
      return secretProblem(ref, rest);
    case 'components':
      return componentsProblem(name, rest, self, config);
  }
  return `unknown reference ${name} (references: ${COMPONENT_REFERENCES.join(', ')})`;
}

function secretProblem(ref: TemplateRef, rest: string[]): string | undefined {
  if (rest.length === 1) return undefined;
  if (rest.length === 0) return 'secrets must be followed by a name, as in secrets.NAME';
  return `${ref.path.slice(0, 2).join('.')} is a string; it has no fields`;
}

function componentsProblem(name: string, rest: string[], self: string, config: ProjectConfig): string | undefined {
  const [target, field, output] = rest;
  const shape = 'a component reference is components.<component>.version or components.<component>.outputs.<output>';
  if (target === undefined) return shape;
  const component = config.components[target];
  if (!component) {
    return `${name} names unknown component ${target} (components: ${Object.keys(config.components).join(', ')})`;
  }
  if (target === self)
    return `${name}: a component cannot use its own version or outputs (use version for its version)`;
  if (field === 'version' && rest.length === 2) return undefined;
  if (field !== 'outputs' || output === undefined) return `${name}: ${shape}`;
  if (Object.hasOwn(component.outputs, output)) return undefined;
  const declared = Object.keys(component.outputs);
  return declared.length === 0
    ? `component ${target} declares no outputs, so ${name} does not exist`
    : `component ${target} has no output ${output} (declared: ${declared.join(', ')})`;
}
