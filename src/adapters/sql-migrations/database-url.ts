import { holdsUnknown } from '../../core/plan.js';
import path from 'node:path';

/**
 * Where the migrations go, parsed from `url`. Every variant carries `display`: what an approver needs
 * to know of the target (database, host, port, scheme, user) without the password or query
 * parameters, the only form of it that may appear in a log, an error or a plan. It is deliberately
 * not a URL: a URL kept in a secret is redacted wherever its full text appears, so a display that
 * could equal it (a URL without a password) would show as `***`.
 */
export type DatabaseTarget =
  | { readonly kind: 'postgres'; readonly connectionString: string; readonly display: string }
  | {
      readonly kind: 'mysql';
      readonly host: string;
      readonly port: number;
      readonly user: string;
      readonly password: string | undefined;
      readonly database: string;
      readonly ssl: boolean;
      readonly display: string;
    }
  | { readonly kind: 'sqlite'; readonly file: string; readonly display: string };

const POSTGRES_SCHEMES = ['postgres:', 'postgresql:'];
const MYSQL_SCHEMES = ['mysql:', 'mariadb:'];
const SQLITE_SCHEMES = ['sqlite:', 'sqlite3:'];
const MYSQL_PARAMS = ['ssl'];

export const URL_FORMS =
  'postgres://USER:PASSWORD@HOST:5432/DATABASE, mysql://USER:PASSWORD@HOST:3306/DATABASE (MySQL and MariaDB) or sqlite:PATH';

/**
 * What is wrong with `url`, or undefined when it is usable. The answer never quotes the URL: it may
 * hold a password.
 */
export function urlProblem(url: string): string | undefined {
  // While planning, the engine stands "(known after X applies)" in for an output of a component not
  // applied yet; the URL is then checked at run time. Saying so lets the planner tell it from a real
  // mistake.
  if (holdsUnknown(url)) return 'the URL is known after apply';
  const scheme = schemeOf(url);
  if (scheme === undefined || ![...POSTGRES_SCHEMES, ...MYSQL_SCHEMES, ...SQLITE_SCHEMES].includes(scheme)) {
    return `expected a database URL: ${URL_FORMS}`;
  }
  if (SQLITE_SCHEMES.includes(scheme)) {
    return sqlitePath(url) === ''
      ? 'expected sqlite:PATH, such as sqlite:db/dev.db (relative to the project directory)'
      : undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `not a valid URL (check that special characters in the user name or password are percent-encoded, such as %40 for @); expected ${URL_FORMS}`;
  }
  if (MYSQL_SCHEMES.includes(scheme)) {
    if (parsed.hostname === '') return 'a MySQL URL needs a host: mysql://USER:PASSWORD@HOST:3306/DATABASE';
    if (databaseOf(parsed) === '') return 'a MySQL URL needs a database name: mysql://USER:PASSWORD@HOST:3306/DATABASE';
    const unknown = [...parsed.searchParams.keys()].filter((k) => !MYSQL_PARAMS.includes(k));
    if (unknown.length > 0)
      return `unknown parameter ${unknown.join(', ')} in the MySQL URL (supported: ${MYSQL_PARAMS.join(', ')})`;
    const ssl = parsed.searchParams.get('ssl');
    if (ssl !== null && ssl !== 'true' && ssl !== 'false') return 'ssl in a MySQL URL is true or false';
  }
  return undefined;
}

/**
 * How a URL holding the stand-in of a value known only after its producer applies is shown: such a
 * URL cannot be parsed, so its query (where passwords may go) is dropped and the password of a
 * `user:password@` masked. `database postgres://app:***@(known after infra applies):5432/shop`.
 */
export function unknownUrlDisplay(url: string): string {
  const withoutQuery = url.split('?')[0] ?? '';
  return `database ${withoutQuery.replace(/^([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^@]*@/i, '$1:***@')}`;
}

