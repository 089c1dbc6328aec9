import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commandAdapter } from '../../src/adapters/command/command-adapter.js';
import { commandSpec } from '../../src/adapters/command/command-spec.js';
import {
  processStartTime,
  recordStarted,
  recordedRunsState,
  recordState,
  runRecorded,
  stopRecordedRuns,
  type RecordedRequest,
} from '../../src/adapters/command/run-journal.js';
import type { ProcessResult } from '../../src/adapters/command/run-process.js';
import { localTransport } from '../../src/adapters/ssh/local-transport.js';
import { runVerification } from '../../src/engine/verification.js';
import { stepContext } from '../helpers/step-context.js';

/**
 * Recorded runs against real processes. "Lockstep dies" is a real Node process running the built
 * run-journal module, killed with SIGKILL together with its whole process group, as a crash would.
 */
const BUILT = fileURLToPath(new URL('../../dist/adapters/command/run-journal.js', import.meta.url));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'lockstep-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

function request(recordDir: string, file: string, overrides: Partial<RecordedRequest> = {}): RecordedRequest & { lines: string[] } {
  const lines: string[] = [];
  return {
    file,
    args: [],
    cwd: dir,
    env: process.env,
    timeoutMs: 30_000,
    signal: new AbortController().signal,
    onLine: (line) => lines.push(line),
    onAlive: () => undefined,
    recordDir,
    lines,
    ...overrides,
  };
}

/**
 * Starts a recorded run in another Node process (its own process group), waits until the command
 * has started (`marker` exists), then SIGKILLs that whole group: the command, in its own, survives.
 */
async function startThenCrash(recordDir: string, file: string, marker: string): Promise<void> {
  const code = `
    const { runRecorded } = await import(${JSON.stringify(BUILT)});
    await runRecorded({ file: ${JSON.stringify(file)}, args: [], cwd: ${JSON.stringify(dir)}, env: process.env, timeoutMs: 30000,
      signal: new AbortController().signal, onLine() {}, onAlive() {}, recordDir: ${JSON.stringify(recordDir)} });`;
  const lockstep = spawn(process.execPath, ['--input-type=module', '-e', code], { detached: true, stdio: 'ignore' });
  const exited = once(lockstep, 'exit');
  for (let i = 0; i < 200 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 25));
  expect(existsSync(marker)).toBe(true);
  process.kill(-(lockstep.pid ?? 0), 'SIGKILL');
  await exited;
}

function counter(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).length : 0;
}

