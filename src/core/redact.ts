/**
 * Keeps the secret values seen during a run and replaces them in anything about to be stored, logged,
 * audited or shown. Values shorter than MIN_SECRET_LENGTH are not searched for (they would blank out
 * ordinary text); such secrets are still never written on purpose.
 *
 * A secret is also searched for in the forms it is printed in without meaning to hide it: escaped inside
 * a JSON string (a script printing `{"password": "..."}`), inside single quotes for a POSIX shell (how
 * a plan shows a command's arguments), and, for a value of several lines (a key, a certificate), line by
 * line, because a log holds one line at a time.
 */
export const REDACTED = '***';
export const MIN_SECRET_LENGTH = 3;
/**
 * Lines of a multi-line secret shorter than this are not searched for on their own: a key's `-----`
 * or a closing brace would blank out ordinary text, and a few characters of a key tell nothing.
 */
export const MIN_SECRET_LINE_LENGTH = 6;

export class Redactor {
  private readonly secrets = new Set<string>();

  add(value: unknown): void {
    if (typeof value === 'string') {
      if (value.length < MIN_SECRET_LENGTH) return;
      for (const form of derivedForms(value)) this.secrets.add(form);
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

/** The value itself, its JSON-escaped form, and each long enough line (trimmed) of a value of several lines. */
function derivedForms(value: string): string[] {
  const forms = [value, jsonEscaped(value), value.replaceAll("'", `'\\''`)];
  if (/[\r\n]/.test(value)) {
    for (const line of value.split(/\r?\n|\r/)) {
      const trimmed = line.trim();
      if (trimmed.length >= MIN_SECRET_LINE_LENGTH) forms.push(trimmed, jsonEscaped(trimmed));
    }
  }
  return forms;
}

/** How the value reads inside a JSON string: `a"b` as `a\\"b`. */
function jsonEscaped(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}
