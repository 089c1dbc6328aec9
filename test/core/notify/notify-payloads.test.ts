import { describe, expect, it } from 'vitest';
import { cdEvents, purl } from '../../../src/core/notify/cdevents.js';
import { notifyEventTypes, subscribes, type NotifyEvent } from '../../../src/core/notify/notify-events.js';
import { slackMessage } from '../../../src/core/notify/slack-message.js';

// The pure payload builders, on events written here by hand (our own fixtures); the spec's schemas
// check the CDEvents of real runs in test/conformance/cdevents-schemas.test.ts.

const RELEASE = 'a1b2c3d4e5f6'.padEnd(64, '0');
const PROMOTION = '9c1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a';

function event(overrides: Partial<NotifyEvent>): NotifyEvent {
  return {
    version: 1,
    id: '42.promotion.finished',
    type: 'promotion.finished',
    time: '2026-11-24T05:16:23.491Z',
    actor: 'alice@example.com',
    project: 'checkout',
    environment: 'prod',
    release: { id: RELEASE, versions: { api: '1.4.2', schema: 'git:4f2a1c' }, labels: {} },
    promotion: { id: PROMOTION, kind: 'promotion', state: 'failed', requestedBy: 'alice@example.com', approvals: { needed: 2, from: ['group:sre'] } },
    audit: { seq: 42, hash: 'f'.repeat(64), kind: 'promotion.finished' },
    data: { state: 'failed', succeeded: [], rolledBack: ['api'], reason: 'api failed its health check' },
    ...overrides,
  };
}

describe('which audit entries are notify events', () => {
  it('maps kinds, splitting a rolled-back finish and picking approval gates and failed verifications', () => {
    expect(notifyEventTypes({ kind: 'promotion.finished', data: { rolledBack: ['api'] } })).toStrictEqual(['promotion.finished', 'promotion.rolled-back']);
    expect(notifyEventTypes({ kind: 'promotion.finished', data: { rolledBack: [] } })).toStrictEqual(['promotion.finished']);
    expect(notifyEventTypes({ kind: 'gate.waiting', data: { gate: 'approvals' } })).toStrictEqual(['approval.requested']);
    expect(notifyEventTypes({ kind: 'gate.waiting', data: { gate: 'soak' } })).toStrictEqual([]);
    expect(notifyEventTypes({ kind: 'verification.finished', data: { state: 'failed' } })).toStrictEqual(['verification.failed']);
    expect(notifyEventTypes({ kind: 'verification.finished', data: { state: 'passed' } })).toStrictEqual([]);
    expect(notifyEventTypes({ kind: 'step.unchanged', data: {} })).toStrictEqual(['step.finished']);
    expect(notifyEventTypes({ kind: 'token.created', data: {} })).toStrictEqual([]);
  });

  it('subscribes by the format’s defaults, the events named, and the environments named', () => {
    const started = { type: 'step.started' as const, environment: 'prod' };
    expect(subscribes({ format: 'slack' }, started)).toBe(false);
    expect(subscribes({ format: 'json' }, started)).toBe(true);
    expect(subscribes({ format: 'slack', events: ['step.started'] }, started)).toBe(true);
    expect(subscribes({ format: 'json', environments: ['dev'] }, started)).toBe(false);
    expect(subscribes({ format: 'json', environments: ['dev'], events: [] }, { type: 'notify.test' })).toBe(true);
  });
});

