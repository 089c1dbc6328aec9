import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  runVerification,
  type Measurement,
  type VerificationOptions,
  type VerifyCheck,
} from '../../src/engine/verification.js';

/** A real HTTP server on 127.0.0.1 that records every request it receives. */
interface TestServer {
  url: string;
  requests: { method: string; path: string; headers: IncomingMessage['headers'] }[];
}

const servers: Server[] = [];
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-verify-'));
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  rmSync(dir, { recursive: true, force: true });
});

/** `handler` gets the 0-based index of the request; a handler that never answers keeps it hanging. */
async function serve(handler: (res: ServerResponse, index: number, req: IncomingMessage) => void): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    handler(res, requests.length - 1, req);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests };
}

/** Answers the n-th request with statuses[n] (the last one after that). */
function statuses(...codes: number[]): (res: ServerResponse, index: number) => void {
  return (res, index) => {
    res.statusCode = codes[Math.min(index, codes.length - 1)] ?? 500;
    res.end('body');
  };
}

function httpCheck(url: string, overrides: Partial<VerifyCheck> = {}): VerifyCheck {
  return {
    name: `verify[0] GET ${url}`,
    http: { url, method: 'GET', headers: {}, timeoutMs: 2000 },
    intervalMs: 10,
    count: 5,
    failureLimit: 0,
    initialDelayMs: 0,
    ...overrides,
  };
}

function commandCheck(name: string, argv: string[], overrides: Partial<VerifyCheck> = {}): VerifyCheck {
  return { name, command: { argv }, intervalMs: 10, count: 1, failureLimit: 0, initialDelayMs: 0, ...overrides };
}

/** Real clock and timers; records what the executor reports. */
function options(overrides: Partial<VerificationOptions> = {}) {
  const logs: string[] = [];
  const measured: { check: string; m: Measurement }[] = [];
  const opts: VerificationOptions = {
    signal: new AbortController().signal,
    cwd: dir,
    env: process.env,
    now: () => new Date(),
    log: (check, line) => logs.push(`${check}: ${line}`),
    onMeasurement: (check, m) => measured.push({ check, m }),
    ...overrides,
  };
  return { opts, logs, measured };
}

function freePort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    }),
  );
}

