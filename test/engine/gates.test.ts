import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import { NotAllowedError } from '../../src/core/errors.js';
import type { PromotionRecord } from '../../src/core/model.js';
import { approve } from '../../src/engine/approve.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { createRelease, promote, resume } from '../../src/engine/promote.js';
import { AUTO_ACTOR, rejectRelease, tick } from '../../src/engine/tick.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

/** A clock the test moves: soak time and change windows are decided by it. */
class TestClock {
  constructor(private time: Date) {}
  now(): Date {
    return new Date(this.time);
  }
  set(iso: string): void {
    this.time = new Date(iso);
  }
  advance(ms: number): void {
    this.time = new Date(this.time.getTime() + ms);
  }
}

const MINUTE = 60_000;
const GROUPS = `groups:
  sre: [bob@example.com, carol@example.com, dave@example.com]
`;

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

function as(deps: EngineDeps, actor: string): EngineDeps {
  return { ...deps, actor };
}

async function newRelease(deps: EngineDeps, version: string): Promise<string> {
  const { release } = await createRelease(deps, { set: [`api=${version}`] });
  return release.id;
}

async function audit(deps: EngineDeps, promotionId?: string): Promise<AuditEntry[]> {
  const all = await deps.store.auditPage(0, 100_000);
  return promotionId === undefined ? all : all.filter((e) => e.promotionId === promotionId);
}

function kinds(entries: AuditEntry[]): string[] {
  return entries.map((e) => e.kind);
}

function gate(p: PromotionRecord, name: string): { status: string; message: string; until?: string } | undefined {
  return p.plan.gates.find((g) => g.gate === name);
}

async function setup(gates: string, options: { clock?: TestClock; after?: boolean; component?: string } = {}): Promise<{ deps: EngineDeps; project: TestProject }> {
  const after = options.after === false ? '' : '\n    after: [staging]';
  project = testProject(`project: shop
${GROUPS}environments:
  staging: {}
  prod:${after}
    gates:
${gates}
components:
  api:
${options.component ?? commandComponent()}
`);
  const deps = await project.deps({ actor: 'alice@example.com', clock: options.clock });
  return { deps, project };
}

