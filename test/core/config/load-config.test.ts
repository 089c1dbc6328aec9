import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/core/canonical-json.js';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { ConfigError } from '../../../src/core/errors.js';
import { ADAPTERS, ENVIRONMENTS, problems, problemsOf, yaml } from './fixtures.js';

/** project (line 1), ENVIRONMENTS (lines 2-7), `components:` (line 8), then `lines` from line 9. */
function withComponents(...lines: string[]): string {
  return yaml('project: shop', ...ENVIRONMENTS, 'components:', ...lines);
}

describe('loadConfig: a valid config', () => {
  const source = yaml(
    'project: checkout',
    'groups: { sre: [a@example.com] }',
    'environments:',
    '  dev:',
    '    vars: { account: "111", db: "${{ secrets.DEV_DB }}" }',
    '  prod:',
    '    after: [dev]',
    '    onFailure: halt',
    '    description: live',
    '    vars: { account: "333", db: "${{ secrets.PROD_DB }}" }',
    'components:',
    '  iam:',
    '    type: command',
    '    with: { apply: [./iam.sh, "${{ env.vars.account }}"] }',
    '    outputs:',
    '      role_arn: { type: string, pattern: "^arn:", description: the role }',
    '  api:',
    '    type: command',
    '    description: the API',
    '    with:',
    '      apply: ["./deploy.sh", "${{ version }}"]',
    '      env: { ROLE: "${{ components.iam.outputs.role_arn }}" }',
  );

  it('returns the config with names and defaults, `with` as written', () => {
    const loaded = loadConfig(source, 'lockstep.yaml', ADAPTERS);
    expect(loaded.config).toEqual({
      project: 'checkout',
      groups: { sre: ['a@example.com'] },
      environments: {
        dev: { name: 'dev', after: [], onFailure: 'rollback', vars: { account: '111', db: '${{ secrets.DEV_DB }}' } },
        prod: {
          name: 'prod',
          after: ['dev'],
          onFailure: 'halt',
          description: 'live',
          vars: { account: '333', db: '${{ secrets.PROD_DB }}' },
        },
      },
      components: {
        iam: {
          name: 'iam',
          type: 'command',
          dependsOn: [],
          with: { apply: ['./iam.sh', '${{ env.vars.account }}'] },
          outputs: { role_arn: { type: 'string', pattern: '^arn:', description: 'the role', sensitive: false } },
        },
        api: {
          name: 'api',
          type: 'command',
          description: 'the API',
          dependsOn: [],
          with: { apply: ['./deploy.sh', '${{ version }}'], env: { ROLE: '${{ components.iam.outputs.role_arn }}' } },
          outputs: {},
        },
      },
    });
    expect(Object.keys(loaded.config.components)).toEqual(['iam', 'api']);
  });

  it('gives the digest of the source, the file, and positions of values', () => {
    const loaded = loadConfig(source, 'conf/lockstep.yaml', ADAPTERS);
    expect(loaded.digest).toBe(sha256Hex(source));
    expect(loaded.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(loaded.file).toBe('conf/lockstep.yaml');
    expect(loaded.source).toBe(source);
    expect(loaded.locate(['components', 'api', 'with', 'apply', 1])).toEqual({ line: 21, column: 30 });
    expect(loaded.locate(['environments', 'prod', 'onFailure'])).toEqual({ line: 8, column: 16 });
    // A missing path falls back to the nearest ancestor.
    expect(loaded.locate(['components', 'api', 'outputs', 'x'])).toEqual({ line: 18, column: 5 });
  });

  it('follows YAML anchors and merge keys', () => {
    const loaded = loadConfig(
      withComponents(
        '  a:',
        '    type: command',
        '    with: &deploy { apply: ["./deploy.sh", "${{ version }}"], timeout: 5m }',
        '  b: { type: command, with: *deploy }',
        '  c:',
        '    type: command',
        '    with: { <<: *deploy, timeout: 9m }',
      ),
      'lockstep.yaml',
      ADAPTERS,
    );
    expect(loaded.config.components.b?.with).toEqual({ apply: ['./deploy.sh', '${{ version }}'], timeout: '5m' });
    expect(loaded.config.components.c?.with).toEqual({ apply: ['./deploy.sh', '${{ version }}'], timeout: '9m' });
    expect(loaded.locate(['components', 'b', 'with', 'timeout'])).toEqual({ line: 11, column: 72 });
  });

  it('throws ConfigError holding every problem', () => {
    try {
      loadConfig('project: 1\n', 'x.yaml', ADAPTERS);
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const e = error as ConfigError;
      expect(e.problems.length).toBe(3);
      expect(e.message.split('\n')).toEqual([
        'x.yaml:1:1: components: missing required field components',
        'x.yaml:1:1: environments: missing required field environments',
        'x.yaml:1:10: project: expected a string, got an integer',
      ]);
    }
  });
});

describe('loadConfig: YAML problems', () => {
  it('reports syntax errors at their position, and nothing else', () => {
    expect(problems(yaml('project: shop', 'environments:', '  dev: [a, b', 'components: {}'))).toEqual([
      'lockstep.yaml:4:1: components: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('reports duplicate keys at the second key, and still checks the rest', () => {
    expect(
      problems(
        withComponents(
          '  api: { type: command, with: { apply: [x] } }',
          '  api: { type: command, with: { apply: [y] }, dependsOn: [nope] }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:10:3: components.api: duplicate key api: a key may appear only once in a mapping',
      'lockstep.yaml:10:59: components.api.dependsOn.0: unknown component nope (components: api)',
    ]);
  });

  it('reports an empty file and a file that is not a mapping', () => {
    expect(problems('')).toEqual([
      'lockstep.yaml:1:1: (root): the config is empty: it needs project, environments and components',
    ]);
    expect(problems('# only a comment\n')).toEqual([
      'lockstep.yaml:1:1: (root): the config is empty: it needs project, environments and components',
    ]);
    expect(problems('- a\n- b\n')).toEqual([
      'lockstep.yaml:1:1: (root): the config must be a mapping with project, environments and components, not a list',
    ]);
    expect(problems('!!binary aGVsbG8=\n')).toEqual([
      'lockstep.yaml:1:10: (root): the config must be a mapping with project, environments and components, not binary data',
    ]);
  });

  it('refuses several documents and keys that are not names', () => {
    expect(problems('project: a\n---\nproject: b\n')).toEqual([
      'lockstep.yaml:2:1: (root): a config is one YAML document: remove the second ---',
    ]);
    expect(problems('project: a\n[x, y]: 1\n')).toEqual([
      'lockstep.yaml:2:1: ["x","y"]: YAML: With stringKeys, all keys must be strings',
    ]);
  });

  it('refuses an alias that nests a mapping in itself, at the alias', () => {
    expect(
      problems(withComponents('  a:', '    type: command', '    with: &w', '      apply: [x]', '      self: *w')),
    ).toEqual([
      'lockstep.yaml:13:13: components.a.with.self: this YAML alias refers to a mapping or list that contains it: a config cannot nest itself',
    ]);
  });
});

describe('loadConfig: schema problems', () => {
  it('points at the key of an unknown field and suggests a close one', () => {
    expect(
      problems(withComponents('  api:', '    type: command', '    dependson: [x]', '    with: { apply: [a] }')),
    ).toEqual(['lockstep.yaml:11:5: components.api.dependson: unknown field dependson (did you mean dependsOn?)']);
    expect(problems(withComponents('  api: { type: command, with: { apply: [a] }, colour: red }'))).toEqual([
      'lockstep.yaml:9:47: components.api.colour: unknown field colour (expected one of type, description, dependsOn, with, outputs)',
    ]);
    expect(problems(`version: 2\n${withComponents('  api: { type: command, with: { apply: [a] } }')}`)).toEqual([
      'lockstep.yaml:1:1: version: unknown field version (expected one of project, groups, environments, components, access, server, notify)',
    ]);
  });

  it('checks gates: groups, reachable counts, windows, CEL policies and verify checks, each at its line', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'groups:',
          '  sre: [bob@example.com]',
          'environments:',
          '  staging: { vars: { host: staging.example.com } }',
          '  prod:',
          '    after: [staging]',
          '    gates:',
          '      approvals: { count: 3, from: [group:sre, alice@example.com] }',
          '      soak: 30 minutes',
          '      overrideBy: [group:oncall]',
          '      windows:',
          '        - { allow: "Mon-Thr 09:00-16:00", timezone: Europe/Berlin }',
          '        - { deny: "2026-12-20 .. 2027-01-04", timezone: Mars/Olympus }',
          '      policy:',
          '        - expr: "!plan.irreversibel || approvals.count >= 3"',
          '        - expr: "approvals.count"',
          '      verify:',
          '        - http: { url: "https://${{ env.vars.hostname }}/healthz", expect: "response.status == \'200\'" }',
          '        - interval: 5s',
          'components:',
          '  api: { type: command, with: { apply: [a] } }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:9:27: environments.prod.gates.approvals.count: count is 3 but only 2 people may approve (bob@example.com, alice@example.com): no promotion could ever pass',
      'lockstep.yaml:10:13: environments.prod.gates.soak: soak must be a duration such as 30s, 10m, 1h30m or 2d',
      'lockstep.yaml:11:20: environments.prod.gates.overrideBy.0: unknown group oncall: groups are sre',
      expect.stringMatching(/^lockstep\.yaml:13:20: environments\.prod\.gates\.windows\.0\.allow: .*Thr/),
      expect.stringMatching(/^lockstep\.yaml:14:57: environments\.prod\.gates\.windows\.1\.timezone: .*Mars\/Olympus/),
      // The column points into the expression: at the unknown field, at the start of the non-bool one.
      'lockstep.yaml:16:24: environments.prod.gates.policy.0.expr: CEL: No such key: irreversibel',
      'lockstep.yaml:17:18: environments.prod.gates.policy.1.expr: CEL: the expression must be of type bool, got int',
      'lockstep.yaml:19:33: environments.prod.gates.verify.0.http.url: env.vars.hostname is not defined in environment prod',
      'lockstep.yaml:19:77: environments.prod.gates.verify.0.http.expect: CEL: no such overload: int == string',
      'lockstep.yaml:20:11: environments.prod.gates.verify.1: a verify check needs http or command',
    ]);
  });

  it('checks unknown fields in environments and outputs too', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'environments:',
          '  dev: { varz: {} }',
          'components:',
          '  api:',
          '    type: command',
          '    with: { apply: [a] }',
          '    outputs: { url: { type: string, sensitve: true } }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:3:10: environments.dev.varz: unknown field varz (did you mean vars?)',
      'lockstep.yaml:8:37: components.api.outputs.url.sensitve: unknown field sensitve (did you mean sensitive?)',
    ]);
  });

  it('points at the parent key for a missing required field', () => {
    expect(problems(withComponents('  api:', '    with: { apply: [a] }'))).toEqual([
      'lockstep.yaml:9:3: components.api.type: missing required field type',
    ]);
    expect(problems(withComponents('  api:', '    type: command', '    outputs: { url: { pattern: x } }'))).toEqual([
      'lockstep.yaml:9:3: components.api.with.apply: missing required field apply',
      'lockstep.yaml:11:16: components.api.outputs.url.type: missing required field type',
    ]);
  });

  it('reports wrong types and bad enum values', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'environments:',
          '  dev: { after: dev, onFailure: retry, vars: [a] }',
          'components:',
          '  api: { type: command, dependsOn: api, with: { apply: [a] }, outputs: { u: { type: text } } }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:3:17: environments.dev.after: expected a list, got a string',
      'lockstep.yaml:3:33: environments.dev.onFailure: expected one of "rollback", "halt"',
      'lockstep.yaml:3:46: environments.dev.vars: expected a mapping, got a list',
      'lockstep.yaml:5:36: components.api.dependsOn: expected a list, got a string',
      'lockstep.yaml:5:85: components.api.outputs.u.type: expected one of "string", "number", "integer", "boolean", "object", "array", "any"',
    ]);
  });

  it('rejects bad environment and component names, at the key', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'environments:',
          '  Prod: {}',
          '  eu_west-1: {}',
          'components:',
          '  1api: { type: command, with: { apply: [a] } }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:3:3: environments.Prod: an environment name must start with a lower-case letter and hold only a-z, 0-9, - and _: "Prod"',
      'lockstep.yaml:6:3: components.1api: a component name must start with a lower-case letter and hold only a-z, 0-9, - and _: "1api"',
    ]);
  });

  it('needs at least one environment and one component', () => {
    expect(problems(yaml('project: shop', 'environments: {}', 'components: {}'))).toEqual([
      'lockstep.yaml:2:15: environments: at least one environment is needed',
      'lockstep.yaml:3:13: components: at least one component is needed',
    ]);
    expect(problems(yaml('project: ""', 'environments:', 'components:'))).toEqual([
      'lockstep.yaml:1:10: project: the project name must not be empty',
      'lockstep.yaml:2:1: environments: expected a mapping, got nothing',
      'lockstep.yaml:3:1: components: expected a mapping, got nothing',
    ]);
  });
});

