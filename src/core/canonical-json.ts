import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted by code unit, no insignificant white space, `undefined` members
 * dropped (as JSON.stringify does). Two equal values always give the same text, which is what makes
 * release ids and audit hashes reproducible. Pure.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new TypeError(`canonical JSON cannot hold ${String(value)}`);
    }
    return JSON.stringify(value) ?? 'null';
  }
  // Loops that append, rather than map and join: digests of every component of a large config are
  // computed on each plan.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (i > 0) out += ',';
      out += item === undefined ? 'null' : canonicalJson(item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(record).sort()) {
    const item = record[k];
    if (item === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(k)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/** Lower-case hex SHA-256 of a string (UTF-8). node:crypto hashing is deterministic, so core may use it. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