describe('approvals', () => {
  const APPROVALS = '      approvals: { count: 2, from: [group:sre, erin@example.com] }';

  it('waits for two approvals from the group, refusing outsiders, the requester, the author and a second vote by one person', async () => {
    const { deps } = await setup(APPROVALS, { after: false });
    const author = as(deps, 'erin@example.com');
    const id = await newRelease(author, '1.0.0');
    const requester = as(deps, 'dave@example.com');
    const pending = await promote(requester, id, 'prod');
    expect(pending.state).toBe('pending');
    expect(gate(pending, 'approvals')?.status).toBe('waiting');
    expect(gate(pending, 'approvals')?.message).toContain('0 of 2 approvals');
    expect(project!.applies()).toEqual([]);

    await expect(approve(as(deps, 'mallory@example.com'), pending.id)).rejects.toThrow(/mallory@example.com is not allowed to approve promotions to prod/);
    await expect(approve(requester, pending.id)).rejects.toThrow(/dave@example.com requested this promotion and cannot approve it \(separation of duties\)/);
    await expect(approve(author, pending.id)).rejects.toThrow(/erin@example.com created release .* \(separation of duties\)/);
    expect((await approve(as(deps, 'bob@example.com'), pending.id, { comment: 'plan reviewed' })).state).toBe('pending');
    await expect(approve(as(deps, 'BOB@example.com'), pending.id)).rejects.toBeInstanceOf(NotAllowedError);

    const done = await approve(as(deps, 'carol@example.com'), pending.id);
    expect(done.state).toBe('succeeded');
    expect(project!.running('prod', 'api')).toBe('1.0.0');

    const entries = await audit(deps, pending.id);
    const refused = entries.filter((e) => e.kind === 'approval.refused');
    expect(refused.map((e) => [e.actor, e.data.reason])).toEqual([
      ['mallory@example.com', expect.stringContaining('not allowed')],
      ['dave@example.com', expect.stringContaining('requested this promotion')],
      ['erin@example.com', expect.stringContaining('created release')],
      ['BOB@example.com', expect.stringContaining('already approved')],
    ]);
    const given = entries.filter((e) => e.kind === 'approval.given');
    expect(given.map((e) => [e.actor, e.data.comment, e.data.planDigest, e.data.identity])).toEqual([
      ['bob@example.com', 'plan reviewed', pending.plan.digest, 'claimed'],
      ['carol@example.com', undefined, pending.plan.digest, 'claimed'],
    ]);
    expect(kinds(entries)).toEqual(expect.arrayContaining(['gate.waiting', 'gate.passed', 'promotion.started', 'promotion.finished']));
  });

  it('invalidates approvals when the plan changes before it runs, and says what changed', async () => {
    const component = `${commandComponent()}\n      plan: ["cat", "plan.txt"]`;
    const { deps, project: p } = await setup(APPROVALS, { after: false, component });
    p.write('plan.txt', 'update 1 service\n');
    const id = await newRelease(deps, '1.0.0');
    const pending = await promote(deps, id, 'prod');
    await approve(as(deps, 'bob@example.com'), pending.id);
    // Between the approvals, what apply would do changes (a Terraform plan now destroying something).
    p.write('plan.txt', 'update 1 service\ndestroy 1 database\n');
    const after = await approve(as(deps, 'carol@example.com'), pending.id);
    expect(after.state).toBe('pending');
    expect(after.plan.digest).not.toBe(pending.plan.digest);
    expect(gate(after, 'approvals')?.message).toContain('0 of 2 approvals');
    expect(gate(after, 'approvals')?.message).toContain('no longer counting: bob@example.com (the plan changed since), carol@example.com (the plan changed since)');
    expect(p.applies()).toEqual([]);

    const invalidated = (await audit(deps, pending.id)).filter((e) => e.kind === 'approval.invalidated');
    expect(invalidated.map((e) => e.data.approver).sort()).toEqual(['bob@example.com', 'carol@example.com']);
    expect(invalidated[0]?.data.reason).toContain('the plan changed after');
    expect(invalidated[0]?.data.planChanges).toEqual(['api: details changed']);

    await approve(as(deps, 'bob@example.com'), pending.id);
    expect((await approve(as(deps, 'dave@example.com'), pending.id)).state).toBe('succeeded');
  });

  it('lets approvals expire', async () => {
    const clock = new TestClock(new Date('2026-11-02T10:00:00Z'));
    const { deps } = await setup('      approvals: { count: 2, from: [group:sre], expires: 1h }', { after: false, clock });
    const pending = await promote(deps, await newRelease(deps, '1.0.0'), 'prod');
    await approve(as(deps, 'bob@example.com'), pending.id);
    clock.advance(61 * MINUTE);
    const after = await approve(as(deps, 'carol@example.com'), pending.id);
    expect(after.state).toBe('pending');
    expect(gate(after, 'approvals')?.message).toContain('1 of 2 approvals (carol@example.com)');
    const expired = (await audit(deps, pending.id)).filter((e) => e.kind === 'approval.expired');
    expect(expired.map((e) => [e.data.approver, e.data.reason])).toEqual([['bob@example.com', 'the approval by bob@example.com expired at 2026-11-02T11:00:00.000Z']]);
    // Bob may approve again: his earlier approval no longer counts.
    expect((await approve(as(deps, 'bob@example.com'), pending.id)).state).toBe('succeeded');
  });

  it('ends the promotion on a rejection', async () => {
    const { deps } = await setup(APPROVALS, { after: false });
    const pending = await promote(deps, await newRelease(deps, '1.0.0'), 'prod');
    await expect(approve(as(deps, 'bob@example.com'), pending.id, { reject: true })).rejects.toThrow(/needs --comment/);
    const rejected = await approve(as(deps, 'bob@example.com'), pending.id, { reject: true, comment: 'drops the orders table' });
    expect(rejected).toMatchObject({ state: 'rejected', reason: 'rejected by bob@example.com: drops the orders table' });
    await expect(approve(as(deps, 'carol@example.com'), pending.id)).rejects.toThrow(/is rejected: only a pending promotion/);
    expect(kinds(await audit(deps, pending.id))).toEqual(expect.arrayContaining(['approval.rejected', 'promotion.finished']));
    expect(project!.applies()).toEqual([]);
  });
});

