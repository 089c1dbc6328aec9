import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * Where a repository lives and how to authenticate, with the secret kept out of every URL we pass
 * on: an https token (from the URL's user:token@ or from `auth`) travels to git as an HTTP header in
 * the environment (GIT_CONFIG_*), never on a command line, in a config file or in a message.
 */
export interface GitRemote {
  /** What git is given: the URL without credentials, or an absolute path. */
  readonly url: string;
  /** How messages name the repository (no credentials). */
  readonly display: string;
  /** Extra environment for every git command that talks to the remote. */
  readonly env: Readonly<Record<string, string>>;
  /** Stable and credential-free: names the clone cache. */
  readonly cacheKey: string;
  /** For the forge API: `owner/name` taken from the URL's path, when it has one. */
  readonly ownerAndName: string | undefined;
}

export interface Credentials {
  username: string;
  token: string;
}

const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)/;

/**
 * Reads `repo` as written in the spec: an http(s), ssh, git or file URL, scp-like `git@host:org/repo`,
 * or a path (relative paths are relative to the project directory).
 */
export function parseRemote(repo: string, projectDir: string, auth: Credentials | undefined): GitRemote {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) {
    const parsed = new URL(repo);
    let credentials = auth;
    if (parsed.username !== '' || parsed.password !== '') {
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
        credentials ??= {
          username: decodeURIComponent(parsed.username) || 'x-access-token',
          token: decodeURIComponent(parsed.password),
        };
        if (credentials.token === '') credentials = { username: 'x-access-token', token: decodeURIComponent(parsed.username) };
        parsed.username = '';
        parsed.password = '';
      } else {
        // ssh://git@host/…: the user is part of the address, not a secret; a password is dropped.
        parsed.password = '';
      }
    }
    const url = parsed.href;
    const display = stripCredentials(url);
    const env = credentials && /^https?:$/.test(parsed.protocol) ? authEnv(parsed, credentials) : {};
    return { url, display, env, cacheKey: url, ownerAndName: ownerAndName(parsed.pathname) };
  }
  if (SCP_LIKE.test(repo)) {
    return { url: repo, display: repo, env: {}, cacheKey: repo, ownerAndName: ownerAndName(repo.slice(repo.indexOf(':') + 1)) };
  }
  const absolute = path.resolve(projectDir, repo);
  return { url: absolute, display: repo, env: {}, cacheKey: absolute, ownerAndName: undefined };
}

/**
 * The header goes in through git's environment config (git ≥ 2.31), scoped to the repository's own
 * origin so that a redirect elsewhere does not carry it.
 */
function authEnv(url: URL, credentials: Credentials): Record<string, string> {
  const header = `Authorization: Basic ${Buffer.from(`${credentials.username}:${credentials.token}`).toString('base64')}`;
  const count = Number(process.env.GIT_CONFIG_COUNT ?? '0');
  const index = Number.isInteger(count) && count > 0 ? count : 0;
  return {
    GIT_CONFIG_COUNT: String(index + 1),
    [`GIT_CONFIG_KEY_${index}`]: `http.${url.origin}/.extraHeader`,
    [`GIT_CONFIG_VALUE_${index}`]: header,
  };
}

function ownerAndName(pathname: string): string | undefined {
  const parts = pathname.replace(/\.git\/?$/, '').split('/').filter((p) => p !== '');
  if (parts.length < 2) return undefined;
  return parts.slice(-2).join('/');
}

/** Removes `user:password@` from every URL in `text`: git's own messages repeat the URL. */
export function stripCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1');
}

/** A directory name for the cache: readable, and unique per repository. */
export function cacheName(remote: GitRemote): string {
  const hash = createHash('sha256').update(remote.cacheKey).digest('hex').slice(0, 16);
  const base = path.basename(remote.cacheKey.replace(/\/+$/, '')).replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]/g, '-');
  return `${base.slice(0, 40) || 'repo'}-${hash}`;
}
