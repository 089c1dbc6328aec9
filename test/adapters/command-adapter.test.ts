import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { StepContext } from '../../src/core/adapter.js';
import { commandAdapter } from '../../src/adapters/command/command-adapter.js';
import { commandSpec } from '../../src/adapters/command/command-spec.js';
import type { CommandSpec } from '../../src/adapters/command/command-spec.js';
import { runProcess } from '../../src/adapters/command/run-process.js';
import { stepContext } from '../helpers/step-context.js';
import { failure } from '../helpers/step-failure.js';

// Real processes throughout: each test writes small shell scripts into a temp project directory.

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lockstep-command-test-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return `./${name}`;
}

function spec(input: Record<string, unknown>): CommandSpec {
  return commandSpec.parse(input);
}

function context(overrides: Partial<StepContext> = {}): ReturnType<typeof stepContext> {
  return stepContext({ projectDir: dir, ...overrides });
}

/** Alive and not a zombie (a killed orphan may wait for a reaper that a container's init never runs). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

function issues(input: unknown): { path: PropertyKey[]; message: string }[] {
  const result = commandSpec.safeParse(input);
  expect(result.success).toBe(false);
  return (result.error as z.ZodError).issues.map((i) => ({ path: i.path, message: i.message }));
}

describe('command adapter: environment and outputs', () => {
  it('gives every run the parent environment, env, and the LOCKSTEP_ variables', async () => {
    process.env.LOCKSTEP_TEST_FROM_PARENT = 'inherited';
    try {
      const names = [
        'LOCKSTEP_TEST_FROM_PARENT',
        'ROLE_ARN',
        'COUNT',
        'FLAG',
        'LOCKSTEP_ENVIRONMENT',
        'LOCKSTEP_COMPONENT',
        'LOCKSTEP_VERSION',
        'LOCKSTEP_PREVIOUS_VERSION',
        'LOCKSTEP_RELEASE',
        'LOCKSTEP_PROMOTION',
        'LOCKSTEP_IDEMPOTENCY_KEY',
        'LOCKSTEP_PROJECT',
      ];
      const apply = await script(
        'env.sh',
        `for v in ${names.join(' ')}; do eval "printf '%s=%s\\n' \\"$v\\" \\"\\\${$v-unset}\\""; done
test -f "$LOCKSTEP_OUTPUTS" && test ! -s "$LOCKSTEP_OUTPUTS" && echo "outputs file: empty"
echo "outputs path: $LOCKSTEP_OUTPUTS"`,
      );
      const { ctx, lines } = context({ previousVersion: undefined });
      await commandAdapter.apply(
        spec({ apply: [apply], env: { ROLE_ARN: 'arn:aws:iam::1:role/x', COUNT: 3, FLAG: true } }),
        { summary: '' },
        ctx,
      );
      expect(lines.slice(0, names.length)).toEqual([
        'LOCKSTEP_TEST_FROM_PARENT=inherited',
        'ROLE_ARN=arn:aws:iam::1:role/x',
        'COUNT=3',
        'FLAG=true',
        'LOCKSTEP_ENVIRONMENT=staging',
        'LOCKSTEP_COMPONENT=billing',
        'LOCKSTEP_VERSION=1.4.2',
        'LOCKSTEP_PREVIOUS_VERSION=',
        'LOCKSTEP_RELEASE=rel-0123abcd',
        'LOCKSTEP_PROMOTION=promo-42',
        'LOCKSTEP_IDEMPOTENCY_KEY=idem-key-1',
        'LOCKSTEP_PROJECT=checkout',
      ]);
      expect(lines).toContain('outputs file: empty');
      // The outputs file is removed after the run; its directory is private to this user.
      const outputsPath = lines.find((l) => l.startsWith('outputs path: '))?.slice('outputs path: '.length);
      expect(outputsPath).toMatch(/outputs/);
      expect(existsSync(outputsPath ?? '')).toBe(false);
      expect(statSync(path.dirname(outputsPath ?? '')).mode & 0o777).toBe(0o700);
    } finally {
      delete process.env.LOCKSTEP_TEST_FROM_PARENT;
    }
  });

  it('sets LOCKSTEP_PREVIOUS_VERSION when there is one', async () => {
    const apply = await script('prev.sh', 'echo "$LOCKSTEP_PREVIOUS_VERSION"');
    const { ctx, lines } = context({ previousVersion: '1.4.1' });
    await commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx);
    expect(lines).toEqual(['1.4.1']);
  });

  it('returns the JSON object written to $LOCKSTEP_OUTPUTS as the outputs', async () => {
    const apply = await script('out.sh', `printf '{"role_arn": "arn:1", "replicas": 2}' > "$LOCKSTEP_OUTPUTS"`);
    const { ctx } = context();
    await expect(commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx)).resolves.toEqual({
      role_arn: 'arn:1',
      replicas: 2,
    });
  });

  it('returns no outputs when nothing was written', async () => {
    const apply = await script('none.sh', 'echo deployed');
    const { ctx } = context();
    await expect(commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx)).resolves.toEqual({});
  });

  it('fails, not retryable, on invalid JSON, without quoting the content', async () => {
    const apply = await script('bad.sh', `printf '{"token": "s3cr3t-value",' > "$LOCKSTEP_OUTPUTS"`);
    const { ctx } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/^apply: the outputs file \(\$LOCKSTEP_OUTPUTS\) is not valid JSON/);
    expect(error.message).not.toContain('s3cr3t');
  });

  it('fails when the outputs file holds JSON that is not an object', async () => {
    const apply = await script('array.sh', `echo '[1, 2]' > "$LOCKSTEP_OUTPUTS"`);
    const { ctx } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx));
    expect(error.message).toBe(
      'apply: the outputs file ($LOCKSTEP_OUTPUTS) must hold one JSON object of outputs, but holds an array',
    );
  });
});

describe('command adapter: argv and shell', () => {
  it('passes argv elements as data: no shell interprets ; or $(…)', async () => {
    const apply = await script('args.sh', 'echo "count=$#"; for a in "$@"; do echo "arg=$a"; done');
    const pwned = path.join(dir, 'pwned');
    const pwned2 = path.join(dir, 'pwned2');
    const { ctx, lines } = context();
    await commandAdapter.apply(spec({ apply: [apply, `1.0; touch ${pwned}`] }), { summary: '' }, ctx);
    await commandAdapter.apply(spec({ apply: [apply, `$(touch ${pwned2})`] }), { summary: '' }, ctx);
    await commandAdapter.apply(spec({ apply: [apply, `it's "quoted" and spaced`, '`id`'] }), { summary: '' }, ctx);
    expect(lines).toEqual([
      'count=1',
      `arg=1.0; touch ${pwned}`,
      'count=1',
      `arg=$(touch ${pwned2})`,
      'count=2',
      `arg=it's "quoted" and spaced`,
      'arg=`id`',
    ]);
    expect(existsSync(pwned)).toBe(false);
    expect(existsSync(pwned2)).toBe(false);
  });

  it('runs one string through /bin/sh -c with shell: true', async () => {
    const { ctx, lines } = context();
    await commandAdapter.apply(
      spec({ apply: 'echo "$LOCKSTEP_VERSION" | tr . - && echo second', shell: true }),
      { summary: '' },
      ctx,
    );
    expect(lines).toEqual(['1-4-2', 'second']);
  });

  it('runs in cwd, relative to the project directory', async () => {
    await mkdir(path.join(dir, 'scripts'));
    const { ctx, lines } = context();
    await commandAdapter.apply(spec({ apply: ['pwd'], cwd: 'scripts' }), { summary: '' }, ctx);
    expect(lines).toEqual([path.join(dir, 'scripts')]);
  });
});

describe('command adapter: failures', () => {
  it('names the command, the exit code and the last stderr line', async () => {
    const apply = await script('fail.sh', 'echo "step one"; echo "boom: disk full" >&2; echo "cleanup done"; exit 3');
    const { ctx, lines } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: [apply, '1.4.2'] }), { summary: '' }, ctx));
    expect(error.message).toBe('apply: ./fail.sh exited with code 3: boom: disk full');
    expect(error.retryable).toBe(false);
    expect(lines).toEqual(expect.arrayContaining(['step one', 'boom: disk full', 'cleanup done']));
  });

  it('falls back to the last stdout line when stderr is silent', async () => {
    const apply = await script('fail-out.sh', 'echo "rollout failed: 0/3 ready"; exit 1');
    const { ctx } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx));
    expect(error.message).toBe('apply: ./fail-out.sh exited with code 1: rollout failed: 0/3 ready');
  });

  it('says when the command was killed by a signal', async () => {
    const apply = await script('killed.sh', 'kill -9 $$');
    const { ctx } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx));
    expect(error.message).toBe('apply: ./killed.sh was killed by signal SIGKILL');
  });

  it('says a missing program was not found, and where it was looked for', async () => {
    const { ctx } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: ['./deploy.sh', '1.4.2'] }), { summary: '' }, ctx));
    expect(error.message).toContain(`apply: not found: ./deploy.sh (resolved against cwd ${dir})`);
    expect(error.retryable).toBe(false);

    const onPath = await failure(commandAdapter.apply(spec({ apply: ['no-such-tool-xyz'] }), { summary: '' }, ctx));
    expect(onPath.message).toContain('apply: not found: no-such-tool-xyz (searched on PATH)');
  });

  it('says a file that is not executable needs chmod +x', async () => {
    await writeFile(path.join(dir, 'plain.sh'), '#!/bin/sh\necho hi\n');
    const { ctx } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: ['./plain.sh'] }), { summary: '' }, ctx));
    expect(error.message).toContain('apply: permission denied: ./plain.sh');
    expect(error.message).toContain('chmod +x ./plain.sh');
  });

  it('says a missing cwd is missing, rather than blaming the program', async () => {
    const { ctx } = context();
    const error = await failure(commandAdapter.apply(spec({ apply: ['true'], cwd: 'nowhere' }), { summary: '' }, ctx));
    expect(error.message).toContain(`apply: working directory ${path.join(dir, 'nowhere')}`);
  });
});

describe('command adapter: timeout and cancellation', () => {
  it('on timeout kills the whole process group, background children included', async () => {
    const pidFile = path.join(dir, 'child.pid');
    const apply = await script('hang.sh', `sleep 30 &\necho $! > "${pidFile}"\necho waiting\nwait`);
    const { ctx } = context();
    const started = Date.now();
    const error = await failure(commandAdapter.apply(spec({ apply: [apply], timeout: '500ms' }), { summary: '' }, ctx));
    expect(error.message).toBe('apply timed out after 500ms');
    expect(error.retryable).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
    const childPid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(childPid).toBeGreaterThan(0);
    expect(await eventually(() => !isAlive(childPid))).toBe(true);
  });

  it('throws the abort reason and kills the process group when ctx.signal aborts', async () => {
    const pidFile = path.join(dir, 'child.pid');
    const apply = await script('long.sh', `sleep 30 &\necho $! > "${pidFile}"\necho started\nwait`);
    const controller = new AbortController();
    const reason = new Error('cancelled by the operator');
    const { ctx } = context({
      signal: controller.signal,
      log: (line) => {
        if (line === 'started') controller.abort(reason);
      },
    });
    const result = await commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx).catch((e: unknown) => e);
    expect(result).toBe(reason);
    const childPid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(await eventually(() => !isAlive(childPid))).toBe(true);
  });

  it('throws StepFailure("cancelled") when the abort reason is not an Error', async () => {
    const apply = await script('long2.sh', 'echo started; sleep 30');
    const controller = new AbortController();
    const { ctx } = context({
      signal: controller.signal,
      log: () => controller.abort('shutdown'),
    });
    const error = await failure(commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx));
    expect(error.message).toBe('apply: cancelled');
  });

  it('does not start a command when the signal is aborted already', async () => {
    const marker = path.join(dir, 'ran');
    const controller = new AbortController();
    controller.abort('early');
    const { ctx } = context({ signal: controller.signal });
    await failure(commandAdapter.apply(spec({ apply: ['touch', marker] }), { summary: '' }, ctx));
    expect(existsSync(marker)).toBe(false);
  });

  it('sends SIGKILL to a group that ignores SIGTERM after the grace period', async () => {
    const pidFile = path.join(dir, 'stubborn.pid');
    // An ignored signal stays ignored in children, so both the script and its sleep survive SIGTERM.
    const file = await script('stubborn.sh', `trap '' TERM\nsleep 30 &\necho $! > "${pidFile}"\nwait`);
    const result = await runProcess({
      file,
      args: [],
      cwd: dir,
      env: process.env,
      timeoutMs: 300,
      killGraceMs: 300,
      signal: new AbortController().signal,
      onLine: () => {},
      onAlive: () => {},
    });
    expect(result.kind).toBe('timed-out');
    const childPid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(await eventually(() => !isAlive(childPid))).toBe(true);
  });
});

describe('command adapter: streaming', () => {
  it('logs lines in order while the process is still running, and flushes a last partial line', async () => {
    const done = path.join(dir, 'done');
    const apply = await script(
      'stream.sh',
      `echo first\nsleep 0.3\necho second >&2\nprintf 'no newline'\ntouch "${done}"`,
    );
    const seen: { line: string; finished: boolean }[] = [];
    const { ctx, heartbeats } = context({
      log: (line) => seen.push({ line, finished: existsSync(done) }),
    });
    await commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx);
    expect(seen.map((s) => s.line)).toEqual(['first', 'second', 'no newline']);
    expect(seen[0]?.finished).toBe(false);
    expect(heartbeats()).toBeGreaterThanOrEqual(3);
  });

  it('heartbeats while a silent command runs', async () => {
    const { ctx, heartbeats } = context();
    await commandAdapter.apply(spec({ apply: ['sleep', '2.5'] }), { summary: '' }, ctx);
    // One at start, then one per HEARTBEAT_INTERVAL_MS (2 s): well within the engine's 5 s.
    expect(heartbeats()).toBeGreaterThanOrEqual(2);
  });

  it('does not wait for a daemon the script left running with the pipes open', async () => {
    const pidFile = path.join(dir, 'daemon.pid');
    const apply = await script('daemon.sh', `sleep 30 &\necho $! > "${pidFile}"\necho started daemon`);
    const { ctx, lines } = context();
    const started = Date.now();
    try {
      await commandAdapter.apply(spec({ apply: [apply] }), { summary: '' }, ctx);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(lines).toEqual(['started daemon']);
    } finally {
      const pid = Number((await readFile(pidFile, 'utf8')).trim());
      if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('command adapter: plan, verify, rollback, observe, capabilities', () => {
  it('plans with the apply command quoted for display and the plan command’s stdout as details', async () => {
    const plan = await script('plan.sh', 'echo "would deploy $1"; echo "2 hosts" ; echo "noise" >&2');
    const { ctx } = context();
    const result = await commandAdapter.plan(
      spec({ apply: ['./deploy.sh', '1.4.2', 'two words'], plan: [plan, '1.4.2'] }),
      ctx,
    );
    expect(result).toEqual({
      summary: "run ./deploy.sh 1.4.2 'two words'",
      details: 'would deploy 1.4.2\n2 hosts\n',
      risk: 'low',
    });
  });

  it('plans without a plan command: the summary only, never irreversible by itself', async () => {
    const { ctx } = context();
    const result = await commandAdapter.plan(spec({ apply: ['./deploy.sh', '1.4.2'] }), ctx);
    expect(result).toEqual({ summary: 'run ./deploy.sh 1.4.2', risk: 'low' });
  });

  it('fails verify with the exit code and last line', async () => {
    const verify = await script('health.sh', 'echo "GET /healthz: 503"; exit 1');
    const { ctx } = context();
    const error = await failure(commandAdapter.verify!(spec({ apply: ['true'], verify: [verify] }), {}, ctx));
    expect(error.message).toBe('verify: ./health.sh exited with code 1: GET /healthz: 503');
    await expect(commandAdapter.verify!(spec({ apply: ['true'], verify: ['true'] }), {}, ctx)).resolves.toBeUndefined();
    await expect(commandAdapter.verify!(spec({ apply: ['true'] }), {}, ctx)).resolves.toBeUndefined();
  });

  it('runs the rollback command', async () => {
    const marker = path.join(dir, 'rolled-back');
    const rollback = await script('rollback.sh', `echo "$1" > "${marker}"`);
    const { ctx } = context();
    await commandAdapter.rollback!(spec({ apply: ['true'], rollback: [rollback, '1.4.1'] }), ctx);
    expect((await readFile(marker, 'utf8')).trim()).toBe('1.4.1');
  });

  it('observes the running version from the first line of stdout', async () => {
    const observe = await script('current.sh', 'echo " 1.4.1 "; echo "extra"');
    const { ctx } = context();
    await expect(commandAdapter.observe!(spec({ apply: ['true'], observe: [observe] }), ctx)).resolves.toEqual({
      version: '1.4.1',
    });
    const broken = await script('broken.sh', 'echo "no such deployment" >&2; exit 2');
    const error = await failure(commandAdapter.observe!(spec({ apply: ['true'], observe: [broken] }), ctx));
    expect(error.message).toBe('observe: ./broken.sh exited with code 2: no such deployment');
  });

  it('derives capabilities from the spec', () => {
    expect(commandAdapter.capabilities(spec({ apply: ['true'] }))).toEqual({
      reversible: false,
      idempotentApply: false,
      observe: false,
    });
    expect(
      commandAdapter.capabilities(spec({ apply: ['true'], rollback: ['true'], observe: ['true'], idempotent: true })),
    ).toEqual({ reversible: true, idempotentApply: true, observe: true });
  });
});

describe('command spec', () => {
  it('fills defaults', () => {
    expect(spec({ apply: ['./deploy.sh'] })).toEqual({
      apply: ['./deploy.sh'],
      idempotent: false,
      env: {},
      timeout: '10m',
      shell: false,
    });
  });

  it('requires apply', () => {
    const [issue, ...rest] = issues({ plan: ['./plan.sh'] });
    expect(rest).toEqual([]);
    expect(issue?.path).toEqual(['apply']);
    expect(issue?.message).toContain('expected a command');
  });

  it('wants one string per command with shell: true, on the offending path', () => {
    const [issue, ...rest] = issues({ apply: 'ok', plan: ['./plan.sh', '--dry-run'], shell: true });
    expect(rest).toEqual([]);
    expect(issue?.path).toEqual(['plan']);
    expect(issue?.message).toContain('with shell: true a command is one string run by /bin/sh -c');
  });

  it('wants an argv array without shell, on the offending path', () => {
    const [issue, ...rest] = issues({ apply: './deploy.sh 1.4.2' });
    expect(rest).toEqual([]);
    expect(issue?.path).toEqual(['apply']);
    expect(issue?.message).toContain('with shell: false a command is an argv array');
  });

  it('rejects empty commands', () => {
    expect(issues({ apply: [] })).toEqual([
      { path: ['apply'], message: 'the argv array is empty; it needs at least the program, such as ["./deploy.sh"]' },
    ]);
    expect(issues({ apply: ['', 'x'] })).toEqual([
      { path: ['apply', 0], message: 'the program (the first element) is empty' },
    ]);
    expect(issues({ apply: '  ', shell: true })).toEqual([{ path: ['apply'], message: 'the command is empty' }]);
  });

  it('rejects a timeout that is not a duration', () => {
    expect(issues({ apply: ['x'], timeout: '10 minutes' })).toEqual([
      { path: ['timeout'], message: 'expected a duration such as 30s, 10m or 1h30m' },
    ]);
    expect(issues({ apply: ['x'], timeout: '0s' }).map((i) => i.path)).toEqual([['timeout']]);
  });

  it('rejects unknown keys, bad env values and the variables Lockstep sets', () => {
    const found = issues({
      apply: ['x'],
      timout: '5m',
      env: { OK: 'a', NESTED: { a: 1 }, LOCKSTEP_VERSION: '9' },
    });
    expect(found.map((i) => i.path)).toEqual(
      expect.arrayContaining([[], ['env', 'NESTED'], ['env', 'LOCKSTEP_VERSION']]),
    );
  });

  it('reports every problem in one pass', () => {
    const found = issues({ plan: 'dry-run', timeout: 'soon' });
    expect(found.map((i) => i.path)).toEqual(expect.arrayContaining([['apply'], ['timeout'], ['plan']]));
  });
});
