import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { InputError } from '../../core/errors.js';

export const SESSION_KEY_FILE = 'session.key';

/**
 * The key browser sessions are encrypted with (session-cookie.ts): 32 random bytes, hex, in a file
 * readable by its owner only, beside a state and never in it. Made on first use ('wx': two servers
 * starting at once keep the first one's key); replicas share sessions by sharing the file (`lockstep
 * serve --session-key`). Deleting it signs everybody out. Throws InputError naming the file when it
 * can be neither read nor made: sign-in cannot work without it.
 */
export function sessionKey(file: string): Uint8Array {
  try {
    return readKey(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw unusable(file, error);
  }
  try {
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw unusable(file, error);
  }
  try {
    return readKey(file);
  } catch (error) {
    throw unusable(file, error);
  }
}

function readKey(file: string): Uint8Array {
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error('not 64 hex digits');
  return Buffer.from(text, 'hex');
}

function unusable(file: string, error: unknown): InputError {
  const why = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : 'unreadable');
  return new InputError(
    `the session key ${file} can be neither read nor made (${why}): sign-in needs it`,
    '--session-key',
    { cause: error },
  );
}