describe('runVerification over HTTP (real server on 127.0.0.1)', () => {
  it('passes after 5 successful measurements and reports each one', async () => {
    const server = await serve(statuses(200));
    const { opts, logs, measured } = options();
    const check = httpCheck(`${server.url}/healthz`);

    const result = await runVerification([check], opts);

    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(Array(5).fill('GET /healthz'));
    expect(result).toMatchObject({ passed: true, message: '1 check passed' });
    expect(result.checks[0]).toMatchObject({
      name: check.name,
      state: 'passed',
      failures: 0,
      message: 'passed: 5 of 5 measurements succeeded',
    });
    expect(result.checks[0]?.measurements.map((m) => [m.ok, m.detail])).toEqual(Array(5).fill([true, 'HTTP 200']));
    expect(measured).toHaveLength(5);
    expect(logs).toContain(`${check.name}: measurement 5 of 5 ok: HTTP 200`);
  });

  it('spaces measurements intervalMs apart from start to start, after initialDelayMs, on the engine clock', async () => {
    let t = Date.parse('2025-01-01T00:00:00.000Z');
    const sleeps: number[] = [];
    // Each request takes 20 ms of the engine's clock.
    const server = await serve((res) => {
      t += 20;
      res.end();
    });
    const { opts } = options({
      now: () => new Date(t),
      sleep: (ms) => {
        sleeps.push(ms);
        t += ms;
        return Promise.resolve();
      },
    });

    const result = await runVerification(
      [httpCheck(server.url, { initialDelayMs: 100, intervalMs: 50, count: 4 })],
      opts,
    );

    expect(sleeps).toEqual([100, 30, 30, 30]);
    expect(result.checks[0]?.measurements.map((m) => m.at)).toEqual([
      '2025-01-01T00:00:00.100Z',
      '2025-01-01T00:00:00.150Z',
      '2025-01-01T00:00:00.200Z',
      '2025-01-01T00:00:00.250Z',
    ]);
  });

  it('fails on the 3rd of 5 measurements with failureLimit 0 and takes no further measurement', async () => {
    const server = await serve(statuses(200, 200, 503, 200, 200));
    const { opts } = options();
    const check = httpCheck(`${server.url}/healthz`);

    const result = await runVerification([check], opts);
    await new Promise((resolve) => setTimeout(resolve, 60));

    expect(server.requests).toHaveLength(3);
    expect(result.passed).toBe(false);
    expect(result.message).toBe(
      `verify[0] GET ${server.url}/healthz failed on measurement 3 of 5: HTTP 503 (failures 1 > failureLimit 0)`,
    );
    expect(result.checks[0]?.measurements.map((m) => m.detail)).toEqual(['HTTP 200', 'HTTP 200', 'HTTP 503']);
    expect(result.checks[0]).toMatchObject({ state: 'failed', failures: 1 });
  });

  it('tolerates failures up to failureLimit and fails on the one beyond it', async () => {
    const tolerant = await serve(statuses(200, 503, 200, 200, 200));
    const { opts } = options();
    const passed = await runVerification([httpCheck(tolerant.url, { failureLimit: 1 })], opts);

    expect(passed.passed).toBe(true);
    expect(passed.checks[0]).toMatchObject({
      state: 'passed',
      failures: 1,
      message: 'passed: 4 of 5 measurements succeeded (failures 1 ≤ failureLimit 1)',
    });

    const flaky = await serve(statuses(503, 200, 503, 200, 200));
    const failed = await runVerification([httpCheck(flaky.url, { failureLimit: 1 })], opts);

    expect(flaky.requests).toHaveLength(3);
    expect(failed.checks[0]).toMatchObject({
      state: 'failed',
      failures: 2,
      message: 'failed on measurement 3 of 5: HTTP 503 (failures 2 > failureLimit 1)',
    });
  });

  it('hands expect the status, headers and parsed JSON body, and expect alone decides', async () => {
    const server = await serve((res, _index, req) => {
      if (req.url === '/text') {
        res.setHeader('content-type', 'text/plain');
        return res.end('all good');
      }
      res.statusCode = req.url === '/degraded' ? 503 : 200;
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('x-version', '1.4.2');
      res.end(JSON.stringify({ status: req.url === '/degraded' ? 'degraded' : 'ok', replicas: 3 }));
    });
    const seen: { status: number; headers: Record<string, string>; body: unknown }[] = [];
    const replicasAre3 = (r: (typeof seen)[number]): boolean => {
      seen.push(r);
      return (r.body as { replicas?: number }).replicas === 3;
    };
    const { opts } = options();

    const result = await runVerification(
      [
        httpCheck(`${server.url}/ok`, { count: 1, expect: replicasAre3 }),
        // A 503 passes when expect says so.
        httpCheck(`${server.url}/degraded`, { count: 1, expect: (r) => r.status === 503 }),
        httpCheck(`${server.url}/text`, { count: 1, expect: replicasAre3, failureLimit: 1 }),
      ],
      opts,
    );

    // The checks run concurrently: find each response by what it holds.
    const json = seen.find((r) => typeof r.body === 'object');
    expect(json).toMatchObject({ status: 200, body: { status: 'ok', replicas: 3 } });
    expect(json?.headers['x-version']).toBe('1.4.2');
    expect(seen.find((r) => typeof r.body === 'string')?.body).toBe('all good');
    expect(result.checks.map((c) => [c.state, c.measurements[0]?.detail])).toEqual([
      ['passed', 'HTTP 200'],
      ['passed', 'HTTP 503'],
      ['passed', 'HTTP 200: expect was false'],
    ]);
    expect(result.message).toBe('3 checks passed');
  });

  it('counts an expect that throws as a failure, with its message', async () => {
    const server = await serve(statuses(200));
    const { opts } = options();
    const check = httpCheck(server.url, {
      expect: () => {
        throw new Error('replicas missing from the response');
      },
    });

    const result = await runVerification([check], opts);

    expect(result.checks[0]?.measurements.map((m) => m.detail)).toEqual([
      'HTTP 200: expect threw: replicas missing from the response',
    ]);
    expect(result.passed).toBe(false);
  });

  it('fails a measurement that exceeds timeoutMs', async () => {
    const server = await serve(() => {
      // Never answers.
    });
    const { opts } = options();
    const started = Date.now();

    const result = await runVerification(
      [httpCheck(server.url, { count: 1, http: { url: server.url, method: 'GET', headers: {}, timeoutMs: 50 } })],
      opts,
    );

    expect(Date.now() - started).toBeLessThan(1500);
    expect(server.requests).toHaveLength(1);
    expect(result.checks[0]?.measurements.map((m) => m.detail)).toEqual(['timeout after 50ms']);
  });

  it('fails a measurement when the connection is refused', async () => {
    const url = `http://127.0.0.1:${await freePort()}/healthz`;
    const { opts } = options();

    const result = await runVerification([httpCheck(url, { count: 1 })], opts);

    expect(result.message).toBe(
      `verify[0] GET ${url} failed on measurement 1 of 1: connection refused (failures 1 > failureLimit 0)`,
    );
  });

  it('reads at most 1 MB of a response body', async () => {
    const server = await serve((res) => {
      res.setHeader('content-type', 'text/plain');
      const chunk = 'a'.repeat(64 * 1024);
      for (let i = 0; i < 48; i++) res.write(chunk);
      res.end();
    });
    let length = 0;
    const { opts, logs } = options();

    await runVerification(
      [
        httpCheck(server.url, {
          count: 1,
          expect: (r) => {
            length = (r.body as string).length;
            return true;
          },
        }),
      ],
      opts,
    );

    expect(length).toBe(1_000_000);
    expect(logs).toContain(`verify[0] GET ${server.url}: response body cut at 1000000 bytes`);
  });

  it('keeps userinfo, query strings and header values out of names, messages and logs', async () => {
    const server = await serve(statuses(503));
    const port = new URL(server.url).port;
    const url = `http://probe:s3cret@127.0.0.1:${port}/healthz?token=abc123#frag`;
    const { opts, logs, measured } = options();

    const result = await runVerification(
      [
        httpCheck(url, {
          count: 1,
          http: { url, method: 'GET', headers: { 'X-Api-Key': 'key-9f8e' }, timeoutMs: 2000 },
        }),
      ],
      opts,
    );

    // The credentials still reach the server, as Basic authentication.
    expect(server.requests[0]?.path).toBe('/healthz?token=abc123');
    expect(server.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('probe:s3cret').toString('base64')}`);
    expect(server.requests[0]?.headers['x-api-key']).toBe('key-9f8e');
    expect(result.checks[0]?.name).toBe(`verify[0] GET http://127.0.0.1:${port}/healthz`);
    const everything = JSON.stringify({ result, logs, measured });
    for (const secret of ['s3cret', 'abc123', 'key-9f8e', 'frag']) expect(everything).not.toContain(secret);
  });
});

