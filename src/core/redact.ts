/**
 * Keeps the secret values seen during a run and replaces them in anything about to be stored, logged,
 * audited or shown. Values shorter than MIN_SECRET_LENGTH are not searched for (they would blank out
 * ordinary text); such secrets are still never written on purpose.
 */
export const REDACTED = '***';
export const MIN_SECRET_LENGTH = 3;

export class Redactor {
  private readonly secrets = new Set<string>();

  add(value: unknown): void {
    if (typeof value === 'string') {
      if (value.length >= MIN_SECRET_LENGTH) this.secrets.add(value);
    } else if (typeof value === 'number' || typeof value === 'boolean') {
      this.add(String(value));
    } else if (value !== null && typeof value === 'object') {
      for (const v of Object.values(value)) this.add(v);
      this.add(JSON.stringify(value));
    }
  }

  /** Whether `text` holds a secret, or is a value already redacted (a sensitive output read back from the store). */
  covers(text: string): boolean {
    return text.includes(REDACTED) || this.redact(text) !== text;
  }

  get size(): number {
    return this.secrets.size;
  }

  redact(text: string): string {
    if (this.secrets.size === 0) return text;
    let out = text;
    // Longest first, so a secret that contains another is replaced whole.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
    return out;
  }

  /** A deep copy of `value` with every secret replaced in its strings (keys included). */
  redactValue<T>(value: T): T {
    if (this.secrets.size === 0) return value;
    return this.walk(value) as T;
  }

  private walk(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) return value.map((v) => this.walk(v));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.redact(k), this.walk(v)]));
    }
    return value;
  }
}
