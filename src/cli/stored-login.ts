import { InputError } from '../core/errors.js';
import { credentialsFile, readLogins, saveLogin, serverKey } from './credentials.js';

/** Refresh a little before the token expires, so it does not expire on its way to the server. */
const EARLY_MS = 30_000;

/**
 * The bearer token of `lockstep login` for the server at `url`, for commands when LOCKSTEP_TOKEN is
 * unset: read when the first request needs it, refreshed with the refresh token (and stored again)
 * when it has expired. InputError when nobody signed in to that server.
 */
export function storedToken(url: URL, env: NodeJS.ProcessEnv = process.env): () => Promise<string> {
  return async () => {
    const file = credentialsFile(env);
    const key = serverKey(url);
    const login = readLogins(file)[key];
    if (login === undefined)
      throw new InputError(
        `talking to a server needs a token: set LOCKSTEP_TOKEN (lockstep token create makes one), or sign in with lockstep login --server ${key}`,
        'LOCKSTEP_TOKEN',
      );
    if (Date.parse(login.expiresAt) - EARLY_MS > Date.now()) return login.token;
    // Loaded only when a refresh is due: the protocol libraries stay out of every other command's start.
    const { refreshLogin } = await import('./oidc-login.js');
    const fresh = await refreshLogin(login);
    saveLogin(file, key, { ...fresh, name: login.name });
    return fresh.token;
  };
}
