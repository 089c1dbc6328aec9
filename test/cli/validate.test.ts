import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockstep } from '../helpers/cli.js';
import { testProject, type TestProject } from '../helpers/project.js';

// `lockstep validate` through the built CLI. Every expected position below was counted by hand in the
// YAML written right above it (lines and columns are 1-based); a `${{ }}` problem points at its `$`.

const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function newProject(yaml: string): TestProject {
  const p = testProject(yaml);
  projects.push(p);
  return p;
}

interface Validation {
  status: number | null;
  /** The problem lines on stderr, without the closing "N problems" count. */
  problems: string[];
  stderr: string;
  stdout: string;
}

function validate(yaml: string, args: string[] = []): Validation {
  const project = newProject(yaml);
  const r = lockstep(project.dir, ['validate', ...args]);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const count = lines.at(-1) ?? '';
  if (r.status === 2 && args.length === 0) {
    // The closing line counts what was printed above it.
    expect(count, r.stderr).toMatch(/^\d+ problems?$/);
    expect(Number(count.split(' ')[0]), r.stderr).toBe(lines.length - 1);
    return { status: r.status, problems: lines.slice(0, -1), stderr: r.stderr, stdout: r.stdout };
  }
  return { status: r.status, problems: lines, stderr: r.stderr, stdout: r.stdout };
}

/** `FILE:LINE:COL: dotted.path: message`, split. */
function parts(line: string): { file: string; line: number; column: number; path: string; message: string } {
  const m = /^([^:]+):(\d+):(\d+): ([^:\s]+): (.+)$/.exec(line);
  if (!m) throw new Error(`not FILE:LINE:COL: path: message: ${line}`);
  return { file: m[1]!, line: Number(m[2]), column: Number(m[3]), path: m[4]!, message: m[5]! };
}