describe('slackMessage', () => {
  it('says who, what release, which environment, what waits and links to it', () => {
    const message = slackMessage(event({ type: 'approval.requested', data: { gate: 'approvals', who: ['group:sre'] }, link: `https://lockstep.example.com/api/v1/projects/checkout/promotions/${PROMOTION}` }));
    expect(message.text).toBe('Approval needed: promote release a1b2c3d4e5f6 to prod (checkout/prod)');
    const body = message.blocks.map((b) => JSON.stringify(b)).join('\n');
    expect(body).toContain('Release `a1b2c3d4e5f6`: api 1.4.2, schema git:4f2a1c');
    expect(body).toContain('Waiting for 2 approvals from group:sre: lockstep approve 9c1e2f3a4b5c');
    expect(body).toContain(`<https://lockstep.example.com/api/v1/projects/checkout/promotions/${PROMOTION}|promotion 9c1e2f3a4b5c>`);
    expect(body).toContain('by alice@example.com');
  });

  it('escapes what comes from outside, so a reason cannot mention a channel or forge a link', () => {
    const message = slackMessage(event({ data: { state: 'failed', reason: 'see <!channel> & <https://evil.example|click>' } }));
    const section = message.blocks[0];
    const text = section?.type === 'section' ? section.text.text : '';
    expect(text).toContain('see &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
    expect(text).not.toContain('<!channel>');
  });
});

describe('cdEvents', () => {
  it('makes a failed, rolled-back promotion a finished pipeline run and a modified environment, chained by the release', () => {
    const [finished, modified, ...rest] = cdEvents(event({}), 'https://lockstep.example.com/');
    expect(rest).toStrictEqual([]);
    expect(finished).toStrictEqual({
      context: {
        specversion: '0.5.1',
        id: finished?.context.id,
        source: 'https://lockstep.example.com/api/v1/projects/checkout',
        type: 'dev.cdevents.pipelinerun.finished.0.3.0',
        timestamp: '2026-11-24T05:16:23.491Z',
        chainId: RELEASE,
      },
      subject: {
        id: PROMOTION,
        source: 'https://lockstep.example.com/api/v1/projects/checkout',
        content: { pipelineName: 'checkout/prod', uri: `https://lockstep.example.com/api/v1/projects/checkout/promotions/${PROMOTION}`, outcome: 'failure', errors: 'api failed its health check' },
      },
    });
    expect(finished?.context.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(modified?.context.type).toBe('dev.cdevents.environment.modified.0.3.0');
    expect(modified?.subject.content).toStrictEqual({ name: 'prod', uri: 'https://lockstep.example.com/api/v1/projects/checkout/environments/prod' });
    // The same event always makes the same ids.
    expect(cdEvents(event({}), 'https://lockstep.example.com/')[0]?.context.id).toBe(finished?.context.id);
  });

  it('names a deployed or upgraded service by a purl, and without a server URL uses relative sources and URNs', () => {
    const step = (from: string | undefined) =>
      cdEvents(event({ type: 'step.finished', component: 'api', step: { ...(from === undefined ? {} : { from }), to: 'git:4f2a1c', outcome: 'succeeded' }, data: {} }));
    const [task, deployed] = step(undefined);
    expect(task?.context.type).toBe('dev.cdevents.taskrun.finished.0.3.0');
    expect(task?.subject.content).toStrictEqual({ taskName: 'api', uri: `urn:lockstep:checkout:promotions:${PROMOTION}`, pipelineRun: { id: PROMOTION, source: '/lockstep/api/v1/projects/checkout' }, outcome: 'success' });
    expect(deployed?.context.type).toBe('dev.cdevents.service.deployed.0.3.0');
    expect(deployed?.subject.content).toStrictEqual({ environment: { id: 'prod', source: '/lockstep/api/v1/projects/checkout' }, artifactId: 'pkg:generic/checkout/api@git%3A4f2a1c' });
    expect(step('git:0a0a0a')[1]?.context.type).toBe('dev.cdevents.service.upgraded.0.3.0');
    // An unchanged step deployed nothing: a task run, no service event.
    expect(cdEvents(event({ type: 'step.finished', component: 'api', step: { to: '1', outcome: 'unchanged' }, data: {} }))).toHaveLength(1);
    // CDEvents v0.5 has no approval events: none are made.
    expect(cdEvents(event({ type: 'approval.requested' }))).toStrictEqual([]);
  });

  it('purl: each part percent-encoded; no version, no purl', () => {
    expect(purl('my shop', 'api/v2', '1.0.0+build 7')).toBe('pkg:generic/my%20shop/api%2Fv2@1.0.0%2Bbuild%207');
    expect(purl('shop', 'api', '')).toBeUndefined();
  });
});
