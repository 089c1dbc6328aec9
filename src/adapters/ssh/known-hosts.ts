import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * OpenSSH known_hosts files, for pinning host keys. Pure.
 *
 * A line is `[@marker] patterns keytype base64-key [comment]`. Patterns are comma-separated host
 * names or addresses, with `*` and `?` wildcards and `!` negation; a host on a port other than 22 is
 * written `[host]:port`; a hashed entry (`HashKnownHosts yes`) is `|1|base64-salt|base64-hmac-sha1`.
 * `@revoked` keys are refused; `@cert-authority` lines are skipped (certificates are not supported).
 */
export interface KnownHostEntry {
  readonly line: number;
  readonly marker: 'revoked' | 'cert-authority' | undefined;
  readonly patterns: readonly string[];
  readonly keyType: string;
  readonly key: Buffer;
}

export interface KnownHosts {
  readonly entries: readonly KnownHostEntry[];
  /** Lines that could not be read, as `line N: why`. They never match anything. */
  readonly problems: readonly string[];
}

export function parseKnownHosts(text: string): KnownHosts {
  const entries: KnownHostEntry[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const word = fields.shift();
      if (word === '@revoked') marker = 'revoked';
      else if (word === '@cert-authority') marker = 'cert-authority';
      else {
        problems.push(`line ${index + 1}: unknown marker ${word}`);
        return;
      }
    }
    const [patterns, keyType, base64] = fields;
    if (patterns === undefined || keyType === undefined || base64 === undefined) {
      problems.push(`line ${index + 1}: expected "host key-type base64-key"`);
      return;
    }
    const key = Buffer.from(base64, 'base64');
    if (key.length === 0 || keyTypeOf(key) !== keyType) {
      problems.push(`line ${index + 1}: the key is not a valid ${keyType} key`);
      return;
    }
    entries.push({ line: index + 1, marker, patterns: patterns.split(','), keyType, key });
  });
  return { entries, problems };
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` on any other. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether one entry's patterns match the name (a negated match excludes the entry). */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  const lower = name.toLowerCase();
  let matched = false;
  for (const pattern of entry.patterns) {
    if (pattern.startsWith('|1|')) {
      if (hashedMatches(pattern, lower)) matched = true;
      continue;
    }
    const negated = pattern.startsWith('!');
    const body = (negated ? pattern.slice(1) : pattern).toLowerCase();
    if (!globMatches(body, lower)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function globMatches(pattern: string, name: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(name);
}

/** What checking a presented host key against the file found. */
export type HostKeyCheck =
  | { readonly kind: 'trusted' }
  | { readonly kind: 'unknown'; readonly seen: SeenKey }
  | { readonly kind: 'mismatch'; readonly seen: SeenKey; readonly expected: readonly SeenKey[] }
  | { readonly kind: 'revoked'; readonly seen: SeenKey; readonly line: number };

export interface SeenKey {
  readonly type: string;
  /** OpenSSH's form: `SHA256:` and the unpadded base64 of the key blob's SHA-256. */
  readonly fingerprint: string;
}

export function checkHostKey(knownHosts: KnownHosts, name: string, key: Buffer): HostKeyCheck {
  const seen: SeenKey = { type: keyTypeOf(key) ?? 'unknown', fingerprint: fingerprint(key) };
  const matching = knownHosts.entries.filter((e) => entryMatches(e, name));
  const revoked = knownHosts.entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { kind: 'revoked', seen, line: revoked.line };
  const pinned = matching.filter((e) => e.marker === undefined);
  if (pinned.some((e) => e.key.equals(key))) return { kind: 'trusted' };
  if (pinned.length === 0) return { kind: 'unknown', seen };
  return { kind: 'mismatch', seen, expected: pinned.map((e) => ({ type: e.keyType, fingerprint: fingerprint(e.key) })) };
}

/** The key types pinned for a name, in file order: offered first, so the server shows a pinned key. */
export function pinnedKeyTypes(knownHosts: KnownHosts, name: string): string[] {
  const types = knownHosts.entries.filter((e) => e.marker === undefined && entryMatches(e, name)).map((e) => e.keyType);
  return [...new Set(types)];
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The type named at the start of an SSH public key blob (a uint32 length, then the name). */
export function keyTypeOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return undefined;
  return key.subarray(4, 4 + length).toString('latin1');
}
