import { componentDependencies, findCycles, formatCycle } from '../graph.js';
import { didYouMean } from '../suggest.js';
import type { Finding } from './findings.js';
import type { Rule, RuleContext } from './rule.js';

/** `type:` names a registered adapter. */
export const componentTypesAreKnown: Rule = ({ config, adapters }) => {
  const known = [...adapters.keys()].sort();
  const out: Finding[] = [];
  for (const component of Object.values(config.components)) {
    if (component.type === '' || adapters.has(component.type)) continue;
    out.push({
      path: ['components', component.name, 'type'],
      message:
        known.length === 0
          ? `unknown component type ${component.type}: no component types are registered`
          : `unknown component type ${component.type} (known types: ${known.join(', ')})${didYouMean(component.type, known)}`,
    });
  }
  return out;
};

/** Every `dependsOn` entry names a component. */
export const dependenciesExist: Rule = ({ config }) => {
  const names = Object.keys(config.components);
  const out: Finding[] = [];
  for (const component of Object.values(config.components)) {
    component.dependsOn.forEach((dep, i) => {
      if (config.components[dep]) return;
      out.push({
        path: ['components', component.name, 'dependsOn', i],
        message: `unknown component ${dep} (components: ${names.join(', ')})${didYouMean(dep, names)}`,
      });
    });
  }
  return out;
};

/** No cycles among components, counting both `dependsOn` and references to other components. */
export const componentsHaveNoCycles: Rule = ({ config }) => {
  const nodes = Object.keys(config.components);
  return findCycles(nodes, componentDependencies(config)).map((cycle) => {
    const first = cycle[0] as string;
    const explicit = (config.components[first]?.dependsOn.length ?? 0) > 0;
    return {
      path: explicit ? ['components', first, 'dependsOn'] : ['components', first],
      target: 'key',
      message: `dependency cycle: ${formatCycle(cycle)}`,
    };
  });
};

/** Every `after` entry names an environment. */
export const afterNamesExist: Rule = ({ config }) => {
  const names = Object.keys(config.environments);
  const out: Finding[] = [];
  for (const env of Object.values(config.environments)) {
    env.after.forEach((other, i) => {
      if (config.environments[other]) return;
      out.push({
        path: ['environments', env.name, 'after', i],
        message: `unknown environment ${other} (environments: ${names.join(', ')})`,
      });
    });
  }
  return out;
};

/** The promotion path has no cycles. */
export const environmentsHaveNoCycles: Rule = ({ config }) => {
  const nodes = Object.keys(config.environments);
  const edges = new Map(Object.values(config.environments).map((e) => [e.name, e.after]));
  return findCycles(nodes, edges).map((cycle) => ({
    path: ['environments', cycle[0] as string, 'after'],
    target: 'key',
    message: `cycle in the promotion path (after): ${formatCycle(cycle)}`,
  }));
};

/** `pattern` compiles (as a Unicode RegExp, as JSON Schema reads it); `items` only on arrays. */
export const outputDeclarationsAreValid: Rule = ({ config }) => {
  const out: Finding[] = [];
  for (const component of Object.values(config.components)) {
    for (const [name, output] of Object.entries(component.outputs)) {
      const path = ['components', component.name, 'outputs', name];
      if (output.pattern !== undefined) {
        try {
          new RegExp(output.pattern, 'u');
        } catch (error) {
          const reason = error instanceof Error ? error.message.replace(/^Invalid regular expression: /, '') : '';
          out.push({ path: [...path, 'pattern'], message: `pattern is not a valid regular expression: ${reason}` });
        }
      }
      if (output.items !== undefined && output.type !== 'array') {
        out.push({
          path: [...path, 'items'],
          target: 'key',
          message: `items applies to type array only, not ${output.type}`,
        });
      }
    }
  }
  return out;
};

export function runRules(rules: readonly Rule[], ctx: RuleContext): Finding[] {
  return rules.flatMap((rule) => rule(ctx));
}
