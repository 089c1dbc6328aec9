import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReleaseRecord } from '../../src/core/model.js';
import { lockstep } from '../helpers/cli.js';
import { testProject, type TestProject } from '../helpers/project.js';

// A version is data. From `release create --set` to the apply command's argv it must stay one
// argument, byte for byte: no shell sees it, and no `${{ }}` inside it is evaluated.
// record.sh writes each argument it got, NUL-terminated, and $LOCKSTEP_VERSION, so both can be
// compared exactly.
const RECORD_SH = `#!/bin/sh
mkdir -p args env
printf '%s\\0' "$@" > "args/$LOCKSTEP_COMPONENT"
printf '%s' "$LOCKSTEP_VERSION" > "env/$LOCKSTEP_COMPONENT"
`;

let project: TestProject | undefined;
afterEach(() => {
  project?.cleanup();
  project = undefined;
});

describe('versions reach the command as single, literal arguments', () => {
  it('shell metacharacters, quotes, spaces, backticks and ${{ }} pass through release create and promote unchanged, and run nothing', () => {
    const names = ['semicolon', 'subshell', 'spaces', 'backtick', 'quote', 'pipe', 'template', 'glob'];
    const config = `project: argv
environments:
  dev: {}
components:
${names.map((n) => `  ${n}:\n    type: command\n    with:\n      apply: ["./record.sh", "\${{ version }}", "last"]`).join('\n')}
`;
    project = testProject(config);
    project.write('record.sh', RECORD_SH, true);
    const dir = project.dir;
    const pwned = (n: number): string => join(dir, `pwned${n}`);
    const versions: Record<string, string> = {
      semicolon: `1.0; touch ${pwned(1)}`,
      subshell: `$(touch ${pwned(2)})`,
      spaces: 'a b "c"',
      backtick: `\`touch ${pwned(3)}\``,
      quote: `x' && touch ${pwned(4)} #`,
      pipe: `2 | touch ${pwned(5)} > /dev/null & touch ${pwned(6)}`,
      template: '${{ env.name }}-${{ secrets.HOME }}',
      glob: '* -rf ~ $HOME \\n',
    };

    const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
    const created = lockstep(dir, ['release', 'create', ...set, '--output', 'json']);
    expect(created.status, created.stderr).toBe(0);
    const release = (JSON.parse(created.stdout) as { release: ReleaseRecord }).release;
    expect(release.versions).toEqual(versions);

    const promoted = lockstep(dir, ['promote', release.id.slice(0, 7), '--to', 'dev'], { CI: 'true' });
    expect(promoted.status, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);

    for (const [component, version] of Object.entries(versions)) {
      const args = readFileSync(join(dir, 'args', component), 'utf8');
      expect(args.split('\0'), component).toEqual([version, 'last', '']);
      expect(readFileSync(join(dir, 'env', component), 'utf8'), component).toBe(version);
    }
    const stray = readdirSync(dir).filter((f) => f.startsWith('pwned'));
    expect(stray, 'a version was run by a shell').toEqual([]);
    for (let n = 1; n <= 6; n++) expect(existsSync(pwned(n))).toBe(false);

    // What was recorded is the literal text too.
    const status = lockstep(dir, ['status', '--env', 'dev', '--output', 'json']);
    const [dev] = JSON.parse(status.stdout) as { components: { component: string; version: string }[] }[];
    expect(Object.fromEntries(dev!.components.map((c) => [c.component, c.version]))).toEqual(versions);
  });

  it('a version with a line break or a control character is refused (exit 2) before anything is recorded', () => {
    project = testProject(`project: argv
environments:
  dev: {}
components:
  a:
    type: command
    with: { apply: ["./deploy.sh", "\${{ version }}"] }
`);
    // (A NUL cannot be passed in argv at all.)
    for (const bad of ['1.0\ntouch pwned', '1.0\u001b[2J', '1.0\r', '']) {
      const r = lockstep(project.dir, ['release', 'create', '--set', `a=${bad}`]);
      expect(r.status, JSON.stringify(bad)).toBe(2);
      expect(r.stderr).toMatch(bad === '' ? /empty/ : /control character or line break/);
    }
    const list = lockstep(project.dir, ['release', 'list', '--output', 'json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});
