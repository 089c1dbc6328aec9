import Database from 'better-sqlite3';
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/access.js';
import { createToken } from '../../src/engine/tokens.js';
import { openProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { lockstep, lockstepAwait, type CliResult } from '../helpers/cli.js';
import { ajv2020 } from '../helpers/json-schema.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Issue 17, evidence and signed audit checkpoints, through the built CLI on a real project (command
// components, a real SQLite state). What Lockstep writes is checked by a verifier written here from
// the DSSE and in-toto specifications (node:crypto only, none of Lockstep's own code), and by
// `lockstep evidence verify` / `audit verify --key`; both must refuse a changed byte, a swapped key
// and a statement re-signed with another key.

const DB_PASSWORD = 'db-pw-SECRET-7f3a91';
/** The sensitive output keys.sh produces: `tok-SECRET-<version>`. */
const TOKEN_MARK = 'tok-SECRET-';
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

const CONFIG = `project: shop
environments:
  dev:
    vars: { password: "\${{ secrets.DB_PASSWORD }}" }
  prod:
    after: [dev]
    vars: { password: "\${{ secrets.DB_PASSWORD }}" }
    gates:
      approvals: { count: 1, from: [carol@example.com] }
components:
  keys:
    type: command
    with:
      apply: ["./keys.sh", "\${{ version }}", "\${{ env.vars.password }}"]
    outputs:
      token: { type: string, sensitive: true }
      url: { type: string }
  api:
${commandComponent({ dependsOn: ['keys'] })}
`;

const KEYS_SH = `#!/bin/sh
set -eu
echo "keys $1 with $2"
printf '{"token":"${TOKEN_MARK}%s","url":"https://keys.example.com/%s"}' "$1" "$1" > "$LOCKSTEP_OUTPUTS"
`;

// ------------------------------------------------------------------ the independent verifier

/** DSSE v1 PAE, from the protocol text: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
function paeOf(type: string, body: Buffer): Buffer {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `, 'utf8'), t, Buffer.from(` ${body.length} `, 'utf8'), body]);
}

function keyIdOf(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** Verifies a DSSE envelope with one trusted Ed25519 key and returns its decoded JSON payload, or why not. */
function independentlyOpen(envelope: Envelope, publicKeyPem: string, payloadType: string): { ok: true; payload: unknown } | { ok: false; why: string } {
  if (envelope.payloadType !== payloadType) return { ok: false, why: 'payloadType' };
  const key = createPublicKey(publicKeyPem);
  const body = Buffer.from(envelope.payload, 'base64');
  const pae = paeOf(envelope.payloadType, body);
  const good = envelope.signatures.some((s) => s.keyid === keyIdOf(key) && verify(null, pae, key, Buffer.from(s.sig, 'base64')));
  if (!good) return { ok: false, why: 'signature' };
  return { ok: true, payload: JSON.parse(body.toString('utf8')) as unknown };
}

/** in-toto Statement v1 as the attestation spec has it, about a promotion of Lockstep's. */
function independentlyVerifyEvidence(text: string, publicKeyPem: string): { ok: true; statement: Statement } | { ok: false; why: string } {
  const opened = independentlyOpen(JSON.parse(text) as Envelope, publicKeyPem, 'application/vnd.in-toto+json');
  if (!opened.ok) return opened;
  const s = opened.payload as Statement;
  if (s._type !== 'https://in-toto.io/Statement/v1') return { ok: false, why: '_type' };
  if (!Array.isArray(s.subject) || s.subject.some((x) => Object.keys(x.digest).length === 0)) return { ok: false, why: 'subject' };
  if (s.predicateType !== 'https://lockstep.dev/promotion/v1') return { ok: false, why: 'predicateType' };
  return { ok: true, statement: s };
}

interface Statement {
  _type: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: {
    project: string;
    environment: string;
    release: { id: string };
    promotion: { id: string; state: string; requestedBy: string };
    plan: { digest: string; steps: { component: string; summary: string }[] };
    approvals: { actor: string; decision: string; planDigest: string; identity: { kind: string } }[];
    gates: { gate: string; status: string }[];
    steps: { component: string; state: string; startedAt?: string; finishedAt?: string }[];
    rollbacks: { component: string; state: string }[];
    audit: { seq: number; hash: string };
    signed: boolean;
  };
}

/** The audit hash chain as docs/audit.md describes it, with canonical JSON written here. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonical(v))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`;
}
const FIELDS = ['seq', 'kind', 'time', 'actor', 'project', 'environment', 'releaseId', 'promotionId', 'component', 'data', 'prevHash'];
type Entry = Record<string, unknown> & { seq: number; kind: string; hash: string; prevHash: string; data: Record<string, unknown> };
function entryHash(entry: Entry): string {
  return createHash('sha256').update(canonical(Object.fromEntries(FIELDS.map((f) => [f, entry[f]]))), 'utf8').digest('hex');
}

/** The chain and every checkpoint in it, independently: where it fails, or the checkpoints it verified. */
function independentlyVerifyAudit(lines: readonly string[], publicKeyPem: string): { ok: true; checkpoints: number } | { ok: false; why: string } {
  const hashes = new Map<number, string>();
  let previous = { seq: 0, hash: '0'.repeat(64) };
  let checkpoints = 0;
  for (const line of lines) {
    const entry = JSON.parse(line) as Entry;
    if (entry.seq !== previous.seq + 1 || entry.prevHash !== previous.hash || entry.hash !== entryHash(entry)) return { ok: false, why: `chain at ${entry.seq}` };
    hashes.set(entry.seq, entry.hash);
    if (entry.kind === 'audit.checkpoint') {
      const opened = independentlyOpen(entry.data.envelope as Envelope, publicKeyPem, 'application/vnd.lockstep.audit-checkpoint+json');
      if (!opened.ok) return { ok: false, why: `checkpoint ${entry.seq}: ${opened.why}` };
      const head = opened.payload as { seq: number; hash: string };
      if (hashes.get(head.seq) !== head.hash) return { ok: false, why: `checkpoint ${entry.seq}: head ${head.seq} rewritten` };
      checkpoints++;
    }
    previous = { seq: entry.seq, hash: entry.hash };
  }
  return { ok: true, checkpoints };
}

// ------------------------------------------------------------------ the project

let project: TestProject;
let signing: { key: string; pub: string };
let other: { key: string; pub: string };
const outputs: string[] = [];

function run(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = lockstep(project.dir, args, { LOCKSTEP_ACTOR: 'alice@example.com', DB_PASSWORD, LOCKSTEP_SIGNING_KEY_FILE: signing.key, ...env });
  outputs.push(r.stdout, r.stderr);
  return r;
}

function ok(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = run(args, env);
  expect(r.status, `lockstep ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  return r;
}

function newRelease(versions: Record<string, string>): string {
  const r = ok(['release', 'create', ...Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]), '-o', 'json']);
  return (JSON.parse(r.stdout) as { release: { id: string } }).release.id;
}

function lastPromotion(env: string): { id: string; state: string } {
  const list = JSON.parse(ok(['history', '--env', env, '-o', 'json']).stdout) as { id: string; state: string }[];
  const newest = list[0];
  if (!newest) throw new Error(`no promotion in ${env}`);
  return newest;
}

function exported(promotion: string, name: string, env: NodeJS.ProcessEnv = {}): string {
  const file = join(project.dir, name);
  ok(['evidence', 'export', promotion, '--out', file], env);
  return readFileSync(file, 'utf8');
}

function reencoded(text: string, change: (statementJson: string) => string): string {
  const envelope = JSON.parse(text) as Envelope;
  const payload = change(Buffer.from(envelope.payload, 'base64').toString('utf8'));
  return JSON.stringify({ ...envelope, payload: Buffer.from(payload, 'utf8').toString('base64') });
}

/** The predicate's JSON Schema, as docs/evidence.md shows it. */
function documentedSchema(): object {
  const doc = readFileSync(new URL('../../docs/evidence.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf("## The predicate's JSON Schema"));
  const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (block === undefined) throw new Error('docs/evidence.md has no JSON Schema block');
  return JSON.parse(block) as object;
}

beforeAll(() => {
  project = testProject(CONFIG);
  project.write('keys.sh', KEYS_SH, true);
  signing = { key: join(project.dir, 'signing.key'), pub: join(project.dir, 'signing.pub') };
  other = { key: join(project.dir, 'other.key'), pub: join(project.dir, 'other.pub') };
});

afterAll(() => project.cleanup());

describe('lockstep keys generate', () => {
  it('writes an Ed25519 key pair: the private key PKCS#8 PEM with mode 0600, the public one SPKI PEM; never overwrites', () => {
    const r = ok(['keys', 'generate', '--out', join(project.dir, 'signing')]);
    ok(['keys', 'generate', '--out', join(project.dir, 'other')]);
    expect(statSync(signing.key).mode & 0o777).toBe(0o600);
    const privateText = readFileSync(signing.key, 'utf8');
    expect(privateText).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(createPrivateKey(privateText).asymmetricKeyType).toBe('ed25519');
    const pub = createPublicKey(readFileSync(signing.pub, 'utf8'));
    expect(readFileSync(signing.pub, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(pub.asymmetricKeyType).toBe('ed25519');
    expect(r.stdout).toContain(`key id ${keyIdOf(pub)}`);
    expect(r.stdout).not.toContain('PRIVATE KEY');

    const again = run(['keys', 'generate', '--out', join(project.dir, 'signing')]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('exists already');
    expect(readFileSync(signing.key, 'utf8')).toBe(privateText);
  });
});

describe('evidence of a promotion, signed', () => {
  let devPromotion = '';
  let devEvidence = '';
  let release = '';

  it('is written when a promotion succeeds, and verifies with the public key by an independent verifier and by evidence verify', () => {
    release = newRelease({ keys: '1', api: COMMIT });
    ok(['promote', release, '--to', 'dev']);
    devPromotion = lastPromotion('dev').id;
    devEvidence = exported(devPromotion, 'dev.intoto.json');
    // To stdout too, the same document.
    expect(ok(['evidence', 'export', devPromotion.slice(0, 8)]).stdout).toBe(devEvidence);

    const checked = independentlyVerifyEvidence(devEvidence, readFileSync(signing.pub, 'utf8'));
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    const { statement } = checked;
    expect(statement.subject[0]).toStrictEqual({ name: `release:${release}`, digest: { sha256: release } });
    expect(statement.subject).toContainEqual({ name: 'api/version', digest: { gitCommit: COMMIT } });
    const p = statement.predicate;
    expect(p.project).toBe('shop');
    expect(p.environment).toBe('dev');
    expect(p.release.id).toBe(release);
    expect(p.promotion).toMatchObject({ id: devPromotion, state: 'succeeded', requestedBy: 'alice@example.com' });
    expect(p.steps.map((s) => [s.component, s.state])).toStrictEqual([
      ['keys', 'succeeded'],
      ['api', 'succeeded'],
    ]);
    expect(p.steps.every((s) => s.startedAt !== undefined && s.finishedAt !== undefined)).toBe(true);
    expect(p.plan.steps.map((s) => s.component)).toStrictEqual(['keys', 'api']);
    expect(p.signed).toBe(true);

    const verified = ok(['evidence', 'verify', join(project.dir, 'dev.intoto.json'), '--key', signing.pub, '--release', release.slice(0, 9), '--environment', 'dev']);
    expect(verified.stdout).toContain('valid evidence, signed by key');
    const json = JSON.parse(ok(['evidence', 'verify', join(project.dir, 'dev.intoto.json'), '--key', signing.pub, '-o', 'json']).stdout) as { ok: boolean; keyid: string };
    expect(json.ok).toBe(true);
    expect(json.keyid).toBe(keyIdOf(createPublicKey(readFileSync(signing.pub, 'utf8'))));
  });

  it('names the audit head after the promotion ended, and the predicate fits the JSON Schema in docs/evidence.md', () => {
    const statement = (independentlyVerifyEvidence(devEvidence, readFileSync(signing.pub, 'utf8')) as { statement: Statement }).statement;
    const lines = ok(['audit', 'export']).stdout.split('\n').filter(Boolean);
    const entries = lines.map((l) => JSON.parse(l) as Entry);
    const finished = entries.find((e) => e.kind === 'promotion.finished' && e.promotionId === devPromotion);
    expect(finished).toBeDefined();
    expect(statement.predicate.audit).toStrictEqual({ seq: finished?.seq, hash: finished?.hash });

    const validate = ajv2020().compile(documentedSchema());
    expect(validate(statement.predicate), JSON.stringify(validate.errors)).toBe(true);
    // The schema is not a rubber stamp: a predicate missing its audit head fails it.
    expect(validate({ ...statement.predicate, audit: undefined })).toBe(false);
  });

  it('holds no secret: neither the secrets.* value nor the sensitive output, although the plan shows the command', () => {
    const payload = Buffer.from((JSON.parse(devEvidence) as Envelope).payload, 'base64').toString('utf8');
    expect(payload).toContain('./keys.sh');
    for (const text of [payload, devEvidence]) {
      expect(text).not.toContain(DB_PASSWORD);
      expect(text).not.toContain(TOKEN_MARK);
    }
    // Nor did the key reach the state, or any output.
    const pem = readFileSync(signing.key, 'utf8').split('\n')[1] ?? '';
    expect(pem.length).toBeGreaterThan(20);
    expect(readFileSync(join(project.dir, '.lockstep', 'state.db')).includes(pem)).toBe(false);
    for (const o of outputs) {
      expect(o).not.toContain(pem);
      expect(o).not.toContain(DB_PASSWORD);
    }
  });

  it('refuses one changed byte, a swapped key, and a changed statement re-signed with another key: both verifiers', () => {
    const pub = readFileSync(signing.pub, 'utf8');
    const otherPub = readFileSync(other.pub, 'utf8');
    const file = (name: string, text: string): string => {
      writeFileSync(join(project.dir, name), text);
      return join(project.dir, name);
    };

    // One byte of the statement: dev → dew.
    const changed = reencoded(devEvidence, (s) => s.replace('"environment":"dev"', '"environment":"dew"'));
    expect(changed).not.toBe(devEvidence);
    expect(independentlyVerifyEvidence(changed, pub).ok).toBe(false);
    const r1 = run(['evidence', 'verify', file('changed.json', changed), '--key', signing.pub]);
    expect(r1.status).toBe(1);
    expect(r1.stdout).toContain('the signature does not match the content');

    // One byte of the signature itself.
    const env = JSON.parse(devEvidence) as Envelope;
    const sig = Buffer.from(env.signatures[0]?.sig ?? '', 'base64');
    sig[10] = (sig[10] ?? 0) ^ 1;
    const badSig = JSON.stringify({ ...env, signatures: [{ keyid: env.signatures[0]?.keyid ?? '', sig: sig.toString('base64') }] });
    expect(independentlyVerifyEvidence(badSig, pub).ok).toBe(false);
    expect(run(['evidence', 'verify', file('bad-sig.json', badSig), '--key', signing.pub]).status).toBe(1);

    // The right document, the wrong key.
    expect(independentlyVerifyEvidence(devEvidence, otherPub).ok).toBe(false);
    const r2 = run(['evidence', 'verify', join(project.dir, 'dev.intoto.json'), '--key', other.pub]);
    expect(r2.status).toBe(1);
    expect(r2.stdout).toContain('no signature by the given key');

    // A changed statement re-signed with another key, claiming the real key's id.
    const forgedPayload = Buffer.from(Buffer.from(env.payload, 'base64').toString('utf8').replace('"state":"succeeded"', '"state":"failed"'), 'utf8');
    const otherKey = createPrivateKey(readFileSync(other.key, 'utf8'));
    const forged = JSON.stringify({
      payloadType: env.payloadType,
      payload: forgedPayload.toString('base64'),
      signatures: [{ keyid: env.signatures[0]?.keyid ?? '', sig: sign(null, paeOf(env.payloadType, forgedPayload), otherKey).toString('base64') }],
    });
    // A good signature, by the other key: only the key trusted tells it apart.
    expect(verify(null, paeOf(env.payloadType, forgedPayload), createPublicKey(otherPub), Buffer.from((JSON.parse(forged) as Envelope).signatures[0]?.sig ?? '', 'base64'))).toBe(true);
    expect(independentlyVerifyEvidence(forged, pub).ok).toBe(false);
    const r3 = run(['evidence', 'verify', file('forged.json', forged), '--key', signing.pub]);
    expect(r3.status).toBe(1);
    expect(r3.stdout).toContain('INVALID');

    // About something else than the auditor expects.
    const r4 = run(['evidence', 'verify', join(project.dir, 'dev.intoto.json'), '--key', signing.pub, '--environment', 'prod']);
    expect(r4.status).toBe(1);
    expect(r4.stdout).toContain('about environment dev, not prod');
    expect(run(['evidence', 'verify', join(project.dir, 'dev.intoto.json'), '--key', signing.pub, '--release', 'f'.repeat(12)]).status).toBe(1);
    // Not a key, or no file: bad input, exit 2.
    expect(run(['evidence', 'verify', join(project.dir, 'dev.intoto.json'), '--key', join(project.dir, 'lockstep.yaml')]).status).toBe(2);
    expect(run(['evidence', 'verify', join(project.dir, 'missing.json'), '--key', signing.pub]).status).toBe(2);
  });

  it('records the approval (who, when, identity, the plan digest it bound to) and the gate decisions of a promotion that waited', () => {
    const pending = run(['promote', release, '--to', 'prod']);
    expect(pending.status).toBe(3);
    const id = lastPromotion('prod').id;
    expect(run(['evidence', 'export', id]).status).toBe(2); // not finished: no evidence yet
    ok(['approve', id, '--comment', 'plan reviewed'], { LOCKSTEP_ACTOR: 'carol@example.com' });
    const statement = (independentlyVerifyEvidence(exported(id, 'prod.intoto.json'), readFileSync(signing.pub, 'utf8')) as { statement: Statement }).statement;
    const p = statement.predicate;
    expect(p.promotion.state).toBe('succeeded');
    expect(p.approvals).toHaveLength(1);
    expect(p.approvals[0]).toMatchObject({ actor: 'carol@example.com', decision: 'approve', planDigest: p.plan.digest, identity: { kind: 'claimed' } });
    expect(p.gates).toContainEqual(expect.objectContaining({ gate: 'approvals', status: 'waiting' }));
    expect(p.gates).toContainEqual(expect.objectContaining({ gate: 'approvals', status: 'passed' }));
    ok(['evidence', 'verify', join(project.dir, 'prod.intoto.json'), '--key', signing.pub, '--release', release, '--environment', 'prod']);
  });

  it('is written for a promotion that failed and was rolled back, and for one that was rejected', () => {
    const broken = newRelease({ keys: '1', api: '2.0.0-broken' });
    expect(run(['promote', broken, '--to', 'dev']).status).toBe(1);
    const failed = lastPromotion('dev');
    expect(failed.state).toBe('failed');
    const f = (independentlyVerifyEvidence(exported(failed.id, 'failed.json'), readFileSync(signing.pub, 'utf8')) as { statement: Statement }).statement.predicate;
    expect(f.promotion.state).toBe('failed');
    expect(f.rollbacks).toStrictEqual([expect.objectContaining({ component: 'api', state: 'rolled-back' })]);

    const next = newRelease({ keys: '1', api: '3.0.0' });
    ok(['promote', next, '--to', 'dev']);
    expect(run(['promote', next, '--to', 'prod']).status).toBe(3);
    const pending = lastPromotion('prod').id;
    expect(run(['approve', pending, '--reject', '--comment', 'not today'], { LOCKSTEP_ACTOR: 'carol@example.com' }).stdout).toContain('REJECTED');
    const r = (independentlyVerifyEvidence(exported(pending, 'rejected.json'), readFileSync(signing.pub, 'utf8')) as { statement: Statement }).statement.predicate;
    expect(r.promotion.state).toBe('rejected');
    expect(r.approvals).toStrictEqual([expect.objectContaining({ actor: 'carol@example.com', decision: 'reject' })]);
  });

  it('without a key: unsigned, saying so; verify refuses it unless --allow-unsigned. A key given as a secret signs', () => {
    const release3 = newRelease({ keys: '4', api: '4.0.0' });
    ok(['promote', release3, '--to', 'dev'], { LOCKSTEP_SIGNING_KEY_FILE: '' });
    const id = lastPromotion('dev').id;
    const text = exported(id, 'unsigned.json', { LOCKSTEP_SIGNING_KEY_FILE: '' });
    const envelope = JSON.parse(text) as Envelope;
    expect(envelope.signatures).toStrictEqual([]);
    expect((JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Statement).predicate.signed).toBe(false);
    expect(independentlyVerifyEvidence(text, readFileSync(signing.pub, 'utf8')).ok).toBe(false);
    const refused = run(['evidence', 'verify', join(project.dir, 'unsigned.json'), '--key', signing.pub]);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain('unsigned');
    expect(ok(['evidence', 'verify', join(project.dir, 'unsigned.json'), '--allow-unsigned']).stdout).toContain('UNSIGNED');

    // The key as a secret (here in a secrets file, its line breaks written as \n).
    const pem = readFileSync(signing.key, 'utf8').trim().replace(/\n/g, '\\n');
    writeFileSync(join(project.dir, 'secrets.env'), `LOCKSTEP_SIGNING_KEY=${pem}\n`);
    const release4 = newRelease({ keys: '5', api: '5.0.0' });
    ok(['promote', release4, '--to', 'dev', '--secrets-file', join(project.dir, 'secrets.env')], { LOCKSTEP_SIGNING_KEY_FILE: '' });
    const signed = exported(lastPromotion('dev').id, 'from-secret.json');
    expect(independentlyVerifyEvidence(signed, readFileSync(signing.pub, 'utf8')).ok).toBe(true);

    // A key that is not one fails before anything runs, naming where it came from and nothing of it.
    writeFileSync(join(project.dir, 'not-a-key'), 'SECRET-NOT-A-KEY-CONTENT\n');
    const bad = run(['promote', release3, '--to', 'prod'], { LOCKSTEP_SIGNING_KEY_FILE: join(project.dir, 'not-a-key') });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('LOCKSTEP_SIGNING_KEY_FILE');
    expect(bad.stderr).not.toContain('SECRET-NOT-A-KEY-CONTENT');
  });

  it('a promotion whose evidence a crash kept from being written gets it from the next tick', () => {
    const id = lastPromotion('dev').id;
    // What a crash between the promotion's last commit and its evidence's leaves: no evidence row.
    const db = new Database(join(project.dir, '.lockstep', 'state.db'));
    db.prepare('DELETE FROM evidence WHERE promotion_id = ?').run(id);
    db.close();
    const missing = run(['evidence', 'export', id]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('not written yet');
    ok(['tick']);
    const text = exported(id, 'recovered.json');
    expect(independentlyVerifyEvidence(text, readFileSync(signing.pub, 'utf8')).ok).toBe(true);
  });
});

describe('signed audit checkpoints', () => {
  let lines: string[] = [];

  beforeAll(() => {
    lines = ok(['audit', 'export']).stdout.split('\n').filter(Boolean);
  });

  it('one per promotion that ended with a key, each verified by audit verify --key and by an independent verifier', () => {
    const checked = independentlyVerifyAudit(lines, readFileSync(signing.pub, 'utf8'));
    expect(checked).toMatchObject({ ok: true });
    // dev ×4 signed (one unsigned), prod ×2, and the one recovered by tick.
    expect((checked as { checkpoints: number }).checkpoints).toBe(7);
    const r = ok(['audit', 'verify', '--key', signing.pub]);
    expect(r.stdout).toContain('audit log intact');
    expect(r.stdout).toContain('7 signed checkpoint(s) verified');
    const json = JSON.parse(ok(['audit', 'verify', '--key', signing.pub, '-o', 'json']).stdout) as { ok: boolean; checkpoints: { count: number } };
    expect(json).toMatchObject({ ok: true, checkpoints: { count: 7 } });
    // Offline, from the export alone.
    writeFileSync(join(project.dir, 'audit.jsonl'), `${lines.join('\n')}\n`);
    ok(['audit', 'verify', '--file', join(project.dir, 'audit.jsonl'), '--key', signing.pub]);
  });

  it('refuses the wrong key', () => {
    expect(independentlyVerifyAudit(lines, readFileSync(other.pub, 'utf8')).ok).toBe(false);
    const r = run(['audit', 'verify', '--key', other.pub]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('checkpoint');
  });

  it('finds history rewritten before a checkpoint, although the rewritten chain itself is consistent', () => {
    // Someone with write access to the database but not the key changes entry 3 and recomputes every hash after it.
    const entries = lines.map((l) => JSON.parse(l) as Entry);
    let prev = '0'.repeat(64);
    const rewritten = entries.map((e) => {
      const changed: Entry = { ...e, prevHash: prev, ...(e.seq === 3 ? { actor: 'mallory@example.com' } : {}) };
      changed.hash = entryHash(changed);
      prev = changed.hash;
      return JSON.stringify(changed);
    });
    writeFileSync(join(project.dir, 'rewritten.jsonl'), `${rewritten.join('\n')}\n`);
    expect(independentlyVerifyAudit(rewritten, readFileSync(signing.pub, 'utf8'))).toMatchObject({ ok: false, why: expect.stringContaining('rewritten') as unknown });
    const r = run(['audit', 'verify', '--file', join(project.dir, 'rewritten.jsonl'), '--key', signing.pub]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('history before the checkpoint was rewritten');
    // The rewritten chain is consistent: what fails is the first checkpoint after entry 3.
    const chainOnly = run(['audit', 'verify', '--file', join(project.dir, 'rewritten.jsonl'), '--key', signing.pub, '-o', 'json']);
    expect((JSON.parse(chainOnly.stdout) as { firstBad: number }).firstBad).toBeGreaterThan(3);
  });

  it('finds a cut tail shorter than a signed head kept elsewhere (exported evidence), and a changed byte in a checkpoint', () => {
    const prodEvidence = join(project.dir, 'prod.intoto.json');
    const head = (JSON.parse(Buffer.from((JSON.parse(readFileSync(prodEvidence, 'utf8')) as Envelope).payload, 'base64').toString('utf8')) as Statement).predicate.audit;
    const cut = lines.slice(0, head.seq - 1);
    writeFileSync(join(project.dir, 'cut.jsonl'), `${cut.join('\n')}\n`);
    // The cut chain is consistent, and its own checkpoints verify: only the kept head shows the cut.
    ok(['audit', 'verify', '--file', join(project.dir, 'cut.jsonl'), '--key', signing.pub]);
    const r = run(['audit', 'verify', '--file', join(project.dir, 'cut.jsonl'), '--key', signing.pub, '--checkpoint', prodEvidence]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('entries were removed from the end');
    ok(['audit', 'verify', '--key', signing.pub, '--checkpoint', prodEvidence]);

    // The same cut made in the database itself (by someone who may drop the append-only trigger):
    // the evidence stored with the newest promotions signs a head the cut log no longer reaches.
    const copy = join(project.dir, 'cut-state');
    mkdirSync(copy, { recursive: true });
    copyFileSync(join(project.dir, '.lockstep', 'state.db'), join(copy, 'state.db'));
    const db = new Database(join(copy, 'state.db'));
    db.exec(`DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq >= ${head.seq}`);
    db.close();
    const cutState = run(['audit', 'verify', '--key', signing.pub, '--state', copy]);
    expect(cutState.status, cutState.stdout + cutState.stderr).toBe(1);
    expect(cutState.stdout).toContain('entries were removed from the end');
    // Without the key, the chain that is left is consistent: only the signed heads show the cut.
    expect(run(['audit', 'verify', '--state', copy]).status).toBe(0);
    expect(ok(['audit', 'verify', '--key', signing.pub]).stdout).toMatch(/the log reaches the audit heads signed in the evidence of the \d+ newest finished promotion/);

    // One byte of a checkpoint's signed payload changed (and the chain's hashes recomputed to match).
    const entries = lines.map((l) => JSON.parse(l) as Entry);
    const at = entries.findIndex((e) => e.kind === 'audit.checkpoint');
    let prev = '0'.repeat(64);
    const tampered = entries.map((e, i) => {
      let changed: Entry = { ...e, prevHash: prev };
      if (i === at) {
        const envelope = e.data.envelope as Envelope;
        const body = Buffer.from(envelope.payload, 'base64').toString('utf8').replace(/"time":"(\d)/, (_m, d: string) => `"time":"${String((Number(d) + 1) % 10)}`);
        changed = { ...changed, data: { ...e.data, envelope: { ...envelope, payload: Buffer.from(body, 'utf8').toString('base64') } } };
      }
      changed.hash = entryHash(changed);
      prev = changed.hash;
      return JSON.stringify(changed);
    });
    expect(independentlyVerifyAudit(tampered, readFileSync(signing.pub, 'utf8')).ok).toBe(false);
    writeFileSync(join(project.dir, 'tampered.jsonl'), `${tampered.join('\n')}\n`);
    const t = run(['audit', 'verify', '--file', join(project.dir, 'tampered.jsonl'), '--key', signing.pub]);
    expect(t.status).toBe(1);
    expect(t.stdout).toContain('signature does not match');
  });
});