describe('lockstep validate: one problem of each kind, at its exact position', () => {
  it('a YAML syntax error', () => {
    const v = validate(`project: x
environments:
  dev: {}
components:
  a:
    type: command: x
    with: { apply: ["./deploy.sh"] }
`);
    expect(v.status).toBe(2);
    expect(v.problems, v.stderr).toHaveLength(1);
    const p = parts(v.problems[0]!);
    // "command" starts at column 11 of line 6: a mapping cannot start inside a compact value.
    expect([p.file, p.line, p.column]).toEqual(['lockstep.yaml', 6, 11]);
    // The path is a best guess in a broken document: the nearest key the parser could read.
    expect(p.path).toMatch(/^components\.a\.type\b/);
    expect(p.message).toMatch(/^YAML: /);
  });

  it('unknown fields at the top level, in an environment, in a component and in with: of a command', () => {
    const v = validate(`project: x
owner: me
environments:
  dev:
    colour: red
components:
  api:
    type: command
    replicas: 2
    with:
      apply: ["./deploy.sh"]
      retries: 3
`);
    expect(v.status).toBe(2);
    expect(v.problems.map(parts).map((p) => [p.line, p.column, p.path])).toEqual([
      [2, 1, 'owner'],
      [5, 5, 'environments.dev.colour'],
      [9, 5, 'components.api.replicas'],
      [12, 7, 'components.api.with.retries'],
    ]);
    expect(v.problems[0]).toBe('lockstep.yaml:2:1: owner: unknown field owner (expected one of project, groups, environments, components, access, server, notify)');
    for (const [i, field] of ['owner', 'colour', 'replicas', 'retries'].entries()) {
      expect(parts(v.problems[i]!).message).toMatch(new RegExp(`^unknown field ${field}\\b`));
    }
  });

  it('an unknown component type, naming the known ones', () => {
    const v = validate(`project: x
environments:
  dev: {}
components:
  api:
    type: helm
    with: {}
`);
    expect(v.status).toBe(2);
    expect(v.problems).toEqual(['lockstep.yaml:6:11: components.api.type: unknown component type helm (known types: aws-lambda, cloudformation, command, gitops, http, sql-migrations, ssh, terraform)']);
  });

  it('a missing required adapter field (with.apply), at the with: key', () => {
    const v = validate(`project: x
environments:
  dev: {}
components:
  api:
    type: command
    with:
      verify: ["./check.sh"]
`);
    expect(v.status).toBe(2);
    expect(v.problems).toEqual(['lockstep.yaml:7:5: components.api.with.apply: missing required field apply']);
  });

  it('a reference to an unknown component, in dependsOn and in an expression', () => {
    const v = validate(`project: x
environments:
  dev: {}
components:
  api:
    type: command
    dependsOn: [ghost]
    with:
      apply: ["./deploy.sh", "\${{ components.db.version }}"]
`);
    expect(v.status).toBe(2);
    expect(v.problems).toEqual([
      'lockstep.yaml:7:17: components.api.dependsOn.0: unknown component ghost (components: api)',
      'lockstep.yaml:9:31: components.api.with.apply.1: components.db.version names unknown component db (components: api)',
    ]);
  });

  it('a reference to an output the producer does not declare', () => {
    const v = validate(`project: x
environments:
  dev: {}
components:
  db:
    type: command
    with:
      apply: ["./deploy.sh"]
    outputs:
      url: { type: string }
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ components.db.outputs.host }}"]
`);
    expect(v.status).toBe(2);
    expect(v.problems).toEqual([
      'lockstep.yaml:14:31: components.api.with.apply.1: component db has no output host (declared: url)',
    ]);
  });

  it('a reference to an env var one environment lacks, naming that environment', () => {
    const v = validate(`project: x
environments:
  dev:
    vars: { region: eu }
  prod: {}
components:
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ env.vars.region }}"]
`);
    expect(v.status).toBe(2);
    expect(v.problems).toEqual([
      'lockstep.yaml:10:31: components.api.with.apply.1: env.vars.region is not defined in environment prod',
    ]);
  });

  const typed = (type: string): string => `project: x
environments:
  dev: {}
components:
  config:
    type: command
    with:
      apply: ["./deploy.sh"]
    outputs:
      settings: { type: ${type} }
  api:
    type: command
    with:
      apply: ["./deploy.sh"]
      env:
        SETTINGS: "\${{ components.config.outputs.settings }}"
`;

  it('an output declared object used whole where a command env value (string, number or boolean) goes', () => {
    const v = validate(typed('object'));
    expect(v.status).toBe(2);
    expect(v.problems).toEqual([
      'lockstep.yaml:16:20: components.api.with.env.SETTINGS: type mismatch: components.config.outputs.settings is declared object, but this field expects string, number or boolean',
    ]);
    // The same handoff with a fitting type is fine: the problem is the type, not the reference.
    for (const ok of ['string', 'number', 'boolean']) {
      const fine = validate(typed(ok));
      expect(fine.status, `${ok}: ${fine.stderr}`).toBe(0);
    }
  });

  it('a dependency cycle, naming every component on it and none off it', () => {
    const v = validate(`project: x
environments:
  dev: {}
components:
  a:
    type: command
    dependsOn: [b]
    with: { apply: ["./deploy.sh"] }
  b:
    type: command
    dependsOn: [c]
    with: { apply: ["./deploy.sh"] }
  c:
    type: command
    dependsOn: [a]
    with: { apply: ["./deploy.sh"] }
  d:
    type: command
    dependsOn: [a]
    with: { apply: ["./deploy.sh"] }
`);
    expect(v.status).toBe(2);
    expect(v.problems).toEqual(['lockstep.yaml:7:5: components.a.dependsOn: dependency cycle: a → b → c → a']);
  });

  it('a dependency cycle made by an output reference as well as dependsOn', () => {
    const v = validate(`project: x
environments:
  dev: {}
components:
  a:
    type: command
    with: { apply: ["./deploy.sh", "\${{ components.b.outputs.o }}"] }
    outputs: { o: { type: string } }
  b:
    type: command
    dependsOn: [a]
    with: { apply: ["./deploy.sh"] }
    outputs: { o: { type: string } }
`);
    expect(v.status).toBe(2);
    expect(v.problems).toHaveLength(1);
    const p = parts(v.problems[0]!);
    expect(p.message).toBe('dependency cycle: a → b → a');
  });

  it('after: naming an unknown environment', () => {
    const v = validate(`project: x
environments:
  dev: {}
  prod:
    after: [stage]
components:
  api:
    type: command
    with: { apply: ["./deploy.sh"] }
`);
    expect(v.status).toBe(2);
    expect(v.problems).toEqual(['lockstep.yaml:5:13: environments.prod.after.0: unknown environment stage (environments: dev, prod)']);
  });

  it('a cycle in after:, reported once, naming both environments', () => {
    const v = validate(`project: x
environments:
  dev: {}
  staging:
    after: [dev, prod]
  prod:
    after: [staging]
components:
  api:
    type: command
    with: { apply: ["./deploy.sh"] }
`);
    expect(v.status).toBe(2);
    // Reported at the smallest name on the cycle, so the report does not depend on the file's order.
    expect(v.problems).toEqual(['lockstep.yaml:7:5: environments.prod.after: cycle in the promotion path (after): prod → staging → prod']);
  });
});

// Eight kinds of problem in one file: all are reported in one run, sorted by line.
const MANY = `project: x
owner: me
environments:
  dev:
    vars: { region: eu }
  prod:
    after: [stage]
components:
  a:
    type: command
    dependsOn: [b]
    with:
      apply: ["./deploy.sh", "\${{ env.vars.region }}"]
  b:
    type: command
    dependsOn: [a]
    with:
      verify: ["./check.sh"]
    outputs:
      cfg: { type: object }
  c:
    type: helm
    with: {}
  d:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ components.zz.version }}"]
      retries: 3
      env:
        CFG: "\${{ components.b.outputs.cfg }}"
        HOST: "\${{ components.b.outputs.host }}"
`;