describe('recorded runs (real processes)', () => {
  it('records a run that finishes, and reads it back instead of running it again', async () => {
    const count = path.join(dir, 'count');
    const file = script('once.sh', `echo ran >> "${count}"\necho "to stdout"\necho "to stderr" >&2\nexit 3`);
    const record = path.join(dir, 'runs', 'apply-1', 'apply-1');
    const first = await runRecorded(request(record, file));
    expect(first.kind).toBe('exited');
    expect(first.kind === 'exited' && first.code).toBe(3);
    expect(recordState(record)).toBe('finished');

    const again = request(record, file);
    const second = await runRecorded(again);
    expect(second).toEqual(first);
    expect(again.lines).toEqual(['to stdout', 'to stderr']);
    expect(counter(count)).toBe(1);
  });

  it('reads back the exit status of a command that finished after the process that started it was killed', async () => {
    const count = path.join(dir, 'count');
    const started = path.join(dir, 'started');
    const file = script('slow.sh', `touch "${started}"\nsleep 0.5\necho ran >> "${count}"\necho finished`);
    const record = path.join(dir, 'record');
    await startThenCrash(record, file, started);
    // The command outlives its starter and records its end itself.
    for (let i = 0; i < 100 && recordState(record) !== 'finished'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(recordState(record)).toBe('finished');

    const again = request(record, file);
    const result = await runRecorded(again);
    expect(result.kind === 'exited' && result.code).toBe(0);
    expect(again.lines).toEqual(['finished']);
    expect(counter(count)).toBe(1);
  });

  it('waits for a command still running from before the crash instead of starting a second one', async () => {
    const count = path.join(dir, 'count');
    const started = path.join(dir, 'started');
    const running = path.join(dir, 'running');
    // Fails if two copies ever run at once.
    const file = script(
      'exclusive.sh',
      `if [ -e "${running}" ]; then echo "two at once" >&2; exit 9; fi\ntouch "${running}" "${started}"\nsleep 1\necho ran >> "${count}"\nrm "${running}"\necho done`,
    );
    const record = path.join(dir, 'record');
    await startThenCrash(record, file, started);
    expect(recordState(record)).toBe('running');
    expect(recordedRunsState(path.dirname(record))).toBe('running');

    const notes: string[] = [];
    const again = request(record, file, { note: (line) => notes.push(line) });
    const result = await runRecorded(again);
    expect(result.kind === 'exited' && result.code).toBe(0);
    expect(again.lines).toContain('done');
    expect(notes.join('\n')).toContain('reattached');
    expect(counter(count)).toBe(1);
  });

  it('does not take a reused pid for the recorded process', async () => {
    const count = path.join(dir, 'count');
    const file = script('fresh.sh', `echo ran >> "${count}"`);
    const record = path.join(dir, 'record');
    mkdirSync(record, { recursive: true });
    // A live process (this one) under the recorded pid, but not started when the record says.
    const start = processStartTime(process.pid);
    expect(start).toBeDefined();
    const run = { pid: process.pid, startTime: String(Number(start) + 12345), startedAt: new Date().toISOString(), fingerprint: 'x' };
    writeFileSync(path.join(record, 'run.json'), JSON.stringify(run));
    expect(recordState(record)).toBe('stopped');
    // The same pid with the recorded start time is ours.
    writeFileSync(path.join(record, 'run.json'), JSON.stringify({ ...run, startTime: start }));
    expect(recordState(record)).toBe('running');

    // A stopped record is not a result: the command runs (once).
    writeFileSync(path.join(record, 'run.json'), JSON.stringify({ ...run, pid: 2 ** 22 + 7 }));
    const result = await runRecorded(request(record, file));
    expect(result.kind === 'exited' && result.code).toBe(0);
    expect(counter(count)).toBe(1);
  });

  it('takes a torn exit record for no record: the outcome is unknown, never a success', () => {
    const record = path.join(dir, 'attempt', 'record');
    mkdirSync(record, { recursive: true });
    writeFileSync(path.join(record, 'run.json'), JSON.stringify({ pid: 2 ** 22 + 7, startedAt: new Date().toISOString(), fingerprint: 'x' }));
    for (const torn of ['', '{"code":0', '{"code":0}', '{"code":0,"end":tr']) {
      writeFileSync(path.join(record, 'exit.json'), torn);
      expect(recordState(record), JSON.stringify(torn)).toBe('stopped');
      expect(recordedRunsState(path.dirname(record))).toBe('stopped');
    }
    writeFileSync(path.join(record, 'exit.json'), '{"code":0,"end":true}\n');
    expect(recordState(record)).toBe('finished');
    expect(recordedRunsState(path.dirname(record))).toBe('finished');
    expect(recordedRunsState(path.join(dir, 'nothing-here'))).toBe('none');
  });

  it('stops a command left running when asked to (resume --stop-running), and records it as stopped', async () => {
    const count = path.join(dir, 'count');
    const started = path.join(dir, 'started');
    const file = script('long.sh', `touch "${started}"\nsleep 30\necho ran >> "${count}"`);
    const record = path.join(dir, 'attempt', 'record');
    await startThenCrash(record, file, started);
    expect(recordedRunsState(path.dirname(record))).toBe('running');
    expect(await stopRecordedRuns(path.dirname(record), 'stopped on request', 1000)).toBe(1);
    expect(recordedRunsState(path.dirname(record))).toBe('stopped');
    expect(counter(count)).toBe(0);
  });

  it('keeps the timeout of a run it attaches to, killing its process group', async () => {
    const started = path.join(dir, 'started');
    const file = script('forever.sh', `touch "${started}"\nsleep 30`);
    const record = path.join(dir, 'record');
    await startThenCrash(record, file, started);
    const result: ProcessResult = await runRecorded(request(record, file, { timeoutMs: 300, killGraceMs: 200 }));
    expect(result.kind).toBe('timed-out');
    expect(recordState(record)).toBe('stopped');
  });
});

describe('command adapter with a record directory', () => {
  it('returns the outputs of an apply that finished while Lockstep was down, without running it again', async () => {
    const count = path.join(dir, 'count');
    const started = path.join(dir, 'started');
    const file = script('deploy.sh', `touch "${started}"\nsleep 0.3\necho ran >> "${count}"\nprintf '{"url":"https://x.example"}' > "$LOCKSTEP_OUTPUTS"`);
    const spec = commandSpec.parse({ apply: [file] });
    const runDir = path.join(dir, 'runs', 'apply-1');
    const { ctx } = stepContext({ projectDir: dir, runDir });
    expect(await commandAdapter.apply(spec, { summary: '' }, ctx)).toEqual({ url: 'https://x.example' });
    expect(counter(count)).toBe(1);

    // The same call after a restart (a new context, the same records).
    const { ctx: after, lines } = stepContext({ projectDir: dir, runDir });
    expect(await commandAdapter.apply(spec, { summary: '' }, after)).toEqual({ url: 'https://x.example' });
    expect(counter(count)).toBe(1);
    expect(lines.join('\n')).toContain('recovered');
  });
});

describe('ssh host: local with a record directory', () => {
  it('reads back a script that finished instead of running it again', async () => {
    const count = path.join(dir, 'count');
    const record = path.join(dir, 'runs', 'apply-1', 'host-local-1');
    const host = { name: 'local', kind: 'local', host: 'localhost', port: 22, user: '' } as const;
    const options = { signal: new AbortController().signal, timeoutMs: 30_000, onAlive: () => undefined };
    const script = `echo ran >> "${count}"; echo switched`;
    const first = await localTransport(host, dir, () => record).run(script, options);
    // A new transport after a restart, the same record.
    const second = await localTransport(host, dir, () => record).run(script, options);
    expect(second).toEqual(first);
    expect(second.output.stdout).toBe('switched\n');
    expect(counter(count)).toBe(1);
  });
});

describe('verification probes left running by a dead process', () => {
  it('are stopped when verification starts again, and measured anew', async () => {
    const records = path.join(dir, 'runs', '@verify');
    // A probe of the previous process, still running in its own process group.
    const leftover = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const exited = once(leftover, 'exit');
    recordStarted(path.join(records, 'probe-1'), leftover.pid ?? 0);

    const result = await runVerification(
      [{ name: 'verify[0] true', command: { argv: ['true'] }, intervalMs: 0, count: 1, failureLimit: 0, initialDelayMs: 0 }],
      { signal: new AbortController().signal, cwd: dir, env: process.env, now: () => new Date(), recordDir: records },
    );
    expect(result.passed).toBe(true);
    const [code, signal] = (await exited) as [number | null, string | null];
    expect(code).toBeNull();
    expect(['SIGTERM', 'SIGKILL']).toContain(signal);
    expect(recordedRunsState(records)).toBe('none');
  });
});
