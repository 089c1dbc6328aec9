import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { createToken } from '../../src/engine/tokens.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { createApp } from '../../src/server/app.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { parsePrometheusText, samplesOf, type Sample } from '../helpers/prometheus.js';

// GET /metrics on two real projects with real promotions (real SQLite, real deploy scripts), scraped
// over the app with real tokens and read by a strict parser of the text format.

const ADMIN: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };

function config(name: string): string {
  return `project: ${name}
groups:
  sre: [carol@example.com]
environments:
  dev: {}
  prod:
    after: [dev]
    gates:
      approvals: { count: 1, from: [group:sre] }
components:
  api:
${commandComponent()}
  web:
${commandComponent({ dependsOn: ['api'] })}
`;
}

const projects: TestProject[] = [];
const handles: ProjectHandle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.close();
  for (const p of projects.splice(0)) p.cleanup();
});

async function open(name: string): Promise<{ handle: ProjectHandle; viewer: string }> {
  const project = testProject(config(name));
  projects.push(project);
  const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  handles.push(handle);
  const { token } = await createToken(handle.deps({ actor: ADMIN.name }), ADMIN, { name: 'prometheus', role: 'viewer' });
  return { handle, viewer: token };
}

describe('GET /metrics', () => {
  it("counts each project's promotions by result and its steps by type, shows what waits and for how long, and only to those who may read the project", async () => {
    const shop = await open('shop');
    const payments = await open('payments');
    const deps = shop.handle.deps({ actor: 'alice@example.com' });
    const good = (await createRelease(deps, { set: ['api=1.0.0', 'web=1.0.0'] })).release;
    expect((await promote(deps, good.id, 'dev')).state).toBe('succeeded');
    // web's check fails: the promotion fails and both steps are rolled back.
    const broken = (await createRelease(deps, { set: ['api=1.1.0', 'web=1.1.0-broken'] })).release;
    expect((await promote(deps, broken.id, 'dev')).state).toBe('failed');
    const pending = await promote(deps, good.id, 'prod');
    expect(pending.state).toBe('pending');

    const hourLater = Date.parse(pending.requestedAt) + 3_600_000;
    const served = new Map([
      [shop.handle.name, shop.handle],
      [payments.handle.name, payments.handle],
    ]);
    const app = createApp({
      projects: served,
      authenticate: projectAuthenticator(served),
      authorize: projectAuthorizer(served),
      metrics: new ServerMetrics(() => hourLater),
      log: () => undefined,
    });
    const scrape = async (token: string): Promise<Sample[]> => {
      const response = await app.request('/metrics', { headers: { Authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      expect(response.headers.get('Content-Type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return parsePrometheusText(await response.text());
    };
    expect((await app.request(`/api/v1/projects/shop/releases/${good.id}`, { headers: { Authorization: `Bearer ${shop.viewer}` } })).status).toBe(200);

    const samples = await scrape(shop.viewer);
    const finished = (result: string) => samplesOf(samples, 'lockstep_promotions_finished_total', { project: 'shop', environment: 'dev', kind: 'promotion', result });
    expect(finished('succeeded').map((s) => s.value)).toEqual([1]);
    expect(finished('rolled-back').map((s) => s.value)).toEqual([1]);
    expect(samplesOf(samples, 'lockstep_promotions_open', { project: 'shop' }).map((s) => [s.labels.environment, s.labels.state, s.value])).toEqual([['prod', 'pending', 1]]);
    expect(samplesOf(samples, 'lockstep_promotion_pending_oldest_age_seconds', { project: 'shop', environment: 'prod' }).map((s) => s.value)).toEqual([3600]);

    // One observation per step that ran: two succeeded, then api succeeded and web failed.
    const steps = (result: string) => samplesOf(samples, 'lockstep_step_duration_seconds_count', { project: 'shop', type: 'command', result });
    expect(steps('succeeded').map((s) => s.value)).toEqual([3]);
    expect(steps('failed').map((s) => s.value)).toEqual([1]);
    const inf = samplesOf(samples, 'lockstep_step_duration_seconds_bucket', { project: 'shop', result: 'succeeded', le: '+Inf' });
    expect(inf.map((s) => s.value)).toEqual([3]);

    const head = await shop.handle.store.auditHead();
    expect(samplesOf(samples, 'lockstep_audit_log_entries', { project: 'shop' }).map((s) => s.value)).toEqual([head?.seq]);
    expect(samplesOf(samples, 'lockstep_config_refused', { project: 'shop' }).map((s) => s.value)).toEqual([0]);

    // Requests are counted by route pattern, never by a path holding an id.
    const routes = samplesOf(samples, 'lockstep_http_requests_total').map((s) => s.labels.route ?? '');
    expect(routes).toContain('/api/v1/projects/:project/releases/:release');
    expect(routes.some((r) => r.includes(good.id))).toBe(false);
    // The Node process, from prom-client's defaults.
    expect(samplesOf(samples, 'process_cpu_seconds_total').length).toBe(1);

    // Nothing of a project the token cannot read; the other project's token sees that one only.
    expect(samples.some((s) => s.labels.project === 'payments')).toBe(false);
    const theirs = await scrape(payments.viewer);
    expect(samplesOf(theirs, 'lockstep_audit_log_entries').map((s) => s.labels.project)).toEqual(['payments']);
    expect(theirs.some((s) => s.labels.project === 'shop')).toBe(false);

    // A second scrape counts nothing twice; a new promotion is counted once.
    expect((await promote(deps, good.id, 'dev')).state).toBe('succeeded');
    const again = await scrape(shop.viewer);
    expect(samplesOf(again, 'lockstep_promotions_finished_total', { project: 'shop', result: 'succeeded' }).map((s) => s.value)).toEqual([2]);
    expect(samplesOf(again, 'lockstep_promotions_finished_total', { project: 'shop', result: 'rolled-back' }).map((s) => s.value)).toEqual([1]);
  });

  it('scrapes that arrive together count each audit entry once', async () => {
    const shop = await open('shop');
    const deps = shop.handle.deps({ actor: 'alice@example.com' });
    const release = (await createRelease(deps, { set: ['api=1.0.0', 'web=1.0.0'] })).release;
    await promote(deps, release.id, 'dev');
    const served = new Map([[shop.handle.name, shop.handle]]);
    const app = createApp({ projects: served, authenticate: projectAuthenticator(served), authorize: projectAuthorizer(served), log: () => undefined });
    const texts = await Promise.all([1, 2, 3].map(async () => (await app.request('/metrics', { headers: { Authorization: `Bearer ${shop.viewer}` } })).text()));
    for (const text of texts) {
      expect(samplesOf(parsePrometheusText(text), 'lockstep_promotions_finished_total', { project: 'shop' }).map((s) => s.value)).toEqual([1]);
    }
  });
});
