import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../../src/core/config/config-schema.js';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { ADAPTERS, ENVIRONMENTS, problems, yaml } from './fixtures.js';

/** project (line 1), ENVIRONMENTS (lines 2-7), a component (8-9), then the lines given from line 10. */
function withNotify(...lines: string[]): string {
  return yaml('project: shop', ...ENVIRONMENTS, 'components:', '  api: { type: command, with: { apply: [a] } }', ...lines);
}

describe('notify: and server: in lockstep.yaml', () => {
  it('loads the issue’s example with defaults: json format, every environment, the format’s events', () => {
    const loaded = loadConfig(
      withNotify(
        'server: { url: "https://lockstep.example.com" }',
        'notify:',
        '  - name: sre-chat',
        '    url: "${{ secrets.SLACK_WEBHOOK }}"',
        '    format: slack',
        '    events: [approval.requested, promotion.finished, drift.detected]',
        '    environments: [prod]',
        '  - name: events-bus',
        '    url: https://events.example.com/cdevents',
        '    format: cdevents',
        '    secret: "${{ secrets.EVENTS_HMAC }}"',
        '  - name: audit-sink',
        '    url: http://127.0.0.1:9000/hook',
        '    headers: { Authorization: "Bearer ${{ secrets.SINK_TOKEN }}", X-Team: payments }',
      ),
      'lockstep.yaml',
      ADAPTERS,
    );
    expect(loaded.config.server).toEqual({ url: 'https://lockstep.example.com' });
    expect(loaded.config.notify).toEqual([
      { name: 'sre-chat', url: '${{ secrets.SLACK_WEBHOOK }}', format: 'slack', events: ['approval.requested', 'promotion.finished', 'drift.detected'], environments: ['prod'], headers: {} },
      { name: 'events-bus', url: 'https://events.example.com/cdevents', format: 'cdevents', secret: '${{ secrets.EVENTS_HMAC }}', headers: {} },
      { name: 'audit-sink', url: 'http://127.0.0.1:9000/hook', format: 'json', headers: { Authorization: 'Bearer ${{ secrets.SINK_TOKEN }}', 'X-Team': 'payments' } },
    ]);
  });

  it('is absent, as the server, from a config without them', () => {
    const loaded = loadConfig(withNotify(), 'lockstep.yaml', ADAPTERS);
    expect('notify' in loaded.config).toBe(false);
    expect('server' in loaded.config).toBe(false);
  });

  it('names every problem at its line: names, formats, events, environments, and secrets written in the file', () => {
    expect(
      problems(
        withNotify(
          'server: { url: "https://admin:pw@lockstep.example.com" }',
          'notify:',
          '  - name: chat',
          '    url: https://hooks.slack.com/services/T0/B0/abc',
          '    format: teams',
          '    events: [promotion.finshed, approval.requested]',
          '    environments: [prd]',
          '  - name: chat',
          '    url: https://bot:hunter2@events.example.com/in',
          '    secret: literal-hmac-key',
          '  - name: bus',
          '    url: ftp://events.example.com/in',
          '    headers: { Authorization: Bearer abc, "bad header": x }',
          '  - name: sink',
          '    url: "https://${{ env.name }}.example.com/${{ secrets.PATH }}"',
        ),
      ),
    ).toEqual([
      'lockstep.yaml:10:16: server.url: url must not hold a user name or password: it is shown in every notification',
      'lockstep.yaml:13:10: notify.0.url: a Slack webhook URL is a credential: take it from ${{ secrets.NAME }}',
      'lockstep.yaml:14:13: notify.0.format: expected one of "json", "slack", "cdevents"',
      'lockstep.yaml:15:14: notify.0.events.0: unknown event promotion.finshed (events: promotion.requested, promotion.started, promotion.finished, promotion.rolled-back, approval.requested, approval.given, approval.rejected, gate.blocked, verification.failed, step.started, step.finished, step.rolled-back, drift.detected); did you mean promotion.finished?',
      'lockstep.yaml:16:20: notify.0.environments.0: unknown environment prd (environments: dev, prod); did you mean prod?',
      'lockstep.yaml:17:11: notify.1.name: duplicate notify target name chat (also notify.0): deliveries are recorded by name',
      'lockstep.yaml:18:10: notify.1.url: url holds a password: take the whole URL from ${{ secrets.NAME }}, or move the credential to a header from a secret',
      'lockstep.yaml:19:13: notify.1.secret: secret must be a whole ${{ secrets.NAME }}: an HMAC key written in lockstep.yaml is a secret in Git',
      'lockstep.yaml:21:10: notify.2.url: url must be http:// or https://, not ftp:',
      'lockstep.yaml:22:31: notify.2.headers.Authorization: Authorization carries a credential: take it from ${{ secrets.NAME }}, not the config',
      'lockstep.yaml:22:43: notify.2.headers.bad header: bad header is not an HTTP header name',
      'lockstep.yaml:24:19: notify.3.url: env.name cannot be used in a notify target: it may use only secrets.<NAME>',
    ]);
  });

  it('is in the JSON Schema for editors, formats as an enum', () => {
    const schema = configJsonSchema(ADAPTERS) as { properties: Record<string, { items?: { properties: Record<string, { enum?: string[] }> }; properties?: object }> };
    expect(schema.properties.notify?.items?.properties.format?.enum).toEqual(['json', 'slack', 'cdevents']);
    expect(schema.properties.server?.properties).toHaveProperty('url');
  });
});
