import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { OtlpSpan, OtlpTraceRequest } from '../../src/core/otlp-trace.js';
import { lockstep, lockstepAwait } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// A promotion as an OpenTelemetry trace, sent by the real CLI over OTLP/HTTP JSON to a FAKE collector:
// an HTTP server on loopback that takes what a collector's OTLP/HTTP receiver takes (POST /v1/traces,
// an ExportTraceServiceRequest as JSON) and keeps it.

const CONFIG = `project: shop
environments:
  dev: {}
components:
  api:
${commandComponent()}
  web:
${commandComponent({ dependsOn: ['api'] })}
`;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: OtlpTraceRequest;
}

let project: TestProject | undefined;
let collector: Server | undefined;
afterEach(async () => {
  project?.cleanup();
  project = undefined;
  await new Promise((resolve) => (collector ? collector.close(resolve) : resolve(undefined)));
  collector = undefined;
});

async function fakeCollector(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  collector = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text) as OtlpTraceRequest });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector?.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(collector?.address() as AddressInfo).port}`, received };
}

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
}

describe('OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT set), to a FAKE OTLP collector', () => {
  it('sends each promotion as one trace: the promotion a SERVER span, each step a child with the CI/CD conventions’ attributes', async () => {
    project = testProject(CONFIG);
    const { url, received } = await fakeCollector();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `${url}/`,
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20collector-s3cret,x-tenant=team-a',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.region=eu-1',
    };
    const created = lockstep(project.dir, ['release', 'create', '--set', 'api=1.0.0', '--set', 'web=1.0.0', '-o', 'json'], env);
    expect(created.status, created.stderr).toBe(0);
    const release = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;
    // Asynchronous: the fake collector answers from this test's event loop.
    const ok = await lockstepAwait(project.dir, ['promote', release, '--to', 'dev', '-o', 'json'], env);
    expect(ok.status, ok.stderr).toBe(0);
    const promotion = (JSON.parse(ok.stdout) as { promotion: { id: string; requestedAt: string; finishedAt: string } }).promotion;

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.path).toBe('/v1/traces');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers.authorization).toBe('Bearer collector-s3cret');
    expect(request?.headers['x-tenant']).toBe('team-a');
    const resource = request?.body.resourceSpans[0]?.resource.attributes ?? [];
    expect(resource.find((a) => a.key === 'service.name')?.value).toEqual({ stringValue: 'lockstep' });
    expect(resource.find((a) => a.key === 'deployment.region')?.value).toEqual({ stringValue: 'eu-1' });

    const spans = request?.body.resourceSpans[0]?.scopeSpans[0]?.spans ?? [];
    const root = spans.find((s) => s.parentSpanId === undefined);
    expect(root?.name).toBe('RUN shop/dev');
    expect(root?.kind).toBe(2);
    expect(root?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(root?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(root?.status.code).toBe(1);
    expect(root?.startTimeUnixNano).toBe(`${BigInt(Date.parse(promotion.requestedAt)) * 1_000_000n}`);
    expect(root?.endTimeUnixNano).toBe(`${BigInt(Date.parse(promotion.finishedAt)) * 1_000_000n}`);
    expect(root && attribute(root, 'cicd.pipeline.run.id')).toBe(promotion.id);
    expect(root && attribute(root, 'cicd.pipeline.result')).toBe('success');
    expect(root && attribute(root, 'deployment.environment.name')).toBe('dev');

    const steps = spans.filter((s) => s.parentSpanId === root?.spanId).sort((a, b) => a.name.localeCompare(b.name));
    expect(steps.map((s) => s.name)).toEqual(['api', 'web']);
    for (const step of steps) {
      expect(step.traceId).toBe(root?.traceId);
      expect(attribute(step, 'cicd.pipeline.task.name')).toBe(step.name);
      expect(attribute(step, 'cicd.pipeline.task.type')).toBe('deploy');
      expect(attribute(step, 'cicd.pipeline.task.run.result')).toBe('success');
      expect(attribute(step, 'lockstep.component.type')).toBe('command');
      expect(BigInt(step.startTimeUnixNano) >= BigInt(root?.startTimeUnixNano ?? 0)).toBe(true);
    }
    // web depends on api: it starts after api ended.
    expect(BigInt(steps[1]?.startTimeUnixNano ?? 0) >= BigInt(steps[0]?.endTimeUnixNano ?? 0)).toBe(true);
  });

  it('marks a failed promotion and its failed step as errors', async () => {
    project = testProject(CONFIG);
    const { url, received } = await fakeCollector();
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${url}/custom/traces` };
    for (const [versions, status] of [[['api=1.0.0', 'web=1.0.0'], 0], [['api=1.1.0', 'web=1.1.0-broken'], 1]] as const) {
      const created = lockstep(project.dir, ['release', 'create', ...versions.flatMap((v) => ['--set', v]), '-o', 'json'], env);
      const release = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;
      expect((await lockstepAwait(project.dir, ['promote', release, '--to', 'dev'], env)).status).toBe(status);
    }
    expect(received.map((r) => r.path)).toEqual(['/custom/traces', '/custom/traces']);
    const spans = received[1]?.body.resourceSpans[0]?.scopeSpans[0]?.spans ?? [];
    // Two promotions, two traces.
    expect(spans[0]?.traceId).not.toBe(received[0]?.body.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.traceId);
    const root = spans.find((s) => s.parentSpanId === undefined);
    expect(root?.status.code).toBe(2);
    expect(root && attribute(root, 'cicd.pipeline.result')).toBe('failure');
    const web = spans.find((s) => s.name === 'web');
    expect(web?.status.code).toBe(2);
    expect(web && attribute(web, 'cicd.pipeline.task.run.result')).toBe('failure');
    expect(web && attribute(web, 'error.type')).toBe('verify');
    expect(web && attribute(web, 'lockstep.step.state')).toBe('rolled-back');
    // api was applied, then rolled back because web failed.
    const api = spans.find((s) => s.name === 'api');
    expect(api && attribute(api, 'lockstep.step.state')).toBe('rolled-back');
    expect(api && attribute(api, 'cicd.pipeline.task.run.result')).toBe('cancellation');
    expect(api?.status.code).toBe(0);
  });

  it('a collector that is down costs a warning, not the promotion; its credentials are never printed', async () => {
    project = testProject(CONFIG);
    const { url } = await fakeCollector();
    await new Promise((resolve) => collector?.close(resolve));
    collector = undefined;
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer collector-s3cret' };
    const created = lockstep(project.dir, ['release', 'create', '--set', 'api=1.0.0', '--set', 'web=1.0.0', '-o', 'json'], env);
    const release = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;
    const result = lockstep(project.dir, ['promote', release, '--to', 'dev'], env);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: OpenTelemetry: the trace of promotion \w+ was not sent to http:\/\/127\.0\.0\.1:\d+\/v1\/traces: ECONNREFUSED/);
    expect(`${result.stdout}${result.stderr}`).not.toContain('collector-s3cret');
  });
});