describe('loadConfig: component types and adapter specs', () => {
  it('lists the known types for an unknown one', () => {
    expect(problems(withComponents('  db: { type: terraform, with: { dir: x } }'))).toEqual([
      'lockstep.yaml:9:15: components.db.type: unknown component type terraform (known types: command, scale)',
    ]);
    expect(problems(withComponents('  db: { type: command, with: { apply: [x] } }'), new Map())).toEqual([
      'lockstep.yaml:9:15: components.db.type: unknown component type command: no component types are registered',
    ]);
  });

  it("reports the adapter spec's issues under the component's with", () => {
    expect(
      problems(
        withComponents(
          '  api:',
          '    type: command',
          '    with:',
          '      apply: []',
          '      timeout: 30',
          '      env: { A: [1] }',
          '      retries: 3',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:12:14: components.api.with.apply: Too small: expected array to have >=1 items',
      'lockstep.yaml:13:16: components.api.with.timeout: expected a string, got an integer',
      'lockstep.yaml:14:17: components.api.with.env.A: expected a string, a number or a boolean, got a list',
      'lockstep.yaml:15:7: components.api.with.retries: unknown field retries (expected one of apply, env, timeout)',
    ]);
  });

  it('reports a with that is not a mapping once', () => {
    expect(problems(withComponents('  api: { type: command, with: [apply] }'))).toEqual([
      'lockstep.yaml:9:31: components.api.with: expected a mapping, got a list',
    ]);
  });
});

describe('loadConfig: references', () => {
  const component = (...withLines: string[]) =>
    withComponents(
      '  iam:',
      '    type: command',
      '    with: { apply: [./iam.sh] }',
      '    outputs: { role_arn: { type: string }, port: { type: integer } }',
      '  api:',
      '    type: command',
      '    with:',
      ...withLines,
    );

  it('accepts every allowed root', () => {
    expect(
      problems(
        component(
          '      apply:',
          '        - "${{ env.name }}-${{ env.vars.region }}-${{ version }}-${{ previousVersion }}"',
          '        - "${{ release.id }} ${{ components.iam.version }} ${{ components.iam.outputs.role_arn }}"',
          "        - \"${{ secrets.TOKEN }} ${{ components['iam'].outputs['port'] + 1 }}\"",
        ),
      ),
    ).toEqual([]);
  });

  it('lists the allowed roots for an unknown one', () => {
    expect(problems(component('      apply: ["${{ vesion }}", "${{ env.region }}", "${{ release.labels }}"]'))).toEqual(
      [
        'lockstep.yaml:16:16: components.api.with.apply.0: unknown reference vesion (references: env.name, env.vars.<name>, version, previousVersion, release.id, components.<component>.version, components.<component>.outputs.<output>, secrets.<NAME>)',
        'lockstep.yaml:16:33: components.api.with.apply.1: unknown reference env.region (references: env.name, env.vars.<name>, version, previousVersion, release.id, components.<component>.version, components.<component>.outputs.<output>, secrets.<NAME>)',
        'lockstep.yaml:16:54: components.api.with.apply.2: unknown reference release.labels (references: env.name, env.vars.<name>, version, previousVersion, release.id, components.<component>.version, components.<component>.outputs.<output>, secrets.<NAME>)',
      ],
    );
  });

  it('names the environments an env var is missing from', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'environments:',
          '  dev: { vars: { db: a } }',
          '  staging: { vars: {} }',
          '  prod: {}',
          'components:',
          '  api: { type: command, with: { apply: ["${{ env.vars.db }}", "${{ env.vars.nope }}"] } }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:7:42: components.api.with.apply.0: env.vars.db is not defined in environments staging, prod',
      'lockstep.yaml:7:64: components.api.with.apply.1: env.vars.nope is not defined in any environment',
    ]);
  });

  it('checks component references: the component, itself, the output', () => {
    expect(
      problems(
        component(
          '      apply:',
          '        - "${{ components.iamm.outputs.role_arn }}"',
          '        - "${{ components.api.outputs.url }}"',
          '        - "${{ components.iam.outputs.role }}"',
          '        - "${{ components.iam }}"',
          '        - "${{ components.iam.outputs }}"',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:17:12: components.api.with.apply.0: components.iamm.outputs.role_arn names unknown component iamm (components: iam, api)',
      'lockstep.yaml:18:12: components.api.with.apply.1: components.api.outputs.url: a component cannot use its own version or outputs (use version for its version)',
      'lockstep.yaml:19:12: components.api.with.apply.2: component iam has no output role (declared: role_arn, port)',
      'lockstep.yaml:20:12: components.api.with.apply.3: components.iam: a component reference is components.<component>.version or components.<component>.outputs.<output>',
      'lockstep.yaml:21:12: components.api.with.apply.4: components.iam.outputs: a component reference is components.<component>.version or components.<component>.outputs.<output>',
    ]);
  });

  it('allows only env.name and secrets in environment vars', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'environments:',
          '  dev:',
          '    vars:',
          '      url: "https://${{ env.name }}.example.com"',
          '      db: "${{ secrets.DEV_DB }}"',
          '      v: "${{ version }}"',
          '      r: "${{ env.vars.url }}"',
          '      s: "${{ secrets }}"',
          'components:',
          '  api: { type: command, with: { apply: [x] } }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:7:11: environments.dev.vars.v: version cannot be used in environment vars: they may only use env.name and secrets.<NAME>',
      'lockstep.yaml:8:11: environments.dev.vars.r: env.vars.url cannot be used in environment vars: they may only use env.name and secrets.<NAME>',
      'lockstep.yaml:9:11: environments.dev.vars.s: secrets must be followed by a name, as in secrets.NAME',
    ]);
  });

  it('reports syntax errors at the ${{ of the expression', () => {
    expect(
      problems(component('      apply: [x, "v${{ version + }}", \'${{ a b }}\']', '      timeout: ${{ version')),
    ).toEqual([
      'lockstep.yaml:16:20: components.api.with.apply.1: expected an expression after + in ${{ version + }}',
      'lockstep.yaml:16:40: components.api.with.apply.2: unexpected identifier b in ${{ a b }}',
      'lockstep.yaml:17:16: components.api.with.timeout: ${{ is not closed with }}',
    ]);
  });

  it('finds the ${{ in plain, quoted, escaped, block and flow scalars', () => {
    expect(
      problems(
        component(
          '      apply:',
          '        - plain ${{ nope1 }}',
          '        - "dq \\" \\u0041 ${{ nope2 }}"',
          "        - 'it''s ${{ nope3 }}'",
          '        - >-',
          '          folded',
          '          ${{ nope4 }}',
          '        - [x, "${{ nope5 }}"]',
        ),
      ).map((p) => p.replace(/ \(references: .*\)$/, '')),
    ).toEqual([
      'lockstep.yaml:17:17: components.api.with.apply.0: unknown reference nope1',
      'lockstep.yaml:18:25: components.api.with.apply.1: unknown reference nope2',
      'lockstep.yaml:19:18: components.api.with.apply.2: unknown reference nope3',
      'lockstep.yaml:22:11: components.api.with.apply.3: unknown reference nope4',
      // The adapter wants strings in apply: the nested list is a problem of its own.
      'lockstep.yaml:23:11: components.api.with.apply.4: expected a string, got a list',
      'lockstep.yaml:23:16: components.api.with.apply.4.1: unknown reference nope5',
    ]);
  });
});

