import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { initTemplate } from '../../../src/core/config/init-template.js';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { componentDependencies, dagLevels } from '../../../src/core/graph.js';
import { builtinAdapters } from '../../../src/adapters/registry.js';
import { problems } from './fixtures.js';

// The real registry: the template must stay valid for the adapters users actually have.
const adapters = builtinAdapters();

describe('initTemplate', () => {
  it('passes loadConfig with the built-in adapters', () => {
    expect(problems(initTemplate(), adapters)).toEqual([]);
  });

  it('shows each concept: three environments in a path, four command components, a typed output used elsewhere', () => {
    const { config } = loadConfig(initTemplate(), 'lockstep.yaml', adapters);
    expect(Object.keys(config.environments)).toEqual(['dev', 'staging', 'prod']);
    expect(config.environments.staging?.after).toEqual(['dev']);
    expect(config.environments.prod?.after).toEqual(['staging']);
    for (const env of Object.values(config.environments)) expect(Object.keys(env.vars).length).toBeGreaterThan(0);

    const components = Object.values(config.components);
    expect(components.length).toBe(4);
    expect(components.every((c) => c.type === 'command')).toBe(true);
    // argv commands, never a shell.
    for (const c of components) {
      const apply = c.with.apply as unknown[];
      expect(Array.isArray(apply)).toBe(true);
      expect(apply).not.toContain('sh');
      expect(apply).not.toContain('-c');
    }
    expect(config.components.api?.with.apply).toEqual(['./scripts/deploy.sh', 'api', '${{ version }}']);

    const typed = components.flatMap((c) => Object.values(c.outputs));
    expect(typed.some((o) => o.type === 'string')).toBe(true);
    expect(JSON.stringify(config.components.api?.with)).toContain('${{ components.infra.outputs.queue_url }}');
  });

  it('orders the components through the reference as well as dependsOn', () => {
    const { config } = loadConfig(initTemplate(), 'lockstep.yaml', adapters);
    const deps = componentDependencies(config);
    expect(deps.get('api')).toEqual(['infra', 'schema']);
    expect(dagLevels(Object.keys(config.components), deps)).toEqual([
      ['infra', 'schema'],
      ['api', 'worker'],
    ]);
  });

  it('is commented YAML', () => {
    const text = initTemplate();
    expect(text.split('\n').filter((l) => l.trimStart().startsWith('#')).length).toBeGreaterThan(10);
    expect(parseDocument(text).errors).toEqual([]);
  });
});
