import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinAdapters } from '../../src/adapters/registry.js';
import { loadConfig } from '../../src/core/config/load-config.js';
import { ConfigError, InputError } from '../../src/core/errors.js';
import { evaluate, parseExpression } from '../../src/core/expression/index.js';
import { parseVersionAssignments } from '../../src/core/release.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { planPromotion } from '../../src/engine/planner.js';
import { createRelease, promote, rollbackEnvironment } from '../../src/engine/promote.js';
import { secretSource } from '../../src/engine/secrets.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { testProject, type TestProject } from '../helpers/project.js';

/*
 * Names are data. Every name JavaScript gives a meaning on every object, used where Lockstep
 * expects a name of the user's, must give the same clean "unknown …" error (exit 2) as any other
 * unknown name, or work as a name: never a crash, never a silent success, never a wrong message.
 */
const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'isPrototypeOf',
] as const;

const CONFIG = `project: names
environments:
  dev: {}
  prod: { after: [dev] }
components:
  api:
    type: command
    with: { apply: ["./deploy.sh", "\${{ version }}"] }
    outputs:
      url: { type: string }
`;

/** Calls fn and returns the InputError it throws, failing on anything else. */
async function inputError(fn: () => unknown): Promise<InputError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'an InputError').toBeInstanceOf(InputError);
  expect(exitCodeFor(thrown)).toBe(2);
  return thrown as InputError;
}

describe.each(PROTOTYPE_NAMES)('the name %s', (name) => {
  let project: TestProject;
  let deps: EngineDeps;

  beforeEach(async () => {
    project = testProject(CONFIG);
    deps = await project.deps();
  });
  afterEach(() => project.cleanup());

  it('as an environment (plan, promote, rollback, --from) is unknown', async () => {
    const { release } = await createRelease(deps, { set: ['api=1.0.0'] });
    expect((await inputError(() => planPromotion(deps, release, name))).message).toContain(`unknown environment ${name}`);
    expect((await inputError(() => promote(deps, release.id, name))).message).toContain(`unknown environment ${name}`);
    expect((await inputError(() => rollbackEnvironment(deps, name))).message).toContain(`unknown environment ${name}`);
    expect((await inputError(() => createRelease(deps, { set: [], from: name }))).message).toContain(
      `--from names an unknown environment: ${name}`,
    );
  });

  it('as a component in --set is unknown; as a --set key it is never "given twice"', async () => {
    const error = await inputError(() => createRelease(deps, { set: ['api=1.0.0', `${name}=1`] }));
    expect(error.message).toBe(`--set names unknown components: ${name} (known: api)`);
    expect(Object.keys(parseVersionAssignments([`${name}=1`]))).toEqual([name]);
  });

  it('as a secret is not set', () => {
    expect(secretSource({}).get(name)).toBeUndefined();
    expect(secretSource(process.env).get(name)).toBeUndefined();
  });

  it('in an expression reads nothing: components, outputs, vars, secrets, versions', () => {
    const scope = {
      values: { env: { name: 'dev', vars: {} }, components: { api: { version: '1', outputs: {} } }, version: '1' },
      secret: (n: string) => secretSource({}).get(n),
    };
    for (const source of [`components.${name}`, `components.api.outputs.${name}`, `env.vars.${name}`, `components['${name}'].version`]) {
      expect(evaluate(parseExpression(source), scope), source).toBeUndefined();
    }
    expect(() => evaluate(parseExpression(`secrets.${name}`), scope)).toThrow(`secret ${name} is not set`);
  });

  it('in a config reference is reported as unknown, at its position', () => {
    const source = `${CONFIG}  web:
    type: command
    with: { apply: ["./deploy.sh", "\${{ components.${name}.outputs.url }}", "\${{ components.api.outputs.${name} }}", "\${{ env.vars.${name} }}"] }
`;
    let problems: string[] = [];
    try {
      loadConfig(source, 'lockstep.yaml', builtinAdapters());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems.map((p) => `${p.line}: ${p.message}`);
    }
    expect(problems).toEqual([
      `13: components.${name}.outputs.url names unknown component ${name} (components: api, web)`,
      `13: component api has no output ${name} (declared: url)`,
      `13: env.vars.${name} is not defined in any environment`,
    ]);
  });

  it('as an environment or component name in the config is refused or works, never dropped', () => {
    const source = `project: names
environments:
  dev: {}
  ${name}: { after: [dev] }
components:
  api: { type: command, with: { apply: [./deploy.sh] }, dependsOn: [${name}] }
  ${name}: { type: command, with: { apply: [./deploy.sh] } }
`;
    let loaded: ReturnType<typeof loadConfig> | undefined;
    let problems: string[] = [];
    try {
      loaded = loadConfig(source, 'lockstep.yaml', builtinAdapters());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems.map((p) => `${p.line}:${p.column}: ${p.path}`);
    }
    if (/^[a-z][a-z0-9-_]*$/.test(name)) {
      // A valid name by the documented rule: a real environment and component.
      expect(problems).toEqual([]);
      expect(Object.keys(loaded?.config.environments ?? {})).toEqual(['dev', name]);
      expect(loaded?.config.environments[name]?.after).toEqual(['dev']);
      expect(loaded?.config.components.api?.dependsOn).toEqual([name]);
    } else {
      expect(problems).toEqual([`4:3: environments.${name}`, `7:3: components.${name}`]);
    }
  });
});

describe('a valid prototype-like name works end to end', () => {
  it('an environment and a component named constructor and prototype are planned and promoted', async () => {
    const project = testProject(`project: names
environments:
  constructor: {}
components:
  prototype:
    type: command
    with: { apply: ["./deploy.sh", "\${{ version }}"] }
`);
    try {
      const deps = await project.deps();
      const { release } = await createRelease(deps, { set: ['prototype=2.0.0'] });
      const promotion = await promote(deps, release.id, 'constructor');
      expect(promotion.state).toBe('succeeded');
      expect(project.running('constructor', 'prototype')).toBe('2.0.0');
    } finally {
      project.cleanup();
    }
  });
});