describe('change windows', () => {
  it('waits for a window across a DST change, then runs once it opens', async () => {
    // Sunday 2026-03-29: Berlin moves from UTC+1 to UTC+2 at 01:00 UTC. Monday 09:00 is 07:00 UTC.
    const clock = new TestClock(new Date('2026-03-28T22:00:00Z'));
    const { deps } = await setup('      windows:\n        - { allow: "Mon-Thu 09:00-16:00", timezone: Europe/Berlin }', { after: false, clock });
    const pending = await promote(deps, await newRelease(deps, '1.0.0'), 'prod');
    expect(pending.state).toBe('pending');
    expect(gate(pending, 'windows')).toMatchObject({ status: 'waiting', until: '2026-03-30T07:00:00.000Z' });
    expect(gate(pending, 'windows')?.message).toContain('opens 2026-03-30 09:00 Europe/Berlin');

    clock.set('2026-03-30T06:59:00Z');
    expect((await tick(deps)).pending.map((p) => p.state)).toEqual(['pending']);
    clock.set('2026-03-30T07:00:00Z');
    expect((await tick(deps)).pending.map((p) => p.state)).toEqual(['succeeded']);
  });

  it('lets a freeze beat an allow window; only overrideBy may override it, with a reason, prominently audited', async () => {
    const clock = new TestClock(new Date('2026-12-22T10:00:00Z'));
    const gates = [
      '      overrideBy: [dave@example.com]',
      '      windows:',
      '        - { allow: "Mon-Fri 08:00-18:00", timezone: Europe/Berlin }',
      '        - { deny: "2026-12-20 .. 2027-01-04", timezone: Europe/Berlin, reason: year-end freeze }',
    ].join('\n');
    const { deps } = await setup(gates, { after: false, clock });
    const id = await newRelease(deps, '1.0.0');
    const pending = await promote(deps, id, 'prod');
    expect(gate(pending, 'windows')).toMatchObject({ status: 'waiting', until: '2027-01-05T07:00:00.000Z' });
    expect(gate(pending, 'windows')?.message).toContain('year-end freeze');

    await expect(promote(deps, id, 'prod', { overrideWindow: { reason: 'INC-1: outage fix' } })).rejects.toThrow(/alice@example.com may not override the change windows of prod \(overrideBy: dave@example.com\)/);
    const done = await promote(as(deps, 'dave@example.com'), id, 'prod', { overrideWindow: { reason: 'INC-1: outage fix' } });
    expect(done.state).toBe('succeeded');
    expect(done.windowOverride).toMatchObject({ by: 'dave@example.com', reason: 'INC-1: outage fix' });
    const overridden = (await audit(deps, pending.id)).filter((e) => e.kind === 'gate.overridden');
    expect(overridden.map((e) => [e.actor, e.data.reason, e.data.emergency])).toEqual([['dave@example.com', 'INC-1: outage fix', true]]);
  });
});

describe('policies', () => {
  it('asks a third approver for an irreversible plan', async () => {
    const gates = [
      '      approvals: { count: 2, from: [group:sre] }',
      '      policy:',
      '        - expr: "!plan.irreversible || approvals.count >= 3"',
      '          message: irreversible changes need a third approver',
    ].join('\n');
    // Without a rollback command the component is forward-only: the plan is irreversible.
    const { deps } = await setup(gates, { after: false, component: commandComponent({ rollback: false }) });
    const pending = await promote(deps, await newRelease(deps, '1.0.0'), 'prod');
    expect(pending.plan.irreversible).toBe(true);
    await approve(as(deps, 'bob@example.com'), pending.id);
    const two = await approve(as(deps, 'carol@example.com'), pending.id);
    expect(two.state).toBe('pending');
    expect(gate(two, 'approvals')?.status).toBe('passed');
    expect(gate(two, 'policy[0]')).toMatchObject({ status: 'waiting', message: 'irreversible changes need a third approver' });
    expect((await approve(as(deps, 'dave@example.com'), pending.id)).state).toBe('succeeded');
  });

  it('rejects at once when a policy nothing can change is false', async () => {
    const gates = '      policy:\n        - expr: "release.labels[?\'risk\'].orValue(\'low\') != \'high\'"\n          message: high-risk releases do not go to prod';
    const { deps } = await setup(gates, { after: false });
    const { release } = await createRelease(deps, { set: ['api=1.0.0'], labels: { risk: 'high' } });
    const result = await promote(deps, release.id, 'prod');
    expect(result).toMatchObject({ state: 'rejected', reason: 'policy[0]: high-risk releases do not go to prod' });
    expect((await audit(deps, result.id)).filter((e) => e.kind === 'gate.blocked').map((e) => e.data.reason)).toEqual(['high-risk releases do not go to prod']);
    expect(project!.applies()).toEqual([]);
  });
});

