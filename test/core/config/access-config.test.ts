import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { ADAPTERS, ENVIRONMENTS, problems, yaml } from './fixtures.js';

/** project (line 1), groups (lines 2-4), ENVIRONMENTS (lines 5-10), a component (11-12), then `access` lines from line 13. */
function withAccess(...lines: string[]): string {
  return yaml(
    'project: shop',
    'groups:',
    '  sre: [Sam@Example.com]',
    '  dev: [dana@example.com]',
    ...ENVIRONMENTS,
    'components:',
    '  api: { type: command, with: { apply: [a] } }',
    ...lines,
  );
}

describe('access: in lockstep.yaml', () => {
  it('loads the roles with defaults, and per-environment lists as written', () => {
    const loaded = loadConfig(
      withAccess('access:', '  viewer: [group:dev, group:sre]', '  admin: [alice@example.com]', '  environments:', '    prod: { releaser: [group:sre] }'),
      'lockstep.yaml',
      ADAPTERS,
    );
    expect(loaded.config.access).toEqual({
      viewer: ['group:dev', 'group:sre'],
      releaser: [],
      approver: [],
      admin: ['alice@example.com'],
      environments: { prod: { releaser: ['group:sre'] } },
    });
  });

  it('is absent from a config without it', () => {
    const loaded = loadConfig(withAccess(), 'lockstep.yaml', ADAPTERS);
    expect('access' in loaded.config).toBe(false);
  });

  it('names unknown groups, unknown environments and unknown role keys, each at its line', () => {
    expect(
      problems(
        withAccess(
          'access:',
          '  releaser: [dana@example.com, group:devs]',
          '  approvers: [group:sre]',
          '  environments:',
          '    prd: { releaser: [group:sre] }',
          '    prod:',
          '      admin: [group:ops]',
          '      releasers: [group:sre]',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:14:32: access.releaser.1: unknown group devs: groups are sre, dev',
      'lockstep.yaml:15:3: access.approvers: unknown field approvers (did you mean approver?)',
      'lockstep.yaml:17:5: access.environments.prd: unknown environment prd (environments: dev, prod); did you mean prod?',
      'lockstep.yaml:19:15: access.environments.prod.admin.0: unknown group ops: groups are sre, dev',
      'lockstep.yaml:20:7: access.environments.prod.releasers: unknown field releasers (did you mean releaser?)',
    ]);
  });

  it('refuses a role list that is not a list of names', () => {
    expect(problems(withAccess('access:', '  viewer: group:dev', '  admin: [""]'))).toEqual([
      'lockstep.yaml:14:11: access.viewer: expected a list, got a string',
      'lockstep.yaml:15:11: access.admin.0: a name must not be empty',
    ]);
  });
});