describe('the offline recipes the docs give', () => {
  function jsBlocks(doc: string, from: string): string[] {
    const text = readFileSync(new URL(`../../docs/${doc}`, import.meta.url), 'utf8');
    const section = text.slice(text.indexOf(from));
    return [...section.matchAll(/```js\n([\s\S]*?)\n```/g)].map((m) => m[1] ?? '');
  }

  function node(script: string, args: string[]): { status: number | null; out: string } {
    const file = join(project.dir, `recipe-${Math.random().toString(36).slice(2)}.mjs`);
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  }

  it('docs/audit.md: the chain and checkpoint script accepts the export and refuses rewritten history', () => {
    const [chain, checkpoints] = jsBlocks('audit.md', '## Verifying offline');
    const script = `${chain ?? ''}\n${checkpoints ?? ''}\n`;
    const good = node(script, [join(project.dir, 'audit.jsonl'), '', signing.pub]);
    expect(good.status, good.out).toBe(0);
    expect(good.out).toContain('every checkpoint verified');
    const bad = node(script, [join(project.dir, 'rewritten.jsonl'), '', signing.pub]);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toContain('was rewritten');
  });

  it('docs/evidence.md: the evidence script accepts exported evidence and refuses a changed byte', () => {
    const [script] = jsBlocks('evidence.md', '## Verifying without Lockstep');
    const good = node(script ?? '', [join(project.dir, 'prod.intoto.json'), signing.pub]);
    expect(good.status, good.out).toBe(0);
    expect(good.out).toContain('valid: succeeded promotion');
    const bad = node(script ?? '', [join(project.dir, 'changed.json'), signing.pub]);
    expect(bad.status).not.toBe(0);
  });
});

