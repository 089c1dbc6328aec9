import { useState, type FormEvent } from 'react';
import { ApiError, api, storedToken } from '../api/client.js';
import type { AuthConfig } from '../api/types.js';
import { useAsync } from './use-async.js';

/**
 * Shown to a visitor with no valid credentials: sign in with the identity provider (the server's
 * /auth/login, which comes back here with a session cookie), or paste an API token once (kept in this
 * browser, for local use).
 */
export function SignInPage({ onSignedIn, problem }: { onSignedIn: () => void; problem?: string }) {
  const [config] = useAsync<AuthConfig>(() => api.authConfig(), []);
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(problem);
  const [busy, setBusy] = useState(false);
  const returnTo = `${location.pathname}${location.search}`;

  const useToken = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const text = token.trim();
    if (text === '') return setError('Paste an API token (lockstep token create prints one).');
    setBusy(true);
    storedToken.set(text);
    try {
      await api.session();
      onSignedIn();
    } catch (e) {
      storedToken.clear();
      setError(e instanceof ApiError && e.status === 401 ? 'The server does not accept this token.' : String(e));
    } finally {
      setBusy(false);
    }
  };

  const oidc = config.state === 'ready' ? config.value.oidc : null;
  return (
    <main className="sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in to Lockstep</h1>
      {error !== undefined && (
        <p role="alert" className="notice notice-error">
          {error}
        </p>
      )}
      {config.state === 'loading' && <p>Asking the server how to sign in…</p>}
      {oidc !== null && (
        <section aria-labelledby="oidc-title" className="panel">
          <h2 id="oidc-title">With your company account</h2>
          <p>
            Signs you in at <span className="mono">{oidc.issuer}</span> and brings you back here.
          </p>
          <a className="button button-primary" href={`/auth/login?returnTo=${encodeURIComponent(returnTo)}`}>
            Sign in with your identity provider
          </a>
        </section>
      )}
      {config.state === 'ready' && oidc === null && (
        <p>This server has no identity provider set up (server.oidc): sign in with an API token.</p>
      )}
      <section aria-labelledby="token-title" className="panel">
        <h2 id="token-title">With an API token</h2>
        <p>
          For local use: paste a token from <code>lockstep token create</code>. It is kept in this browser until you
          sign out.
        </p>
        <form onSubmit={(e) => void useToken(e)}>
          <label htmlFor="api-token">API token</label>
          <input
            id="api-token"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={token}
            onChange={(e) => setToken(e.target.value)}
          />
          <button type="submit" className="button" disabled={busy}>
            Use this token
          </button>
        </form>
      </section>
    </main>
  );
}
