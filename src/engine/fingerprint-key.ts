import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const FINGERPRINT_KEY_FILE = 'fingerprint.key';

/**
 * The key sensitive inputs are fingerprinted with (inputFingerprint), kept beside the state database
 * and never in it, readable by the owner only. Made on first use. Undefined when it can neither be
 * read nor made (a read-only state directory): sensitive inputs are then compared as "may have
 * changed", which asks for more, never less.
 */
export function fingerprintKey(stateDir: string): Uint8Array | undefined {
  const file = path.join(stateDir, FINGERPRINT_KEY_FILE);
  try {
    return readKey(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
  }
  try {
    // 'wx': two processes making it at once keep the first one's key.
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  try {
    return readKey(file);
  } catch {
    return undefined;
  }
}

function readKey(file: string): Uint8Array {
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} is not a fingerprint key`);
  return Buffer.from(text, 'hex');
}
