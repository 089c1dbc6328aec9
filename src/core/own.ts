/**
 * Lookups by a name someone typed (an environment, a component, a --set key, a secret, a label).
 * `record[name]` would find `constructor`, `toString` or `__proto__` on Object.prototype for a name
 * that is not there; these look at the record's own entries only. Pure.
 */

/** The record's own entry for `key`, or undefined. */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Whether the record has an own entry for `key`. */
export function hasOwn(record: object, key: string): boolean {
  return Object.hasOwn(record, key);
}

/**
 * A record without a prototype, holding `entries`: every later `record[name]` and `name in record`
 * sees only these entries, and assigning `__proto__` stores an entry instead of a prototype.
 */
export function ownRecord<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const record = Object.create(null) as Record<string, T>;
  for (const [k, v] of entries) record[k] = v;
  return record;
}
