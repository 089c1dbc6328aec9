import { createPublicKey, generateKeyPairSync, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyId, openEnvelope, pae, signEnvelope, unsignedEnvelope } from '../../src/core/dsse.js';
import { evidenceSubjects } from '../../src/core/evidence.js';
import type { PromotionRecord, StepRecord } from '../../src/core/model.js';

describe('DSSE', () => {
  it('encodes the pre-authentication encoding as the protocol document shows it', () => {
    // github.com/secure-systems-lab/dsse protocol.md, "PAE": its worked example.
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString('utf8')).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
    // Lengths count bytes, not characters.
    expect(pae('t', Buffer.from('é', 'utf8')).toString('utf8')).toBe('DSSEv1 1 t 2 é');
  });

  it('names a key by the SHA-256 of its DER SubjectPublicKeyInfo', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    expect(keyId(publicKey)).toBe(createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex'));
  });

  it('opens what it signed with that key only; an unsigned envelope only when allowed, a signed one never without a key', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const { publicKey: other } = generateKeyPairSync('ed25519');
    const signed = signEnvelope('application/x-test', Buffer.from('{"a":1}'), privateKey);
    const publicKey = createPublicKey(privateKey);
    expect(openEnvelope(signed, { publicKey, payloadType: 'application/x-test' })).toMatchObject({ ok: true, signed: true, keyid: keyId(publicKey) });
    expect(openEnvelope(signed, { publicKey: other, payloadType: 'application/x-test' })).toMatchObject({ ok: false, reason: expect.stringContaining('no signature by the given key') as unknown });
    expect(openEnvelope(signed, { publicKey, payloadType: 'application/x-other' }).ok).toBe(false);
    expect(openEnvelope(signed, { payloadType: 'application/x-test', allowUnsigned: true }).ok).toBe(false);
    const unsigned = unsignedEnvelope('application/x-test', Buffer.from('{}'));
    expect(openEnvelope(unsigned, { publicKey, payloadType: 'application/x-test' }).ok).toBe(false);
    expect(openEnvelope(unsigned, { payloadType: 'application/x-test', allowUnsigned: true })).toMatchObject({ ok: true, signed: false });
    for (const bad of [null, [], 'text', { ...signed, payload: '%%%' }, { ...signed, signatures: [{ sig: 5 }] }])
      expect(openEnvelope(bad, { publicKey, payloadType: 'application/x-test' }).ok).toBe(false);
  });
});

describe('evidence subjects', () => {
  const releaseId = 'a'.repeat(64);
  const commit = 'b'.repeat(40);
  const checksum = 'c'.repeat(64);
  const planSha = 'd'.repeat(64);
  const code = Buffer.alloc(32, 7);

  function step(component: string, toVersion: string, outputs?: Record<string, unknown>): StepRecord {
    return { promotionId: 'p', component, environment: 'prod', state: 'succeeded', action: 'apply', toVersion, reversible: true, applyStarted: true, attempts: 1, idempotencyKey: 'k', ...(outputs ? { outputs } : {}) };
  }

  it('names the release, then each artifact whose digest is known: commits, Lambda code, Terraform plans, migrations', () => {
    const planned = (component: string, data: unknown) => ({ component, type: 't', toVersion: '1', action: 'apply', reason: '', reversible: true, summary: '', risk: 'low', dependsOn: [], level: 0, configDigest: '', data });
    const promotion = {
      releaseId,
      plan: {
        steps: [
          planned('infra', { kind: 'terraform-plan', planFile: '/x', version: '1', changes: true, planSha256: planSha, commit }),
          planned('schema', { target: '2', steps: [{ direction: 'up', version: '2', checksum }, { direction: 'up', version: '3', checksum: 'not-a-digest' }] }),
        ],
      },
    } as unknown as PromotionRecord;
    const subjects = evidenceSubjects(promotion, [
      step('infra', '1'),
      step('schema', '2'),
      step('worker', '7', { codeSha256: code.toString('base64'), functionArn: 'arn:x' }),
      step('api', `git:${commit}`),
      step('web', '1.2.3', { commit: 'not-a-commit' }),
    ]);
    expect(subjects).toStrictEqual([
      { name: `release:${releaseId}`, digest: { sha256: releaseId } },
      { name: 'infra/commit', digest: { gitCommit: commit } },
      { name: 'infra/plan', digest: { sha256: planSha } },
      { name: 'schema/migration/up/2', digest: { sha256: checksum } },
      { name: 'worker/code', digest: { sha256: code.toString('hex') } },
      { name: 'api/version', digest: { gitCommit: commit } },
    ]);
  });
});