describe('lockstep validate: every problem at once', () => {
  it('reports all of them, one per line, sorted by line, exit 2', () => {
    const v = validate(MANY);
    expect(v.status).toBe(2);
    expect(v.stdout).toBe('');
    const found = v.problems.map(parts);
    expect(found.map((p) => `${p.line}:${p.column} ${p.path}`)).toEqual([
      '2:1 owner',
      '7:13 environments.prod.after.0',
      '11:5 components.a.dependsOn',
      '13:31 components.a.with.apply.1',
      '17:5 components.b.with.apply',
      '22:11 components.c.type',
      '27:31 components.d.with.apply.1',
      '28:7 components.d.with.retries',
      '30:15 components.d.with.env.CFG',
      '31:16 components.d.with.env.HOST',
    ]);
    const messages = found.map((p) => p.message);
    expect(messages[1]).toMatch(/^unknown environment stage/);
    expect(messages[2]).toBe('dependency cycle: a → b → a');
    expect(messages[3]).toBe('env.vars.region is not defined in environment prod');
    expect(messages[4]).toBe('missing required field apply');
    expect(messages[5]).toMatch(/^unknown component type helm/);
    expect(messages[6]).toMatch(/names unknown component zz/);
    expect(messages[7]).toMatch(/^unknown field retries/);
    expect(messages[8]).toMatch(/^type mismatch: components\.b\.outputs\.cfg is declared object/);
    expect(messages[9]).toBe('component b has no output host (declared: cfg)');
    expect(v.problems.every((l) => l.startsWith('lockstep.yaml:'))).toBe(true);
  });

  it('--output json gives {valid: false, problems} with the same problems, exit 2', () => {
    const text = validate(MANY);
    const v = validate(MANY, ['--output', 'json']);
    expect(v.status).toBe(2);
    const out = JSON.parse(v.stdout) as { valid: boolean; problems: { file: string; line: number; column: number; path: string; message: string }[] };
    expect(out.valid).toBe(false);
    expect(out.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.path}: ${p.message}`)).toEqual(text.problems);
  });

  it('a valid config exits 0, in text and in JSON', () => {
    const yaml = `project: x
environments:
  dev: {}
  prod: { after: [dev] }
components:
  db:
    type: command
    with: { apply: ["./deploy.sh", "\${{ version }}"] }
    outputs:
      url: { type: string }
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      env: { DB: "\${{ components.db.outputs.url }}" }
`;
    const v = validate(yaml);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/valid \(2 environments, 2 components\)/);
    const j = validate(yaml, ['--output', 'json']);
    expect(j.status, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ valid: true, problems: [], environments: ['dev', 'prod'], components: ['db', 'api'] });
  });
});

describe('lockstep init', () => {
  it('writes a config that validate accepts, and does not overwrite one without --force', () => {
    const project = newProject('placeholder: true\n');
    const config = join(project.dir, 'lockstep.yaml');
    const mine = '# my own config\nproject: mine\n';
    writeFileSync(config, mine);

    const refused = lockstep(project.dir, ['init']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/exists already.*--force/);
    expect(readFileSync(config, 'utf8')).toBe(mine);

    const forced = lockstep(project.dir, ['init', '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).not.toBe(mine);

    const v = lockstep(project.dir, ['validate']);
    expect(v.status, v.stderr).toBe(0);
  });

  it('writes lockstep.yaml in an empty directory (or --config FILE)', () => {
    const project = newProject('x: 1\n');
    const r = lockstep(project.dir, ['--config', 'other.yaml', 'init']);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(project.dir, 'other.yaml'), 'utf8')).toMatch(/components:/);
    expect(lockstep(project.dir, ['--config', 'other.yaml', 'validate']).status).toBe(0);
  });
});

describe('lockstep schema', () => {
  it('prints a JSON Schema that describes components and the command adapter\'s apply', () => {
    const project = newProject('x: 1\n');
    const r = lockstep(project.dir, ['schema']);
    expect(r.status, r.stderr).toBe(0);
    const schema = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(String(schema.$schema)).toMatch(/json-schema\.org/);

    // Every object key anywhere in the document, with the path to it.
    const keys: string[][] = [];
    const walk = (value: unknown, path: string[]): void => {
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, String(i)]));
      else if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          keys.push([...path, k]);
          walk(v, [...path, k]);
        }
      }
    };
    walk(schema, []);
    const under = (parent: string, key: string): boolean => keys.some((p) => p.at(-1) === key && p.at(-2) === parent);
    expect(under('properties', 'components')).toBe(true);
    // apply is a property of the command adapter's `with`, reached through an if/then on type.
    const apply = keys.filter((p) => p.at(-1) === 'apply' && p.at(-2) === 'properties');
    expect(apply.length, 'a properties.apply somewhere').toBeGreaterThan(0);
    expect(apply.some((p) => p.includes('with'))).toBe(true);
    expect(JSON.stringify(schema)).toContain('"const":"command"');
  });
});
