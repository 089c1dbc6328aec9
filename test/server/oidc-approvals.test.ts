import { afterEach, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionRecord } from '../../src/core/model.js';
import { createToken } from '../../src/engine/tokens.js';
import { browserSignIn, providerTokens, startSignInServer, type SignInServer } from '../helpers/oidc-server.js';

// Separation of duties on people who signed in with a real OpenID provider: two signed-in people
// count as two approvals, one person counts once whether they come by the provider or by an API
// token made for their email, and `from: [group:sre]` counts both the provider's groups claim and
// `groups:` of the config. The audit log names each person by issuer and subject.

const ADMIN: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };

let running: SignInServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

type Caller = { bearer: string } | { cookie: string; csrf: string };

async function api(
  caller: Caller,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const s = running as SignInServer;
  const headers: Record<string, string> =
    'bearer' in caller
      ? { Authorization: `Bearer ${caller.bearer}` }
      : { Cookie: `lockstep_session=${caller.cookie}`, 'X-CSRF-Token': caller.csrf };
  const response = await fetch(`${s.url}/api/v1/projects/shop${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) as Record<string, unknown>, text };
}

/** A release in staging and a promotion of it to prod, waiting for two approvals from group:sre. */
async function pendingProd(admin: Caller): Promise<PromotionRecord> {
  const release = await api(admin, 'POST', '/releases', { set: ['api=1.0.0'] });
  expect(release.status, release.text).toBe(201);
  const id = (release.json.release as { id: string }).id;
  const staging = await api(admin, 'POST', '/promotions', { release: id, to: 'staging' });
  expect(staging.status, staging.text).toBe(202);
  const stagingId = (staging.json.promotion as PromotionRecord).id;
  for (;;) {
    const p = (await api(admin, 'GET', `/promotions/${stagingId}`)).json.promotion as PromotionRecord;
    if (p.state === 'succeeded') break;
    expect(['pending', 'running']).toContain(p.state);
    await new Promise((r) => setTimeout(r, 50));
  }
  const prod = await api(admin, 'POST', '/promotions', { release: id, to: 'prod' });
  expect(prod.status, prod.text).toBe(202);
  const promotion = prod.json.promotion as PromotionRecord;
  expect(promotion.state).toBe('pending');
  return promotion;
}

async function settled(admin: Caller, id: string): Promise<PromotionRecord> {
  for (;;) {
    const p = (await api(admin, 'GET', `/promotions/${id}`)).json.promotion as PromotionRecord;
    if (p.state !== 'running') return p;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function adminToken(s: SignInServer): Promise<Caller> {
  return {
    bearer: (await createToken(s.handle.deps({ actor: ADMIN.name }), ADMIN, { name: 'admin', for: ADMIN.name })).token,
  };
}

describe('approvals by people who signed in', () => {
  it('one person counts once, by the provider or by an API token made for their email; a second signed-in person makes two', async () => {
    running = await startSignInServer();
    const admin = await adminToken(running);
    const promotion = await pendingProd(admin);
    const alice = { bearer: (await providerTokens(running.provider.issuer, 'alice')).idToken };
    const aliceToken = {
      bearer: (
        await createToken(running.handle.deps({ actor: ADMIN.name }), ADMIN, {
          name: 'alice-laptop',
          for: 'alice@example.com',
        })
      ).token,
    };

    const first = await api(alice, 'POST', `/promotions/${promotion.id}/approve`, { comment: 'by the provider' });
    expect(first.status, first.text).toBe(200);
    expect((first.json.promotion as PromotionRecord).state).toBe('pending');
    const again = await api(aliceToken, 'POST', `/promotions/${promotion.id}/approve`, { comment: 'by my API token' });
    expect(again.status, again.text).toBe(403);
    expect(again.text).toContain('alice@example.com already approved this plan');
    const gates = await api(admin, 'GET', `/promotions/${promotion.id}`);
    expect(JSON.stringify(gates.json)).toContain('1 of 2');

    // Bob signs in in a browser: sre by the provider's word only.
    const bob = await browserSignIn(running.url, 'bob');
    const second = await api(
      { cookie: bob.browser.cookie(running.url, 'lockstep_session') ?? '', csrf: bob.csrf },
      'POST',
      `/promotions/${promotion.id}/approve`,
      { comment: 'lgtm' },
    );
    expect(second.status, second.text).toBe(200);
    expect((await settled(admin, promotion.id)).state).toBe('succeeded');

    const audit: AuditEntry[] = await running.handle.store.auditPage(null, 10_000);
    const given = audit.filter((e) => e.kind === 'approval.given');
    expect(given.map((e) => e.actor)).toEqual(['alice@example.com', 'bob@example.com']);
    expect(given[0]?.data).toMatchObject({
      identity: 'authenticated',
      via: 'oidc',
      issuer: running.provider.issuer,
      subject: 'alice',
      groups: ['sre'],
    });
    expect(given[1]?.data).toMatchObject({
      identity: 'authenticated',
      via: 'oidc',
      issuer: running.provider.issuer,
      subject: 'bob',
      groups: ['sre', 'release-managers'],
    });
    expect(audit.find((e) => e.kind === 'approval.refused')).toMatchObject({
      actor: 'alice@example.com',
      data: { via: 'token', token: 'alice-laptop' },
    });
    // The approval keeps the groups the provider vouched for: later evaluations count bob by them.
    const approvals = await running.handle.store.listApprovals(promotion.id);
    expect(approvals.map((a) => a.groups)).toEqual([['sre'], ['sre', 'release-managers']]);
  }, 60_000);

  it('from: [group:sre] counts the groups claim (bob) and groups: of the config (dave); a person in neither may not approve', async () => {
    running = await startSignInServer();
    const admin = await adminToken(running);
    const promotion = await pendingProd(admin);
    const erin = { bearer: (await providerTokens(running.provider.issuer, 'erin')).accessToken };
    const refused = await api(erin, 'POST', `/promotions/${promotion.id}/approve`, { comment: 'me too' });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('erin@example.com may not approve in prod: needs approver there');
    for (const who of ['dave', 'bob']) {
      const caller = { bearer: (await providerTokens(running.provider.issuer, who)).accessToken };
      const r = await api(caller, 'POST', `/promotions/${promotion.id}/approve`, { comment: `${who} approves` });
      expect(r.status, r.text).toBe(200);
    }
    expect((await settled(admin, promotion.id)).state).toBe('succeeded');
  }, 60_000);

  it('roles come from the groups claim too: bob creates releases as a release manager by the provider, alice may not', async () => {
    running = await startSignInServer();
    const bob = { bearer: (await providerTokens(running.provider.issuer, 'bob')).idToken };
    const alice = { bearer: (await providerTokens(running.provider.issuer, 'alice')).idToken };
    expect((await api(bob, 'POST', '/releases', { set: ['api=3.0.0'] })).status).toBe(201);
    const refused = await api(alice, 'POST', '/releases', { set: ['api=3.0.1'] });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('alice@example.com may not create releases: needs releaser');
  }, 60_000);
});
