import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';

/**
 * DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse, protocol v1) with Ed25519:
 * the signature covers the pre-authentication encoding of the payload type and the payload bytes,
 * never the JSON around them. Pure: Ed25519 signatures are deterministic, and the key is passed in.
 */

export interface DsseSignature {
  /** Lower-case hex SHA-256 of the public key's DER SubjectPublicKeyInfo (see `keyId`). */
  keyid: string;
  /** Base64 (standard alphabet, padded) of the Ed25519 signature over `pae(payloadType, payload)`. */
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** Base64 of the payload bytes. */
  payload: string;
  /** Empty when the document was written without a key (it then says so; see evidence.ts). */
  signatures: DsseSignature[];
}

/** `DSSEv1 <len(type)> <type> <len(body)> <body>`, lengths as ASCII decimal byte counts. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `, 'utf8'), type, Buffer.from(` ${payload.length} `, 'utf8'), payload]);
}

/** The key id Lockstep gives an Ed25519 public key: lower-case hex SHA-256 of its DER SPKI. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Signs `payload` into an envelope. `privateKey` must be an Ed25519 private key. */
export function signEnvelope(payloadType: string, payload: Uint8Array, privateKey: KeyObject): DsseEnvelope {
  const sig = cryptoSign(null, pae(payloadType, payload), privateKey);
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: [{ keyid: keyId(createPublicKey(privateKey)), sig: sig.toString('base64') }],
  };
}

/** An envelope with no signature: what is written when no signing key is configured. */
export function unsignedEnvelope(payloadType: string, payload: Uint8Array): DsseEnvelope {
  return { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [] };
}

export type EnvelopeCheck =
  | { ok: true; payload: Buffer; signed: boolean; keyid?: string }
  | { ok: false; reason: string };

/**
 * Checks an envelope's shape and, with `publicKey`, that one of its signatures is that key's over
 * the PAE. Without `publicKey` (`allowUnsigned`) only an envelope that has no signatures at all
 * passes: a signed one must be checked against a key. Never throws for what the envelope holds.
 */
export function openEnvelope(
  value: unknown,
  options: { publicKey?: KeyObject; payloadType: string; allowUnsigned?: boolean },
): EnvelopeCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not a DSSE envelope (a JSON object is expected)' };
  const env = value as Record<string, unknown>;
  if (env.payloadType !== options.payloadType)
    return { ok: false, reason: `payloadType is ${JSON.stringify(env.payloadType)}, expected ${options.payloadType}` };
  if (typeof env.payload !== 'string' || !isBase64(env.payload)) return { ok: false, reason: 'payload is not base64 text' };
  if (!Array.isArray(env.signatures)) return { ok: false, reason: 'signatures is not a list' };
  const payload = Buffer.from(env.payload, 'base64');
  const signatures: DsseSignature[] = [];
  for (const [i, s] of (env.signatures as unknown[]).entries()) {
    const sig = s as Partial<DsseSignature> | null;
    if (typeof sig !== 'object' || sig === null || typeof sig.sig !== 'string' || !isBase64(sig.sig) || (sig.keyid !== undefined && typeof sig.keyid !== 'string'))
      return { ok: false, reason: `signatures[${i}] is not {keyid, sig} with a base64 sig` };
    signatures.push({ keyid: sig.keyid ?? '', sig: sig.sig });
  }
  if (signatures.length === 0) {
    if (options.allowUnsigned) return { ok: true, payload, signed: false };
    return { ok: false, reason: 'the envelope is unsigned (it was written without a signing key); --allow-unsigned accepts it' };
  }
  if (options.publicKey === undefined) return { ok: false, reason: 'the envelope is signed: a public key is needed to check it' };
  const expected = keyId(options.publicKey);
  const message = pae(options.payloadType, payload);
  for (const s of signatures) {
    // DSSE: the keyid is a hint; the signature is what counts. Check each against the one key trusted.
    if (cryptoVerify(null, message, options.publicKey, Buffer.from(s.sig, 'base64'))) return { ok: true, payload, signed: true, keyid: expected };
  }
  const ids = signatures.map((s) => s.keyid || '(none)').join(', ');
  return {
    ok: false,
    reason: signatures.some((s) => s.keyid === expected)
      ? 'the signature does not match the content (the document was changed after it was signed)'
      : `no signature by the given key (key id ${expected}); signed by ${ids}`,
  };
}

function isBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0;
}
