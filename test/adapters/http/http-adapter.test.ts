import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { httpAdapter } from '../../../src/adapters/http/http-adapter.js';
import { httpSpec } from '../../../src/adapters/http/http-spec.js';
import type { HttpSpec } from '../../../src/adapters/http/http-spec.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { knownAfter } from '../../../src/core/plan.js';
import { stalledServer, type StalledServer } from '../../helpers/stalled-server.js';
import { stepContext } from '../../helpers/step-context.js';
import { startFakeCiServer } from './fake-ci-server.js';
import type { FakeCiServer } from './fake-ci-server.js';
import { failure } from '../../helpers/step-failure.js';

// Every test talks real HTTP to a FAKE CI server on a local port.

let ci: FakeCiServer;

beforeEach(async () => {
  ci = await startFakeCiServer();
});

afterEach(async () => {
  await ci.close();
});

const TOKEN = 'Bearer ci-token-very-secret';

function spec(
  overrides: {
    request?: Record<string, unknown>;
    poll?: Record<string, unknown> | null;
    outputs?: Record<string, string>;
  } = {},
): HttpSpec {
  const poll =
    overrides.poll === null
      ? undefined
      : {
          url: `${ci.url}/api/runs/\${{ response.id }}`,
          interval: '20ms',
          timeout: '10s',
          success: "response.status == 'completed' && response.conclusion == 'success'",
          failure: "response.status == 'completed' && response.conclusion != 'success'",
          ...overrides.poll,
        };
  return httpSpec.parse({
    request: {
      method: 'POST',
      url: `${ci.url}/api/jobs/deploy/runs`,
      headers: { Authorization: TOKEN },
      body: { ref: '1.4.2', environment: 'staging', flags: [1, true] },
      ...overrides.request,
    },
    ...(poll === undefined ? {} : { poll }),
    outputs: overrides.outputs ?? { artifact: 'response.artifact.name', run: 'trigger.response.id' },
  });
}

function context(overrides: Partial<StepContext> = {}): ReturnType<typeof stepContext> {
  return stepContext(overrides);
}

