import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';
import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What a browser holds between requests, sealed (JWE, `dir` + A256GCM) with the server's session key:
 * nothing is kept on the server, so a session outlives a restart and works on every replica that has
 * the key, and the browser can neither read nor change what it holds. Two kinds, each its own
 * audience so one cannot pass for the other: a signed-in person's session, and the few minutes of a
 * sign-in under way (state, nonce and PKCE verifier, until the provider sends the browser back).
 */

/** A signed-in person, as the provider vouched for them at sign-in. */
export interface Session {
  issuer: string;
  subject: string;
  email: string;
  groups: string[];
  /** Bound to this session: state-changing requests sent with the cookie must echo it (X-CSRF-Token). */
  csrf: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** A sign-in between the redirect to the provider and its callback. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  /** Where to send the browser afterwards: a path on this server. */
  returnTo: string;
}

const SESSION_AUDIENCE = 'lockstep:session';
const SIGN_IN_AUDIENCE = 'lockstep:sign-in';
const ISSUER = 'lockstep';
/** How long a sign-in may take at the provider. */
export const SIGN_IN_SECONDS = 600;

export class SessionSealer {
  constructor(private readonly key: Uint8Array) {}

  async sealSession(session: Omit<Session, 'csrf'> & { csrf?: string }): Promise<{ cookie: string; session: Session }> {
    const full: Session = { ...session, csrf: session.csrf ?? randomBytes(32).toString('base64url') };
    const cookie = await this.seal(
      { idpIssuer: full.issuer, idpSubject: full.subject, email: full.email, groups: full.groups, csrf: full.csrf },
      SESSION_AUDIENCE,
      full.expiresAt,
    );
    return { cookie, session: full };
  }

  /** The session the cookie holds, or undefined when it is not one of ours, damaged or expired. */
  async openSession(cookie: string, now: Date): Promise<Session | undefined> {
    const payload = await this.open(cookie, SESSION_AUDIENCE, now);
    if (payload === undefined) return undefined;
    const { idpIssuer, idpSubject, email, groups, csrf, exp } = payload;
    if (
      typeof idpIssuer !== 'string' ||
      typeof idpSubject !== 'string' ||
      typeof email !== 'string' ||
      typeof csrf !== 'string'
    )
      return undefined;
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string') || typeof exp !== 'number')
      return undefined;
    return { issuer: idpIssuer, subject: idpSubject, email, groups, csrf, expiresAt: exp };
  }

  async sealSignIn(pending: PendingSignIn, now: Date): Promise<string> {
    return this.seal({ ...pending }, SIGN_IN_AUDIENCE, Math.floor(now.getTime() / 1000) + SIGN_IN_SECONDS);
  }

  async openSignIn(cookie: string, now: Date): Promise<PendingSignIn | undefined> {
    const p = await this.open(cookie, SIGN_IN_AUDIENCE, now);
    if (p === undefined) return undefined;
    const fields = [p.state, p.nonce, p.verifier, p.redirectUri, p.returnTo];
    if (!fields.every((f) => typeof f === 'string')) return undefined;
    return {
      state: p.state as string,
      nonce: p.nonce as string,
      verifier: p.verifier as string,
      redirectUri: p.redirectUri as string,
      returnTo: p.returnTo as string,
    };
  }

  private async seal(claims: JWTPayload, audience: string, expiresAt: number): Promise<string> {
    return new EncryptJWT(claims)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .encrypt(this.key);
  }

  private async open(text: string, audience: string, now: Date): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtDecrypt(text, this.key, {
        issuer: ISSUER,
        audience,
        currentDate: now,
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return payload;
    } catch {
      // Not ours, damaged, expired, or sealed with a key since replaced: no session.
      return undefined;
    }
  }
}

/** Compares a CSRF token sent with a request with the session's, in constant time. */
export function sameCsrf(sent: string | undefined, expected: string): boolean {
  if (sent === undefined) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