describe('evidence through a team server', () => {
  let server: RunningServer | undefined;
  afterAll(async () => server?.close());

  it('evidence export reads GET …/promotions/{promotion}/evidence and writes the same document', async () => {
    const handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
    const admin: Identity = { name: 'admin@example.com', via: { kind: 'claimed' } };
    const token = (await createToken(handle.deps({ actor: admin.name }), admin, { name: 'reader', for: 'alice@example.com', role: 'viewer' })).token;
    const projects = new Map([[handle.name, handle]]);
    server = await startServer({ projects, host: '127.0.0.1', port: 0, authenticate: projectAuthenticator(projects), authorize: projectAuthorizer(projects), log: () => undefined });
    const id = lastPromotion('prod').id;
    const out = join(project.dir, 'through-server.json');
    const r = await lockstepAwait(project.dir, ['evidence', 'export', id, '--out', out], { LOCKSTEP_SERVER: server.url, LOCKSTEP_TOKEN: token, LOCKSTEP_ACTOR: '' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(project.dir, 'rejected.json'), 'utf8'));
    const viaKey = await lockstepAwait(project.dir, ['audit', 'verify', '--key', signing.pub], { LOCKSTEP_SERVER: server.url, LOCKSTEP_TOKEN: token, LOCKSTEP_ACTOR: '' });
    expect(viaKey.status, viaKey.stdout + viaKey.stderr).toBe(0);
    expect(viaKey.stdout).toContain('signed checkpoint(s) verified');
    const unknown = await lockstepAwait(project.dir, ['evidence', 'export', 'f'.repeat(32)], { LOCKSTEP_SERVER: server.url, LOCKSTEP_TOKEN: token, LOCKSTEP_ACTOR: '' });
    expect(unknown.status).toBe(2);
  });
});