describe('http adapter (fake CI server)', () => {
  it('triggers with a JSON body, polls the run until success and picks outputs from the responses', async () => {
    ci.pollsUntilDone = 3;
    const { ctx, lines } = context();
    const outputs = await httpAdapter.apply(spec(), await httpAdapter.plan(spec(), ctx), ctx);
    expect(outputs).toEqual({ artifact: 'app-1.4.2.tar.gz', run: 'run-1' });
    expect(ci.deployed).toBe('1.4.2');
    const [trigger, ...polls] = ci.requests;
    expect(trigger?.method).toBe('POST');
    expect(trigger?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(trigger?.body ?? '')).toEqual({ ref: '1.4.2', environment: 'staging', flags: [1, true] });
    expect(polls.map((r) => `${r.method} ${r.url}`)).toEqual(Array(3).fill('GET /api/runs/run-1'));
    // The poll sends the request's headers by default.
    expect(polls[0]?.headers.authorization).toBe(TOKEN);
    expect(lines.join('\n')).not.toContain('ci-token-very-secret');
    expect(lines[0]).toBe(`POST ${ci.url}/api/jobs/deploy/runs → 201`);
  });

  it('plans without sending anything', async () => {
    const plan = await httpAdapter.plan(spec(), context().ctx);
    expect(plan.summary).toBe(
      `POST ${ci.url}/api/jobs/deploy/runs, then poll until response.status == 'completed' && response.conclusion == 'success'`,
    );
    expect(ci.requests).toEqual([]);
  });

  it('plans a request holding values known only after their producer applies, showing them in place and sending nothing', async () => {
    const unknown = knownAfter('infra');
    const s = spec({
      request: {
        url: `${ci.url}/hooks/${unknown}/deploy`,
        headers: { Authorization: TOKEN, 'X-Target': `cluster ${unknown}` },
        body: { ref: '1.4.2', target: unknown, password: 'db-password-very-secret' },
      },
      poll: { url: `https://${unknown}/runs/\${{ response.id }}` },
    });
    const plan = await httpAdapter.plan(s, context({ isSensitive: (value) => value.includes('very-secret') }).ctx);
    expect(plan.summary).toBe(
      `POST ${ci.url}/hooks/${unknown}/deploy, then poll until response.status == 'completed' && response.conclusion == 'success'`,
    );
    expect(plan.details?.split('\n')).toEqual([
      'headers: Authorization, X-Target (holds a value known after apply)',
      `body: {"ref":"1.4.2","target":"${unknown}","password":"(sensitive)"}`,
      `poll: GET https://${unknown}/runs/\${{ response.id }} every 20ms, at most 10s`,
    ]);
    expect(ci.requests).toEqual([]);
  });

  it('fails the step when the failure expression holds', async () => {
    ci.conclusion = 'failure';
    const error = await failure(httpAdapter.apply(spec(), { summary: '' }, context().ctx));
    expect(error.message).toBe(
      "poll: the job failed (poll.failure is true: response.status == 'completed' && response.conclusion != 'success')",
    );
  });

  it('retries polls on 5xx and 429 with backoff', async () => {
    ci.pollErrors = [503, 429, 502];
    const { ctx, lines } = context();
    const outputs = await httpAdapter.apply(spec(), { summary: '' }, ctx);
    expect(outputs.artifact).toBe('app-1.4.2.tar.gz');
    expect(lines.filter((l) => l.includes('; retrying'))).toHaveLength(3);
  });

  it('does not retry a trigger that got a 5xx: it may have started a job', async () => {
    ci.triggerErrors = [503];
    const error = await failure(httpAdapter.apply(spec(), { summary: '' }, context().ctx));
    expect(error.message).toBe(
      `request: POST ${ci.url}/api/jobs/deploy/runs answered 503 (not retried: the request may have started something; set request.idempotent if repeating it is safe)`,
    );
    expect(ci.requests).toHaveLength(1);
  });

  it('retries the trigger on 5xx when idempotent, sending the idempotency key', async () => {
    ci.triggerErrors = [503, 500];
    const s = spec({ request: { idempotent: true, idempotencyHeader: 'Idempotency-Key' } });
    expect(httpAdapter.capabilities(s).idempotentApply).toBe(true);
    await httpAdapter.apply(s, { summary: '' }, context().ctx);
    const triggers = ci.requests.filter((r) => r.method === 'POST');
    expect(triggers).toHaveLength(3);
    expect(triggers.map((r) => r.headers['idempotency-key'])).toEqual(['idem-key-1', 'idem-key-1', 'idem-key-1']);
  });

  it('retries a trigger whose connection was refused (nothing was sent) and says so when it gives up', async () => {
    const closed = await freePort();
    const { ctx, lines } = context();
    const error = await failure(
      httpAdapter.apply(
        spec({ request: { url: `http://127.0.0.1:${closed}/api/jobs/deploy/runs` }, poll: null }),
        { summary: '' },
        ctx,
      ),
    );
    expect(error.message).toBe(`request: POST http://127.0.0.1:${closed}/api/jobs/deploy/runs failed: ECONNREFUSED`);
    expect(error.untouched).toBe(true);
    expect(lines.filter((l) => l.includes('retrying'))).toHaveLength(4);
  });

  it('refuses a 4xx answer at once, untouched', async () => {
    const error = await failure(
      httpAdapter.apply(
        spec({ request: { headers: { Authorization: 'Bearer wrong' } } }),
        { summary: '' },
        context().ctx,
      ),
    );
    expect(error.message).toBe(`request: POST ${ci.url}/api/jobs/deploy/runs answered 401`);
    expect(error.untouched).toBe(true);
  });

  it('gives up when the run does not finish within poll.timeout', async () => {
    ci.pollsUntilDone = 1_000;
    const error = await failure(
      httpAdapter.apply(spec({ poll: { timeout: '300ms', interval: '50ms' } }), { summary: '' }, context().ctx),
    );
    expect(error.message).toBe('poll: not finished after 300ms (last: running)');
  });

  it('stops polling at once when cancelled, heartbeating while it waits', async () => {
    ci.pollsUntilDone = 1_000;
    const controller = new AbortController();
    const { ctx, heartbeats } = context({ signal: controller.signal });
    const applying = httpAdapter.apply(spec({ poll: { interval: '1m', timeout: '10m' } }), { summary: '' }, ctx);
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 300);
    const started = Date.now();
    await expect(applying).rejects.toThrow('cancelled by the test');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(heartbeats()).toBeGreaterThan(0);
  });

  it('takes the whole poll URL from the response when it is one {{ }}', async () => {
    const outputs = await httpAdapter.apply(
      spec({ poll: { url: '${{ headers.location }}' } }),
      { summary: '' },
      context().ctx,
    );
    expect(outputs.artifact).toBe('app-1.4.2.tar.gz');
  });

  it('without poll, succeeds on a 2xx and picks outputs from the trigger response', async () => {
    const outputs = await httpAdapter.apply(
      spec({ poll: null, outputs: { run: 'response.id', code: 'status' } }),
      { summary: '' },
      context().ctx,
    );
    expect(outputs).toEqual({ run: 'run-1', code: 201 });
  });

  it('leaves out an output whose field is missing, so the engine reports it as not produced', async () => {
    const outputs = await httpAdapter.apply(
      spec({ poll: null, outputs: { missing: 'response.nope' } }),
      { summary: '' },
      context().ctx,
    );
    expect(outputs).toEqual({});
  });
});

