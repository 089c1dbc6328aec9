import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import * as client from 'openid-client';
import type { Identity } from '../../core/access.js';
import { InputError } from '../../core/errors.js';
import { sessionLifetimeMs, type OidcConfig, type OidcPerson } from '../../core/oidc.js';
import { Unauthenticated } from '../errors.js';
import { IdentityProvider, type CliSignIn } from './identity-provider.js';
import { SessionSealer, SIGN_IN_SECONDS, type Session } from './session-cookie.js';

export type { Session } from './session-cookie.js';

/** The session cookie; `__Host-` when Secure, so no subdomain can set or scope it. */
const SESSION_COOKIE = 'lockstep_session';
const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
/** The sign-in under way, only sent back to /auth. */
const SIGN_IN_COOKIE = 'lockstep_sign_in';
const SIGN_IN_PATH = '/auth';

export interface OidcSignInOptions {
  config: OidcConfig;
  clientSecret: string | undefined;
  /** session-key.ts */
  sessionKey: Uint8Array;
  /**
   * The server's public URL, when it is served behind a proxy: the redirect URI is built on it, and
   * an https one makes cookies Secure. Default: the URL each request came to.
   */
  publicUrl?: string;
  log: (line: string) => void;
  now?: () => Date;
}

/**
 * Signing people in for the whole server (docs/oidc.md): the browser's authorization code flow with
 * PKCE, ending in a sealed session cookie (HttpOnly, SameSite=Lax, Secure over TLS, bounded
 * lifetime) that carries a CSRF token; and the provider's own tokens taken as bearer tokens. The
 * guard asks it who a request is (guard.ts); the auth routes drive the flow (routes/auth.ts).
 */
export class OidcSignIn {
  readonly provider: IdentityProvider;
  private readonly sealer: SessionSealer;
  private readonly now: () => Date;

  constructor(private readonly options: OidcSignInOptions) {
    this.provider = new IdentityProvider(options.config, options.clientSecret, options.log);
    this.sealer = new SessionSealer(options.sessionKey);
    this.now = options.now ?? (() => new Date());
  }

  get config(): OidcConfig {
    return this.options.config;
  }

  /** A person as the API's identity: named by email, proven by issuer and subject, with the provider's groups. */
  identityOf(person: Pick<OidcPerson, 'issuer' | 'subject' | 'email' | 'groups'>): Identity {
    return {
      name: person.email,
      via: { kind: 'oidc', issuer: person.issuer, subject: person.subject },
      groups: person.groups,
    };
  }

  /** The person a provider token stands for; throws Unauthenticated (401) or Unavailable (503). */
  async bearer(token: string): Promise<Identity> {
    return this.identityOf(await this.provider.verifyBearer(token, this.now()));
  }

  /** The request's session, if its cookie holds a valid one of this provider. */
  async session(c: Context): Promise<Session | undefined> {
    const sealed = getCookie(c, SECURE_SESSION_COOKIE) ?? getCookie(c, SESSION_COOKIE);
    if (sealed === undefined) return undefined;
    const session = await this.sealer.openSession(sealed, this.now());
    // A session from a provider since replaced in the config does not count.
    return session?.issuer === this.options.config.issuer ? session : undefined;
  }

  /** Starts the browser flow: remembers state, nonce and verifier in a sealed cookie, and redirects to the provider. */
  async beginSignIn(c: Context, returnTo: string | undefined): Promise<Response> {
    const pending = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier: client.randomPKCECodeVerifier(),
      redirectUri: `${this.origin(c)}/auth/callback`,
      returnTo: localPath(returnTo),
    };
    const url = await this.provider.authorizationUrl(pending);
    setCookie(c, SIGN_IN_COOKIE, await this.sealer.sealSignIn(pending, this.now()), {
      ...this.cookieFlags(c),
      path: SIGN_IN_PATH,
      maxAge: SIGN_IN_SECONDS,
    });
    return c.redirect(url.href, 302);
  }

  /** Ends the browser flow at the callback: checks the provider's answer, sets the session cookie, sends the browser on. */
  async finishSignIn(c: Context): Promise<Response> {
    const sealed = getCookie(c, SIGN_IN_COOKIE);
    const pending = sealed === undefined ? undefined : await this.sealer.openSignIn(sealed, this.now());
    deleteCookie(c, SIGN_IN_COOKIE, { ...this.cookieFlags(c), path: SIGN_IN_PATH });
    if (pending === undefined)
      throw new InputError(
        'no sign-in is under way in this browser (it took too long, or began elsewhere): start again at /auth/login',
        'header.cookie',
      );
    // The URL the provider sent the browser to, on the redirect URI the sign-in registered.
    const callback = new URL(pending.redirectUri);
    callback.search = new URL(c.req.url).search;
    const person = await this.provider.finishSignIn(callback, pending);
    const expiresAt = Math.floor((this.now().getTime() + sessionLifetimeMs(this.options.config)) / 1000);
    const { cookie } = await this.sealer.sealSession({ ...person, expiresAt });
    // A browser refuses a cookie above 4 KB: a person in very many groups gets a clear refusal instead.
    if (cookie.length > 3800)
      throw new Unauthenticated(
        `the provider lists too many groups for ${person.email} to fit in a session cookie: ask it to send only the groups Lockstep needs`,
      );
    setCookie(c, this.sessionCookieName(c), cookie, {
      ...this.cookieFlags(c),
      path: '/',
      maxAge: expiresAt - Math.floor(this.now().getTime() / 1000),
    });
    this.options.log(`oidc: ${person.email} signed in (issuer ${person.issuer}, subject ${person.subject})`);
    return c.redirect(pending.returnTo, 302);
  }

  /** Forgets the browser's session (the cookie; nothing is kept on the server). */
  signOut(c: Context): void {
    deleteCookie(c, SESSION_COOKIE, { ...this.cookieFlags(c), secure: false, path: '/' });
    if (this.secure(c)) deleteCookie(c, SECURE_SESSION_COOKIE, { ...this.cookieFlags(c), path: '/' });
  }

  cliSignIn(): Promise<CliSignIn> {
    return this.provider.cliSignIn();
  }

  /** Where people reach this server: the public URL (its path kept, no trailing slash), else the request's origin. */
  private origin(c: Context): string {
    return this.options.publicUrl?.replace(/\/+$/, '') ?? new URL(c.req.url).origin;
  }

  /** Over TLS: the public URL is https, the request came over TLS, or the proxy in front says it did. */
  private secure(c: Context): boolean {
    return (
      new URL(this.origin(c)).protocol === 'https:' ||
      c.req.header('X-Forwarded-Proto')?.split(',')[0]?.trim() === 'https'
    );
  }

  private sessionCookieName(c: Context): string {
    return this.secure(c) ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  }

  private cookieFlags(c: Context): { httpOnly: true; sameSite: 'Lax'; secure: boolean } {
    // Lax: the provider's redirect back is a top-level GET, which carries it; a cross-site POST does not.
    return { httpOnly: true, sameSite: 'Lax', secure: this.secure(c) };
  }
}

/** Where to go after signing in: a path on this server, never another site (`//evil.example`, `/\evil`). */
function localPath(returnTo: string | undefined): string {
  if (returnTo === undefined || !returnTo.startsWith('/') || returnTo.startsWith('//') || returnTo.startsWith('/\\'))
    return '/';
  return /^[\x21-\x7e]*$/.test(returnTo) ? returnTo : '/';
}
