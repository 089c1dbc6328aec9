import { parseDuration } from './duration.js';

/**
 * Signing in with an OpenID provider (`server.oidc` in lockstep.yaml): the settings, and how a
 * provider's claims become a person. Pure. The server does the protocol (server/oidc/); this file
 * only says what the settings mean, so the server, the config checks and the tests agree.
 */
export interface OidcConfig {
  /** The provider's issuer URL, exactly as its discovery document names it. */
  issuer: string;
  /** The web client Lockstep is registered as (browser sign-in); also an accepted `aud`. */
  clientId: string;
  /** `${{ secrets.NAME }}`: the web client's secret; absent for a public client (PKCE only). */
  clientSecret?: string;
  /** A public client for `lockstep login` (device flow, loopback redirect); default clientId. */
  cliClientId?: string;
  /** Further accepted `aud` values of bearer tokens (an API audience of the provider's access tokens). */
  audience: string[];
  /** Scopes asked for at sign-in; `openid` is needed. */
  scopes: string[];
  /** The claim that lists a person's groups. */
  groupsClaim: string;
  /** The claim that names a person: the actor the audit log and `access:` lists use. */
  emailClaim: string;
  /** How long a browser session lasts (a duration such as 12h). */
  sessionLifetime: string;
}

export const DEFAULT_OIDC_SCOPES = ['openid', 'email', 'profile'] as const;
export const DEFAULT_SESSION_LIFETIME = '12h';

/** The settings' audiences a bearer token may be for: the web client, the CLI's client, and any configured API audience. */
export function acceptedAudiences(config: OidcConfig): string[] {
  return [...new Set([config.clientId, config.cliClientId ?? config.clientId, ...config.audience])];
}

/** The session lifetime in milliseconds (the schema checked that it parses). */
export function sessionLifetimeMs(config: OidcConfig): number {
  return parseDuration(config.sessionLifetime) ?? 12 * 3_600_000;
}

/** `http://127.0.0.1`, `http://localhost`, `http://[::1]`: where an issuer may do without TLS (tests, a provider on this machine). */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Whether two projects' `server.oidc` mean the same sign-in: one identity provider serves the whole server. */
export function sameOidcConfig(a: OidcConfig, b: OidcConfig): boolean {
  return canonical(a) === canonical(b);
}

function canonical(config: OidcConfig): string {
  const sorted = Object.fromEntries(Object.entries(config).sort(([x], [y]) => (x < y ? -1 : 1)));
  return JSON.stringify(sorted);
}

/** A person the provider vouched for: who (issuer and subject), how people read it (email), and their groups. */
export interface OidcPerson {
  issuer: string;
  subject: string;
  email: string;
  groups: string[];
}

export type ClaimsCheck = { ok: true; person: OidcPerson } | { ok: false; reason: string };

/**
 * A person from a verified token's claims: `sub`, the email claim (a person is named by email in
 * `access:` and gate lists, so a token without one is refused, and so is one whose provider says the
 * email is not verified), and the groups claim (a list of names, or one name; anything else is no
 * group). Reasons never quote a claim's value. Pure.
 */
export function personFromClaims(config: OidcConfig, claims: Readonly<Record<string, unknown>>): ClaimsCheck {
  const subject = claims.sub;
  if (typeof subject !== 'string' || subject === '') return { ok: false, reason: 'the token has no sub claim' };
  const email = claims[config.emailClaim];
  if (typeof email !== 'string' || email.trim() === '')
    return {
      ok: false,
      reason: `the token has no ${config.emailClaim} claim (Lockstep names people by it: ask the provider to include it)`,
    };
  if (claims.email_verified === false)
    return { ok: false, reason: `the provider says the ${config.emailClaim} of this person is not verified` };
  return {
    ok: true,
    person: { issuer: config.issuer, subject, email: email.trim(), groups: groupsOf(claims[config.groupsClaim]) },
  };
}

function groupsOf(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (!Array.isArray(value)) return [];
  return [...new Set(value.filter((g): g is string => typeof g === 'string' && g !== ''))];
}