describe('http spec', () => {
  it('refuses references other than the response in the poll URL it renders itself', () => {
    const parsed = httpSpec.safeParse({
      request: { url: 'http://x' },
      poll: { url: 'http://x/${{ env.name }}', success: 'true' },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe(
      'unknown reference env.name: these expressions read response, status, headers, trigger (config values such as env.vars are not available in these expressions)',
    );
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('http adapter deadlines against a FAKE server that stalls', () => {
  let stalled: StalledServer | undefined;
  afterEach(async () => {
    await stalled?.close();
    stalled = undefined;
  });

  it('fails the trigger within request.timeout when the server accepts the connection and never answers', async () => {
    stalled = await stalledServer('silent');
    const { ctx, lines } = context();
    const started = Date.now();
    const error = await failure(
      httpAdapter.apply(spec({ request: { url: `${stalled.url}/api/jobs/deploy/runs`, timeout: '1s' }, poll: null, outputs: {} }), { summary: '' }, ctx),
    );
    expect(error.message).toBe(`http: no answer from ${stalled.url}/api/jobs/deploy/runs within 1s (POST request)`);
    // Not retried: a POST that reached the server may have started the job.
    expect(stalled.connections()).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(`${error.message}\n${lines.join('\n')}`).not.toContain('ci-token-very-secret');
  });

  it('bounds the body too: headers, then a stalled body, is no complete answer', async () => {
    stalled = await stalledServer('headers');
    const started = Date.now();
    const error = await failure(
      httpAdapter.apply(spec({ request: { url: `${stalled.url}/api/jobs/deploy/runs`, timeout: '1s' }, poll: null, outputs: {} }), { summary: '' }, context().ctx),
    );
    expect(error.message).toBe(`http: no complete answer from ${stalled.url}/api/jobs/deploy/runs within 1s (POST request)`);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('keeps polling within poll.timeout when polls get no answer, and says what it waited for', async () => {
    stalled = await stalledServer('silent');
    const { ctx, lines } = context();
    const started = Date.now();
    const error = await failure(
      httpAdapter.apply(spec({ request: { timeout: '1m' }, poll: { url: `${stalled.url}/api/runs/\${{ response.id }}`, timeout: '1500ms', interval: '100ms' } }), { summary: '' }, ctx),
    );
    // request.timeout (1m) alone would have let the first poll hang for a minute.
    expect(Date.now() - started).toBeLessThan(15_000);
    const url = `${stalled.url}/api/runs/run-1`;
    expect(error.message).toMatch(new RegExp(`^poll: not finished after 1500ms \\(last: no answer from ${url} within 1(\\.\\d)?s\\)$`));
    expect(lines.some((l) => new RegExp(`^poll 1: GET ${url} failed: no answer within 1(\\.\\d)?s; retrying$`).test(l))).toBe(true);
  });
});
