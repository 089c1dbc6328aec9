import { readFileSync } from 'node:fs';
import { InputError } from '../core/errors.js';

/**
 * Where `${{ secrets.NAME }}` values come from: the process environment first, then an optional
 * secrets file (`NAME=value` lines, `#` comments, optional quotes). Values are never stored or logged;
 * whoever renders a secret adds it to the run's Redactor.
 */
export interface SecretSource {
  get(name: string): string | undefined;
}

export function secretSource(env: NodeJS.ProcessEnv, file?: string): SecretSource {
  const fromFile = file ? readSecretsFile(file) : new Map<string, string>();
  // Own entries only: `secrets.toString` names a secret that is not set, not Object's method.
  return { get: (name) => (Object.hasOwn(env, name) ? env[name] : undefined) ?? fromFile.get(name) };
}

export function readSecretsFile(file: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read the secrets file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, '--secrets-file', { cause: error });
  }
  const values = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      // Never echo the line: it may hold a secret.
      throw new InputError(`${file}:${index + 1}: expected NAME=value`, '--secrets-file');
    }
    let value = match[2] ?? '';
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    values.set(match[1] ?? '', value);
  });
  return values;
}