describe('loadConfig: typed handoffs', () => {
  const outputs = [
    '  src:',
    '    type: command',
    '    with: { apply: [x] }',
    '    outputs:',
    '      name: { type: string }',
    '      count: { type: integer }',
    '      ratio: { type: number }',
    '      on: { type: boolean }',
    '      cfg: { type: object }',
    '      names: { type: array, items: string }',
    '      nums: { type: array, items: integer }',
    '      list: { type: array }',
    '      blob: { type: any }',
  ];
  /** Outputs on lines 9-21; the consumer `dst` starts at line 22, its `with` fields at line 25. */
  const consumer = (type: string, ...withLines: string[]) =>
    withComponents(...outputs, '  dst:', `    type: ${type}`, '    with:', ...withLines);

  it('accepts references whose declared type fits', () => {
    expect(
      problems(
        consumer(
          'command',
          '      apply: "${{ components.src.outputs.names }}"',
          '      timeout: "${{ components.src.outputs.name }}"',
          '      env:',
          '        A: "${{ components.src.outputs.count }}"',
          '        B: "${{ components.src.outputs.on }}"',
          '        C: "${{ components.src.outputs.blob }}"',
          '        D: "n=${{ components.src.outputs.cfg.x }}"',
        ),
      ),
    ).toEqual([]);
    expect(
      problems(
        consumer(
          'scale',
          '      replicas: "${{ components.src.outputs.count }}"',
          '      enabled: "${{ components.src.outputs.on }}"',
          '      hosts: "${{ components.src.outputs.list }}"',
          '      target: "${{ components.src.outputs.cfg }}"',
        ),
      ),
    ).toEqual([]);
  });

  it('reports a declared type that does not fit the field', () => {
    expect(
      problems(
        consumer(
          'command',
          '      apply: "${{ components.src.outputs.name }}"',
          '      timeout: "${{ components.src.outputs.ratio }}"',
          '      env:',
          '        A: "${{ components.src.outputs.cfg }}"',
          '        B: "${{ components.src.outputs.names }}"',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:25:15: components.dst.with.apply: type mismatch: components.src.outputs.name is declared string, but this field expects array',
      'lockstep.yaml:26:17: components.dst.with.timeout: type mismatch: components.src.outputs.ratio is declared number, but this field expects string',
      'lockstep.yaml:28:13: components.dst.with.env.A: type mismatch: components.src.outputs.cfg is declared object, but this field expects string, number or boolean',
      'lockstep.yaml:29:13: components.dst.with.env.B: type mismatch: components.src.outputs.names is declared array of string, but this field expects string, number or boolean',
    ]);
  });

  it('checks array elements and integer fields', () => {
    expect(
      problems(
        consumer(
          'scale',
          '      replicas: "${{ components.src.outputs.ratio }}"',
          '      hosts: "${{ components.src.outputs.nums }}"',
          '      enabled: "${{ components.src.outputs.name }}"',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:25:18: components.dst.with.replicas: type mismatch: components.src.outputs.ratio is declared number, but this field expects integer',
      'lockstep.yaml:26:15: components.dst.with.hosts: type mismatch: components.src.outputs.nums is declared array of integer, but this field expects array of string',
      'lockstep.yaml:27:17: components.dst.with.enabled: type mismatch: components.src.outputs.name is declared string, but this field expects boolean',
    ]);
  });

  it('types env vars per environment and names the environments', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'environments:',
          '  dev: { vars: { n: 1, t: 5m, hosts: [a] } }',
          '  qa: { vars: { n: "1", t: 5m, hosts: [a, 2] } }',
          '  prod: { vars: { n: 2, t: 10m, hosts: [b] } }',
          'components:',
          '  api:',
          '    type: scale',
          '    with: { replicas: "${{ env.vars.n }}", hosts: "${{ env.vars.hosts }}" }',
          '  web:',
          '    type: command',
          '    with: { apply: [x], timeout: "${{ env.vars.n }}" }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:9:24: components.api.with.replicas: type mismatch: env.vars.n is string in environment qa, but this field expects integer',
      // In qa the list holds a number too: its element type is unknown, so it is not checked there.
      'lockstep.yaml:12:35: components.web.with.timeout: type mismatch: env.vars.n is integer in environments dev, prod, but this field expects string',
    ]);
  });

  it('types whole expressions and interpolated text', () => {
    expect(
      problems(
        consumer(
          'scale',
          '      replicas: "${{ env.name == \'prod\' ? 3 : 1 }}"',
          '      enabled: "${{ env.name == \'prod\' }}"',
          '      hosts: "${{ version }}"',
          '      target: "https://${{ components.src.outputs.name }}"',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:27:15: components.dst.with.hosts: type mismatch: version is a string, but this field expects array',
      'lockstep.yaml:28:24: components.dst.with.target: type mismatch: text with ${{ }} in it is always a string, but this field expects object',
    ]);
    expect(problems(consumer('scale', '      replicas: "${{ env.name == \'prod\' }}"'))).toEqual([
      "lockstep.yaml:25:18: components.dst.with.replicas: type mismatch: ${{ env.name == 'prod' }} gives boolean, but this field expects integer",
    ]);
  });

  it('leaves checks other than type to plan time', () => {
    expect(
      problems(
        consumer(
          'scale',
          // min(1) would fail for the placeholder 0; url() for "<string>"; both are values, not types.
          '      replicas: "${{ components.src.outputs.count }}"',
          '      target: { url: "${{ components.src.outputs.name }}", port: "${{ components.src.outputs.count }}" }',
          '      hosts: "${{ components.src.outputs.list }}"',
        ),
      ),
    ).toEqual([]);
    expect(problems(consumer('command', '      apply: "${{ components.src.outputs.list }}"'))).toEqual([]);
  });

  it('still reports problems away from templates', () => {
    expect(
      problems(
        consumer(
          'scale',
          '      replicas: "${{ components.src.outputs.count }}"',
          '      hosts: [1]',
          '      extra: x',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:26:15: components.dst.with.hosts.0: expected a string, got an integer',
      'lockstep.yaml:27:7: components.dst.with.extra: unknown field extra (expected one of replicas, enabled, hosts, target)',
    ]);
  });
});

describe('loadConfig: dependencies and promotion path', () => {
  it('reports a dependsOn naming an unknown component', () => {
    expect(problems(withComponents('  api: { type: command, dependsOn: [db, api-v2], with: { apply: [x] } }'))).toEqual(
      [
        'lockstep.yaml:9:37: components.api.dependsOn.0: unknown component db (components: api)',
        'lockstep.yaml:9:41: components.api.dependsOn.1: unknown component api-v2 (components: api)',
      ],
    );
  });

  it('names every component on a cycle, in order, at the first one', () => {
    expect(
      problems(
        withComponents(
          '  c: { type: command, dependsOn: [a], with: { apply: [x] } }',
          '  b:',
          '    type: command',
          '    with: { apply: ["${{ components.c.version }}"] }',
          '  a:',
          '    type: command',
          '    dependsOn: [b]',
          '    with: { apply: [x] }',
        ),
      ),
    ).toEqual(['lockstep.yaml:15:5: components.a.dependsOn: dependency cycle: a → b → c → a']);
  });

  it('locates a cycle made only of references at the component', () => {
    expect(
      problems(
        withComponents(
          '  b:',
          '    type: command',
          '    with: { apply: ["${{ components.a.outputs.x }}"] }',
          '    outputs: { y: { type: string } }',
          '  a:',
          '    type: command',
          '    with: { apply: ["${{ components.b.outputs.y }}"] }',
          '    outputs: { x: { type: string } }',
        ),
      ),
    ).toEqual(['lockstep.yaml:13:3: components.a: dependency cycle: a → b → a']);
  });

  it('reports a component depending on itself', () => {
    expect(problems(withComponents('  api: { type: command, dependsOn: [api], with: { apply: [x] } }'))).toEqual([
      'lockstep.yaml:9:25: components.api.dependsOn: dependency cycle: api → api',
    ]);
  });

  it('reports unknown environments in after, and cycles among environments', () => {
    expect(
      problems(
        yaml(
          'project: shop',
          'environments:',
          '  dev: { after: [prod] }',
          '  staging: { after: [dev, qa] }',
          '  prod: { after: [staging] }',
          'components:',
          '  api: { type: command, with: { apply: [x] } }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:3:10: environments.dev.after: cycle in the promotion path (after): dev → prod → staging → dev',
      'lockstep.yaml:4:27: environments.staging.after.1: unknown environment qa (environments: dev, staging, prod)',
    ]);
  });
});

describe('loadConfig: output declarations', () => {
  it('checks patterns compile and items go with arrays', () => {
    expect(
      problems(
        withComponents(
          '  api:',
          '    type: command',
          '    with: { apply: [x] }',
          '    outputs:',
          '      arn: { type: string, pattern: "^arn:(" }',
          '      ids: { type: array, items: integer, pattern: "^\\\\d+$" }',
          '      one: { type: string, items: string }',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:13:37: components.api.outputs.arn.pattern: pattern is not a valid regular expression: /^arn:(/u: Unterminated group',
      'lockstep.yaml:15:28: components.api.outputs.one.items: items applies to type array only, not string',
    ]);
  });
});

describe('loadConfig: every problem at once', () => {
  it('reports ten different problems in one go, sorted by position', () => {
    const source = yaml(
      'project: shop',
      'environments:',
      '  dev:',
      '    vars: { region: eu }',
      '    onFailure: retry', // 5: bad enum
      '  prod:',
      '    after: [staging]', // 7: unknown environment
      '    vars: { region: us }',
      'components:',
      '  iam:',
      '    type: command',
      '    with: { apply: [x], timout: 5m }', // 12: adapter spec: unknown field
      '    outputs:',
      '      arn: { type: string, pattern: "(" }', // 14: bad pattern
      '  api:',
      '    type: command',
      '    dependsOn: [cache]', // 17: unknown component
      '    with:',
      '      apply: ["${{ components.iam.outputs.role }}"]', // 19: undeclared output
      '      timeout: "${{ env.vars.zone }}"', // 20: env var missing
      '  db:',
      '    type: postgres', // 22: unknown type
      '    with: {}',
      '  web:',
      '    type: command',
      '    descripton: x', // 26: unknown field
      '    with: { apply: ["${{ 1 + }}"] }', // 27: syntax error
    );
    const found = problemsOf(source);
    expect(found.map((p) => [p.line, p.column, p.path])).toEqual([
      [5, 16, 'environments.dev.onFailure'],
      [7, 13, 'environments.prod.after.0'],
      [12, 25, 'components.iam.with.timout'],
      [14, 37, 'components.iam.outputs.arn.pattern'],
      [17, 17, 'components.api.dependsOn.0'],
      [19, 16, 'components.api.with.apply.0'],
      [20, 17, 'components.api.with.timeout'],
      [22, 11, 'components.db.type'],
      [26, 5, 'components.web.descripton'],
      [27, 22, 'components.web.with.apply.0'],
    ]);
    expect(found.every((p) => p.file === 'lockstep.yaml')).toBe(true);
    expect(found.map((p) => p.message)).toEqual([
      'expected one of "rollback", "halt"',
      'unknown environment staging (environments: dev, prod)',
      'unknown field timout (did you mean timeout?)',
      'pattern is not a valid regular expression: /(/u: Unterminated group',
      'unknown component cache (components: iam, api, db, web)',
      'component iam has no output role (declared: arn)',
      'env.vars.zone is not defined in any environment',
      'unknown component type postgres (known types: command, scale)',
      'unknown field descripton (did you mean description?)',
      'expected an expression after + in ${{ 1 + }}',
    ]);
  });
});

describe('loadConfig: drift schedule', () => {
  const config = (drift: string): string =>
    yaml('project: shop', 'environments:', '  prod:', `    drift: ${drift}`, 'components:', '  api: { type: command, with: { apply: [x] } }');

  it('accepts drift: { every: 15m } under an environment', () => {
    expect(problems(config('{ every: 15m }'))).toEqual([]);
    expect(loadConfig(config('{ every: 15m }'), 'lockstep.yaml', ADAPTERS).config.environments.prod?.drift).toEqual({ every: '15m' });
  });

  it('names the file, line and field of a bad schedule', () => {
    expect(problems(config('{ every: 10s }'))).toEqual([
      'lockstep.yaml:4:21: environments.prod.drift.every: every must be at least 1m: each check asks every system of the environment',
    ]);
    expect(problems(config('{ every: often }'))).toEqual([
      'lockstep.yaml:4:21: environments.prod.drift.every: every must be a duration such as 30s, 10m, 1h30m or 2d',
    ]);
    // A misspelt key: named at its place, and the missing `every` at the block.
    const misspelt = problems(config('{ evry: 15m }'));
    expect(misspelt.length).toBeGreaterThan(0);
    for (const p of misspelt) expect(p).toMatch(/^lockstep\.yaml:4:\d+: environments\.prod\.drift/);
    expect(misspelt.join('\n')).toContain('evry');
  });
});
