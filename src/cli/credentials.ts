import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../core/errors.js';

/**
 * Where `lockstep login` keeps what the identity provider gave, per server: the user's config
 * directory ($XDG_CONFIG_HOME/lockstep, else ~/.config/lockstep), the directory 0700, the file 0600,
 * written whole and renamed into place so a crash never leaves half a file. Only this user can read
 * it; nothing else of Lockstep writes tokens anywhere.
 */
export interface StoredLogin {
  /** The identity provider's issuer and the client the CLI signed in as (to refresh). */
  issuer: string;
  clientId: string;
  /** What is sent as the bearer token: the ID token (or the access token when the provider gives no new ID token). */
  token: string;
  /** When `token` expires (ISO 8601). */
  expiresAt: string;
  refreshToken?: string;
  /** Whom the server said the login is (for `lockstep login` and messages). */
  name: string;
}

interface CredentialsFile {
  version: 1;
  servers: Record<string, StoredLogin>;
}

export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'lockstep', 'credentials.json');
}

/** How a server is named in the file: its URL without query, fragment or trailing slash. */
export function serverKey(url: URL): string {
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export function readLogins(file: string): Record<string, StoredLogin> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new InputError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, 'credentials');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never quote it: it holds tokens.
    throw new InputError(`${file} is not JSON: remove it and run lockstep login again`, 'credentials');
  }
  const servers = (parsed as Partial<CredentialsFile> | null)?.servers;
  if (typeof servers !== 'object' || servers === null) return {};
  const out: Record<string, StoredLogin> = Object.create(null) as Record<string, StoredLogin>;
  for (const [key, login] of Object.entries(servers as Record<string, unknown>)) {
    if (isLogin(login)) out[key] = login;
  }
  return out;
}

/** Replaces the file's logins; the directory is made 0700 and the file 0600 (also when they existed with wider modes). */
export function writeLogins(file: string, servers: Record<string, StoredLogin>): void {
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const temporary = `${file}.${process.pid}.tmp`;
  const body: CredentialsFile = { version: 1, servers: { ...servers } };
  writeFileSync(temporary, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

export function saveLogin(file: string, server: string, login: StoredLogin): void {
  writeLogins(file, { ...readLogins(file), [server]: login });
}

/** Forgets the login for `server`; whether there was one. */
export function forgetLogin(file: string, server: string): boolean {
  const logins = readLogins(file);
  if (!Object.hasOwn(logins, server)) return false;
  delete logins[server];
  writeLogins(file, logins);
  return true;
}

function isLogin(value: unknown): value is StoredLogin {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.issuer === 'string' &&
    typeof v.clientId === 'string' &&
    typeof v.token === 'string' &&
    typeof v.expiresAt === 'string' &&
    typeof v.name === 'string' &&
    (v.refreshToken === undefined || typeof v.refreshToken === 'string')
  );
}
