import { afterEach, describe, expect, it } from 'vitest';
import { lockstep } from '../helpers/cli.js';
import { testProject, type TestProject } from '../helpers/project.js';

// What people typed reaches a terminal escaped: an escape sequence in a release message cannot
// clear the screen or forge lines in `release list`, and names JavaScript knows are just unknown names.

const CONFIG = `project: text
environments:
  dev: {}
components:
  api:
    type: command
    with: { apply: ["./deploy.sh", "\${{ version }}"] }
`;

let project: TestProject | undefined;
afterEach(() => {
  project?.cleanup();
  project = undefined;
});

describe('user text on the terminal', () => {
  it('release list and release show print a message with escape sequences and line breaks escaped; JSON keeps it', () => {
    project = testProject(CONFIG);
    const message = 'hotfix\u001b[2J\u001b[H\nabc123  2026-01-01  root  api=9.9.9  forged\u009b1A';
    expect(lockstep(project.dir, ['release', 'create', '--set', 'api=1.0.0', '-m', message]).status).toBe(0);

    const list = lockstep(project.dir, ['release', 'list']);
    expect(list.status).toBe(0);
    expect(list.stdout).not.toContain('\u001b');
    expect(list.stdout).not.toContain('\u009b');
    // Header and one row: the message's line break did not add a row.
    expect(list.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(list.stdout).toContain('hotfix\\x1b[2J\\x1b[H\\nabc123  2026-01-01  root  api=9.9.9  forged\\x9b1A');

    const show = lockstep(project.dir, ['release', 'show', list.stdout.split('\n')[1]?.slice(0, 12) ?? '']);
    expect(show.status).toBe(0);
    expect(show.stdout).not.toContain('\u001b');
    expect(show.stdout).not.toContain('\u009b');
    expect(show.stdout).toContain('message: hotfix\\x1b[2J');

    const json = lockstep(project.dir, ['release', 'list', '-o', 'json']);
    expect((JSON.parse(json.stdout) as { message: string }[])[0]?.message).toBe(message);
  });

  it('a version breaking the documented rule is refused by release create, exit 2', () => {
    project = testProject(CONFIG);
    for (const version of ['-rf', '1\u2028', '1\u0085', '🚀'.repeat(257)]) {
      const r = lockstep(project.dir, ['release', 'create', '--set', `api=${version}`]);
      expect(r.status, JSON.stringify(version)).toBe(2);
      expect(r.stderr).toContain('version of api');
    }
    expect(lockstep(project.dir, ['release', 'list']).stdout).toContain('no releases yet');
  });

  it('status --env and plan --to with a prototype name are unknown environments, exit 2', () => {
    project = testProject(CONFIG);
    expect(lockstep(project.dir, ['release', 'create', '--set', 'api=1.0.0']).status).toBe(0);
    for (const name of ['__proto__', 'constructor', 'toString']) {
      const status = lockstep(project.dir, ['status', '--env', name]);
      expect(status.status, name).toBe(2);
      expect(status.stderr).toContain(`unknown environment ${name}`);
    }
    const id = (JSON.parse(lockstep(project.dir, ['release', 'list', '-o', 'json']).stdout) as { id: string }[])[0]?.id ?? '';
    const plan = lockstep(project.dir, ['plan', id, '--to', 'hasOwnProperty']);
    expect(plan.status).toBe(2);
    expect(plan.stderr).toContain('unknown environment hasOwnProperty');
  });

  it('an error quoting what was typed keeps its lines but escapes what could clear the screen or rewrite a line', () => {
    project = testProject(CONFIG);
    expect(lockstep(project.dir, ['release', 'create', '--set', 'api=1.0.0']).status).toBe(0);
    for (const args of [['release', 'show', 'abcdefg\u001b[2J'], ['logs', 'abcdefg\r\u001b[1Aforged']]) {
      const r = lockstep(project.dir, args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('abcdefg\\');
      expect(r.stderr.includes('\u001b') || r.stderr.includes('\r')).toBe(false);
    }
  });
});