/** The target `url` names; `url` must have passed `urlProblem`. SQLite paths are relative to `projectDir`. */
export function parseDatabaseUrl(url: string, projectDir: string): DatabaseTarget {
  const problem = urlProblem(url);
  if (problem !== undefined) throw new Error(problem);
  const scheme = schemeOf(url) ?? '';
  if (SQLITE_SCHEMES.includes(scheme)) {
    const file = sqlitePath(url);
    return { kind: 'sqlite', file: path.resolve(projectDir, file), display: `sqlite:${file}` };
  }
  const parsed = new URL(url);
  if (POSTGRES_SCHEMES.includes(scheme)) {
    return { kind: 'postgres', connectionString: url, display: displayTarget(parsed, 5432) };
  }
  return {
    kind: 'mysql',
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 3306 : Number(parsed.port),
    user: decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    database: databaseOf(parsed),
    ssl: parsed.searchParams.get('ssl') === 'true',
    display: displayTarget(parsed, 3306),
  };
}

/**
 * A function that removes the credentials of `url` from any text: the whole URL becomes its display
 * form, its password (as written and decoded) becomes `***`, and so does the password of any other
 * `scheme://user:password@` in the text. Database drivers put connection strings in their errors;
 * everything the adapter prints or throws passes through this.
 */
export function credentialScrubber(url: string): (text: string) => string {
  const secrets = new Set<string>();
  let display: string | undefined;
  try {
    const parsed = new URL(url);
    display = SQLITE_SCHEMES.includes(parsed.protocol)
      ? undefined
      : displayTarget(parsed, POSTGRES_SCHEMES.includes(parsed.protocol) ? 5432 : 3306);
    addSecret(secrets, parsed.password);
    for (const key of ['password', 'sslpassword', 'sslkey']) {
      for (const value of parsed.searchParams.getAll(key)) addSecret(secrets, value);
    }
    // The raw query text too: searchParams decodes it.
    for (const m of url.matchAll(/[?&](?:password|sslpassword|sslkey)=([^&#]*)/gi)) addSecret(secrets, m[1] ?? '');
  } catch {
    // Not a URL: only the generic user:password@ pattern applies.
  }
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return (text: string): string => {
    let out = display !== undefined && url.length > 0 ? text.split(url).join(display) : text;
    for (const secret of ordered) out = out.split(secret).join('***');
    return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]+@/gi, '$1:***@');
  };
}

/** Short passwords are not searched for (they would blank out ordinary words); the URL pattern still covers them. */
function addSecret(secrets: Set<string>, value: string): void {
  if (value.length < 3) return;
  secrets.add(value);
  try {
    secrets.add(decodeURIComponent(value));
  } catch {
    // Not valid percent-encoding: the raw form is enough.
  }
  secrets.add(encodeURIComponent(value));
}

function schemeOf(url: string): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url.trim());
  return match ? `${(match[1] ?? '').toLowerCase()}:` : undefined;
}

/** `sqlite:db/dev.db` → `db/dev.db`; `sqlite:///srv/app.db` → `/srv/app.db`. */
function sqlitePath(url: string): string {
  const rest = url.trim().replace(/^[a-z0-9]+:/i, '');
  return rest.startsWith('//') ? rest.slice(2) : rest;
}

function databaseOf(parsed: URL): string {
  return decodeURIComponent(parsed.pathname.replace(/^\//, ''));
}

/**
 * `database shop at db.internal:5432 (postgres, user app)`; a PostgreSQL socket directory (`?host=`,
 * which the driver prefers to the URL's host) stands in for the host. Never the password, nor any
 * other query parameter.
 */
function displayTarget(parsed: URL, defaultPort: number): string {
  const database = databaseOf(parsed);
  const socket = parsed.searchParams.get('host');
  const host = socket ?? `${parsed.hostname || 'localhost'}:${parsed.port === '' ? defaultPort : parsed.port}`;
  const user = parsed.username === '' ? '' : `, user ${safeDecode(parsed.username)}`;
  return `database ${database === '' ? '(default)' : database} at ${host} (${parsed.protocol.replace(/:$/, '')}${user})`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