describe('runVerification over commands (real processes)', () => {
  it('passes when the command exits 0, running it in cwd with env', async () => {
    writeFileSync(join(dir, 'marker'), '');
    const { opts } = options({ env: { ...process.env, PROBE: 'yes' } });

    const result = await runVerification(
      [commandCheck('verify[0] probe', ['sh', '-c', 'test -f marker && test "$PROBE" = yes'], { count: 3 })],
      opts,
    );

    expect(result.passed).toBe(true);
    expect(result.checks[0]?.measurements.map((m) => m.detail)).toEqual(['exit 0', 'exit 0', 'exit 0']);
  });

  it('fails on a non-zero exit with the last stderr line, and logs the output', async () => {
    const { opts, logs } = options();

    const result = await runVerification(
      [commandCheck('verify[0] probe', ['sh', '-c', 'echo checking pods; echo "ready 1 of 3" >&2; echo >&2; exit 3'])],
      opts,
    );

    expect(result.message).toBe(
      'verify[0] probe failed on measurement 1 of 1: exit 3: ready 1 of 3 (failures 1 > failureLimit 0)',
    );
    expect(logs).toEqual(expect.arrayContaining(['verify[0] probe: checking pods', 'verify[0] probe: ready 1 of 3']));
  });

  it('fails a measurement whose program cannot be started', async () => {
    const { opts } = options();

    const result = await runVerification([commandCheck('verify[0] probe', ['no-such-program-lockstep'])], opts);

    expect(result.checks[0]?.measurements.map((m) => m.detail)).toEqual(['failed to start: ENOENT']);
  });
});