describe('soak', () => {
  it('holds prod until the release has run verified in staging for the soak time', async () => {
    const clock = new TestClock(new Date('2026-11-02T10:00:00Z'));
    const { deps } = await setup('      soak: 30m', { clock });
    const id = await newRelease(deps, '1.0.0');
    expect((await promote(deps, id, 'staging')).state).toBe('succeeded');
    clock.advance(10 * MINUTE);
    const pending = await promote(deps, id, 'prod');
    expect(gate(pending, 'soak')).toMatchObject({ status: 'waiting', until: '2026-11-02T10:30:00.000Z' });
    expect(gate(pending, 'soak')?.message).toContain('staging: 10m 0s of 30m');
    clock.advance(19 * MINUTE);
    expect((await resume(deps, pending.id))[0]?.state).toBe('pending');
    clock.advance(MINUTE);
    expect((await resume(deps, pending.id))[0]?.state).toBe('succeeded');
    const soak = (await audit(deps, pending.id)).filter((e) => e.data.gate === 'soak');
    expect(soak.map((e) => [e.kind, e.time])).toEqual([
      ['gate.waiting', '2026-11-02T10:10:00.000Z'],
      ['gate.passed', '2026-11-02T10:30:00.000Z'],
    ]);
  });
});

describe('verification', () => {
  it('fails the promotion when the third of five checks fails, stops checking, and rolls back', async () => {
    const { deps, project: p } = await setup(
      [
        '      verify:',
        '        - command: { run: ["./probe.sh"] }',
        '          interval: 10ms',
        '          count: 5',
        '          failureLimit: 0',
      ].join('\n'),
      { after: false },
    );
    // A real probe: once armed, counts its runs and fails the third.
    p.write('probe.sh', '#!/bin/sh\n[ -f armed ] || exit 0\nn=$(( $(cat probes 2>/dev/null || echo 0) + 1 ))\necho $n > probes\n[ "$n" -ne 3 ] || { echo "HTTP 503" >&2; exit 1; }\n', true);
    const good = await promote(deps, await newRelease(deps, '1.0.0'), 'prod');
    expect(good).toMatchObject({ state: 'succeeded', verification: { state: 'passed', checks: [{ failures: 0, measurements: 5 }] } });
    expect(good.verifiedAt).toBe(good.verification?.finishedAt);
    p.write('armed', '');
    const first = await promote(deps, await newRelease(deps, '1.1.0'), 'prod');
    expect(first.state).toBe('failed');
    expect(first.verification).toMatchObject({ state: 'failed', checks: [{ failures: 1, measurements: 3 }] });
    expect(first.reason).toMatch(/^verification failed: verify\[0\] \.\/probe\.sh failed on measurement 3 of 5: exit 1: HTTP 503/);
    expect(p.running('prod', 'api')).toBe('1.0.0'); // rolled back
    expect(Number(readFileSync(join(p.dir, 'probes'), 'utf8'))).toBe(3); // measurements 4 and 5 never ran
    expect(kinds(await audit(deps, first.id))).toEqual(expect.arrayContaining(['verification.started', 'verification.finished', 'step.rolled-back']));
  });
});

