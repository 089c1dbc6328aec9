import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { keyId } from '../core/dsse.js';
import { InputError } from '../core/errors.js';
import type { SecretSource } from './secrets.js';

/** The environment variable naming the private key's file. */
export const SIGNING_KEY_FILE_VAR = 'LOCKSTEP_SIGNING_KEY_FILE';
/** The secret (process environment or secrets file) holding the private key's PEM text. */
export const SIGNING_KEY_SECRET = 'LOCKSTEP_SIGNING_KEY';

/**
 * The key evidence and audit checkpoints are signed with. Held in memory only: it is never stored,
 * logged, or put in a message (errors name where it came from, never what it holds).
 */
export interface EvidenceSigner {
  privateKey: KeyObject;
  /** Lower-case hex SHA-256 of the public key's DER SPKI. */
  keyid: string;
}

/**
 * The signing key configured for this process: the file `LOCKSTEP_SIGNING_KEY_FILE` names, else the
 * secret `LOCKSTEP_SIGNING_KEY`; undefined when neither is set (evidence is then written unsigned).
 * InputError when the key cannot be read or is not an Ed25519 private key in PEM.
 */
export function loadSigner(env: NodeJS.ProcessEnv, secrets: SecretSource): EvidenceSigner | undefined {
  const file = env[SIGNING_KEY_FILE_VAR];
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new InputError(`cannot read the signing key file ${file} (${SIGNING_KEY_FILE_VAR}): ${(error as NodeJS.ErrnoException).code ?? 'error'}`, SIGNING_KEY_FILE_VAR);
    }
    return signerFrom(text, `the signing key file ${file} (${SIGNING_KEY_FILE_VAR})`, SIGNING_KEY_FILE_VAR);
  }
  const secret = secrets.get(SIGNING_KEY_SECRET);
  if (secret === undefined || secret === '') return undefined;
  // A secrets file holds one line per value: `\n` stands for the PEM's line breaks there.
  return signerFrom(secret.includes('\n') ? secret : secret.replace(/\\n/g, '\n'), `the secret ${SIGNING_KEY_SECRET}`, SIGNING_KEY_SECRET);
}

function signerFrom(pem: string, where: string, field: string): EvidenceSigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // Never the parser's message: it could quote what it read.
    throw new InputError(`${where} is not a private key in PEM (lockstep keys generate writes one)`, field);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new InputError(`${where} is an ${privateKey.asymmetricKeyType ?? 'unknown'} key: Lockstep signs with Ed25519 (lockstep keys generate writes one)`, field);
  return { privateKey, keyid: keyId(createPublicKey(privateKey)) };
}

/** Reads a public key (PEM SPKI) for verification. InputError naming the file when it is not one. */
export function readPublicKey(file: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read the public key ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, '--key');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch {
    throw new InputError(`${file} is not a public key in PEM (the .pub file lockstep keys generate wrote)`, '--key');
  }
  if (key.type !== 'public') throw new InputError(`${file} holds a private key: give the public one (.pub)`, '--key');
  if (key.asymmetricKeyType !== 'ed25519') throw new InputError(`${file} is an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`, '--key');
  return key;
}

/**
 * Writes a new Ed25519 key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM).
 * Refuses (InputError, nothing written) when either file exists.
 */
export function generateKeyFiles(prefix: string): { keyFile: string; pubFile: string; keyid: string } {
  const keyFile = `${prefix}.key`;
  const pubFile = `${prefix}.pub`;
  for (const file of [keyFile, pubFile]) if (existsSync(file)) throw new InputError(`${file} exists already: lockstep keys generate never overwrites a key (choose another --out)`, '--out');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const pub = publicKey.export({ type: 'spki', format: 'pem' });
  // `wx`: created here or not at all (a file that appeared meanwhile is not overwritten); 0600 from the start.
  writeNew(keyFile, pem, 0o600);
  writeNew(pubFile, pub, 0o644);
  return { keyFile, pubFile, keyid: keyId(publicKey) };
}

function writeNew(file: string, text: string | Buffer, mode: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', mode);
  } catch (error) {
    throw new InputError(`cannot create ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, '--out');
  }
  try {
    writeSync(fd, typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  } finally {
    closeSync(fd);
  }
}
