import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/core/config/load-config.js';
import { ADAPTERS, ENVIRONMENTS, problems, yaml } from './fixtures.js';

/** project (line 1), groups (2-3), ENVIRONMENTS (4-9), a component (10-11), then the lines given from line 12. */
function withServer(...lines: string[]): string {
  return yaml(
    'project: shop',
    'groups:',
    '  sre: [sam@example.com]',
    ...ENVIRONMENTS,
    'components:',
    '  api: { type: command, with: { apply: [a] } }',
    ...lines,
  );
}

const OIDC = ['server:', '  oidc:', '    issuer: https://login.example.com', '    clientId: lockstep'];

describe('server.oidc in lockstep.yaml', () => {
  it('loads with its defaults', () => {
    const loaded = loadConfig(
      withServer(...OIDC, '    clientSecret: "${{ secrets.OIDC_CLIENT_SECRET }}"'),
      'lockstep.yaml',
      ADAPTERS,
    );
    expect(loaded.config.server?.oidc).toEqual({
      issuer: 'https://login.example.com',
      clientId: 'lockstep',
      clientSecret: '${{ secrets.OIDC_CLIENT_SECRET }}',
      audience: [],
      scopes: ['openid', 'email', 'profile'],
      groupsClaim: 'groups',
      emailClaim: 'email',
      sessionLifetime: '12h',
    });
    expect('server' in loadConfig(withServer(), 'lockstep.yaml', ADAPTERS).config).toBe(false);
  });

  it('takes an http issuer on loopback only', () => {
    for (const issuer of ['http://127.0.0.1:8080', 'http://localhost:9000/realms/x', 'http://[::1]:4000']) {
      expect(
        problems(withServer('server:', '  oidc:', `    issuer: ${issuer}`, '    clientId: lockstep')),
        issuer,
      ).toEqual([]);
    }
  });

  it('names each problem at its line, without quoting a secret written in clear', () => {
    const found = problems(
      withServer(
        'server:',
        '  oidc:',
        '    issuer: http://login.example.com',
        '    clientId: lockstep',
        '    clientSecret: s3cr3t-in-clear',
        '    scopes: [email]',
        '    sessionLifetime: forever',
        '    groupClaim: groups',
      ),
    );
    expect(found).toEqual([
      'lockstep.yaml:14:13: server.oidc.issuer: issuer must be an https URL (http only for a provider on this machine: 127.0.0.1, localhost, [::1]), not http:',
      'lockstep.yaml:16:19: server.oidc.clientSecret: clientSecret must come from a secret, written as ${{ secrets.NAME }} (set NAME in the environment or the secrets file of lockstep serve)',
      'lockstep.yaml:17:13: server.oidc.scopes: scopes must include openid: without it the provider signs nobody in with OpenID Connect',
      'lockstep.yaml:18:22: server.oidc.sessionLifetime: sessionLifetime must be a duration such as 8h or 30m',
      'lockstep.yaml:19:5: server.oidc.groupClaim: unknown field groupClaim (did you mean groupsClaim?)',
    ]);
    expect(found.join('\n')).not.toContain('s3cr3t');
    expect(
      problems(
        withServer('server:', '  oidc:', '    issuer: "https://login.example.com/?x=1"', '    clientId: lockstep'),
      )[0],
    ).toContain('must not have a query');
    expect(problems(withServer('server:', '  oidc:', '    clientId: lockstep'))).toEqual([
      'lockstep.yaml:13:3: server.oidc.issuer: missing required field issuer',
    ]);
  });

  it('with server.oidc, gates and access: may name a group only the provider fills; without it, an unknown group is an error', () => {
    const gated = (oidc: string[]) =>
      withServer(...oidc, 'access:', '  approver: [group:platform]').replace(
        '    after: [dev]\n',
        '    after: [dev]\n    gates:\n      approvals: { count: 3, from: [group:sre, group:platform] }\n',
      );
    expect(problems(gated(OIDC))).toEqual([]);
    const without = problems(gated([]));
    expect(without.some((p) => p.includes('unknown group platform'))).toBe(true);
    expect(without.some((p) => p.includes('approver'))).toBe(true);
  });
});