describe('runVerification cancellation', () => {
  it('cancels the other checks as soon as one fails, killing a running command', async () => {
    const server = await serve(statuses(200));
    const { opts } = options();
    const slowHttp = httpCheck(server.url, { name: 'verify[0] slow', count: 100, intervalMs: 10_000 });
    const slowCommand = commandCheck('verify[1] sleeper', ['sh', '-c', 'echo $$ > pid; exec sleep 30']);
    // Fails once the sleeper is surely running (it has written its pid).
    const failing = commandCheck('verify[2] broken', ['sh', '-c', 'until [ -s pid ]; do sleep 0.01; done; exit 1'], {
      initialDelayMs: 150,
    });
    const started = Date.now();

    const result = await runVerification([slowHttp, slowCommand, failing], opts);

    expect(Date.now() - started).toBeLessThan(1500);
    expect(result.passed).toBe(false);
    expect(result.message).toBe('verify[2] broken failed on measurement 1 of 1: exit 1 (failures 1 > failureLimit 0)');
    expect(result.checks.map((c) => [c.state, c.measurements.length])).toEqual([
      ['cancelled', 1],
      ['cancelled', 0],
      ['failed', 1],
    ]);
    expect(result.checks[0]?.message).toBe('cancelled after 1 of 100 measurements because verify[2] broken failed');
    expect(server.requests).toHaveLength(1);
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    await vi.waitFor(() => expect(() => process.kill(pid, 0)).toThrow(), { timeout: 2000, interval: 20 });
  });

  it('resolves promptly with every check cancelled when the outer signal aborts', async () => {
    const server = await serve(() => {
      // Never answers.
    });
    const controller = new AbortController();
    const { opts, measured } = options({ signal: controller.signal });
    const checks = [
      httpCheck(server.url, {
        name: 'verify[0] hanging',
        http: { url: server.url, method: 'GET', headers: {}, timeoutMs: 30_000 },
      }),
      commandCheck('verify[1] sleeper', ['sleep', '30']),
      httpCheck(server.url, { name: 'verify[2] delayed', initialDelayMs: 30_000 }),
    ];
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();

    const result = await runVerification(checks, opts);

    expect(Date.now() - started).toBeLessThan(1500);
    expect(result.passed).toBe(false);
    expect(result.message).toBe('verification was cancelled before 3 of 3 checks finished');
    expect(result.checks.map((c) => c.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(result.checks[2]?.message).toBe('cancelled after 0 of 5 measurements because verification was cancelled');
    expect(measured).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('takes no measurement when the signal is already aborted', async () => {
    const server = await serve(statuses(200));
    const { opts } = options({ signal: AbortSignal.abort() });

    const result = await runVerification([httpCheck(server.url), commandCheck('verify[1] probe', ['true'])], opts);

    expect(result.checks.map((c) => c.state)).toEqual(['cancelled', 'cancelled']);
    expect(server.requests).toHaveLength(0);
  });
});

describe('runVerification edge cases', () => {
  it('runs checks concurrently', async () => {
    const server = await serve(statuses(200));
    const { opts } = options();
    const checks = [0, 1, 2].map((i) => httpCheck(`${server.url}/${i}`, { count: 3, intervalMs: 50 }));

    const result = await runVerification(checks, opts);

    const firsts = result.checks.map((c) => Date.parse(c.measurements[0]?.at ?? ''));
    const lasts = result.checks.map((c) => Date.parse(c.measurements[2]?.at ?? ''));
    // Run one after another, some check would start after another had finished.
    expect(Math.max(...firsts)).toBeLessThan(Math.min(...lasts));
    expect(result.message).toBe('3 checks passed');
  });

  it('fails a check that cannot be run as written instead of passing it with no measurement', async () => {
    const server = await serve(statuses(200));
    const { opts } = options();

    const result = await runVerification([httpCheck(server.url, { count: 0 })], opts);

    expect(result.checks[0]).toMatchObject({ state: 'failed', message: 'was not run: count is 0, not an integer ≥ 1' });
    expect(server.requests).toHaveLength(0);
    expect(await runVerification([], opts)).toEqual({ passed: true, checks: [], message: 'no checks to run' });
  });
});