describe('verification over HTTP', () => {
  it('checks the environment with a CEL expectation over the JSON body, sending a secret header that is stored nowhere', async () => {
    const seen: { path?: string; auth?: string }[] = [];
    let healthy = true;
    const server = createServer((req, res) => {
      seen.push({ path: req.url, auth: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: healthy, version: '1.0.0' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      project = testProject(`project: shop
environments:
  prod:
    vars: { base: "http://127.0.0.1:${port}" }
    gates:
      verify:
        - http:
            url: "\${{ env.vars.base }}/healthz?release=\${{ release.id }}"
            headers: { Authorization: "Bearer \${{ secrets.HEALTH_TOKEN }}" }
            expect: "response.status == 200 && response.body.ok == true"
          interval: 10ms
          count: 2
components:
  api:
${commandComponent()}
`);
      const deps = await project.deps({ env: { HEALTH_TOKEN: 's3cr3t-token-value' } });
      const id = await newRelease(deps, '1.0.0');
      const ok = await promote(deps, id, 'prod');
      expect(ok).toMatchObject({ state: 'succeeded', verification: { state: 'passed' } });
      expect(seen).toEqual([
        { path: `/healthz?release=${id}`, auth: 'Bearer s3cr3t-token-value' },
        { path: `/healthz?release=${id}`, auth: 'Bearer s3cr3t-token-value' },
      ]);
      healthy = false;
      const bad = await promote(deps, await newRelease(deps, '1.1.0'), 'prod');
      expect(bad.state).toBe('failed');
      expect(bad.reason).toContain('expect was false');
      expect(project.running('prod', 'api')).toBe('1.0.0');
      const stored = JSON.stringify([await audit(deps), await deps.store.listPromotions(), await deps.store.stepLogs(bad.id)]);
      expect(stored).not.toContain('s3cr3t-token-value');
    } finally {
      server.close();
    }
  });
});

describe('tick', () => {
  it('goes on with the other pending promotions when one cannot be planned any more', async () => {
    const clock = new TestClock(new Date('2026-11-28T10:00:00Z')); // a Saturday
    const window = '      windows:\n        - { allow: "Mon-Fri" }';
    project = testProject(`project: shop
environments:
  eu:
    gates:
${window}
  us:
    gates:
${window}
components:
  api:
${commandComponent()}
      plan: ["./plan.sh", "\${{ env.name }}"]
`);
    project.write('plan.sh', '#!/bin/sh\n[ ! -f "broken-$1" ] || { echo "cannot reach the $1 API" >&2; exit 1; }\necho "update api"\n', true);
    const deps = await project.deps({ clock });
    const id = await newRelease(deps, '1.0.0');
    const eu = await promote(deps, id, 'eu');
    const us = await promote(deps, id, 'us');
    expect([eu.state, us.state]).toEqual(['pending', 'pending']);
    project.write('broken-eu', '');
    clock.set('2026-11-30T00:00:00Z');
    const result = await tick(deps);
    expect(result.errors).toEqual([{ promotionId: eu.id, environment: 'eu', message: expect.stringContaining('cannot reach the eu API') as unknown }]);
    expect(result.pending.map((p) => [p.environment, p.state])).toEqual([['us', 'succeeded']]);
    expect((await deps.store.getPromotion(eu.id)).state).toBe('pending');
  });
});

describe('auto-promotion and rejected releases', () => {
  it('promotes a new release through three environments in one tick, and never a rejected one', async () => {
    project = testProject(`project: shop
environments:
  dev: { gates: { auto: true } }
  staging: { after: [dev], gates: { auto: true } }
  prod: { after: [staging], gates: { auto: true } }
components:
  api:
${commandComponent()}
`);
    const deps = await project.deps({ actor: 'alice@example.com' });
    const id = await newRelease(deps, '1.0.0');
    const result = await tick(deps);
    expect(result.automatic.map((p) => [p.environment, p.state, p.requestedBy])).toEqual([
      ['dev', 'succeeded', AUTO_ACTOR],
      ['staging', 'succeeded', AUTO_ACTOR],
      ['prod', 'succeeded', AUTO_ACTOR],
    ]);
    expect(project.running('prod', 'api')).toBe('1.0.0');
    expect((await tick(deps)).automatic).toEqual([]);

    const bad = await newRelease(deps, '2.0.0');
    await rejectRelease(deps, bad, 'corrupts invoices');
    expect((await tick(deps)).automatic).toEqual([]);
    const refused = await promote(deps, bad, 'dev');
    expect(refused.state).toBe('rejected');
    expect(refused.reason).toContain('release rejected by alice@example.com');
    expect(project.running('dev', 'api')).toBe('1.0.0');
    const entries = await audit(deps);
    expect(entries.find((e) => e.kind === 'release.rejected')?.data).toMatchObject({ reason: 'corrupts invoices' });
    void id;
  });
});
