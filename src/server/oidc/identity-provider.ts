import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import * as client from 'openid-client';
import {
  acceptedAudiences,
  isLoopbackUrl,
  personFromClaims,
  type OidcConfig,
  type OidcPerson,
} from '../../core/oidc.js';
import { Unauthenticated, Unavailable } from '../errors.js';

/** Clock difference allowed between this server and the provider when checking `exp`, `nbf` and `iat`. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** Asymmetric algorithms only: a token signed with a shared secret (HS256) is never a person's proof here. */
const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** What `lockstep login` needs to sign in at the provider itself (GET /api/v1/auth/config). */
export interface CliSignIn {
  issuer: string;
  clientId: string;
  scopes: string[];
  /** The provider offers the device authorization grant: print a code, poll; else a loopback redirect. */
  deviceFlow: boolean;
}

/**
 * The server's view of its OpenID provider, through maintained libraries: openid-client for the
 * protocol (discovery, the authorization code flow with PKCE, state and nonce checked), jose for
 * bearer tokens (signature against the provider's JWKS, issuer, audience, expiry). Discovery happens
 * on first use and is kept; a provider that cannot be reached is a 503 (Unavailable), never a 401,
 * so nobody takes an outage for a refused token. Messages never hold a token or the client secret.
 */
export class IdentityProvider {
  private discovered: Promise<{ configuration: client.Configuration; jwks: JWTVerifyGetKey }> | undefined;

  constructor(
    readonly config: OidcConfig,
    private readonly clientSecret: string | undefined,
    private readonly log: (line: string) => void,
  ) {}

  /** The provider's metadata and keys, discovered once (a failed discovery is tried again next time). */
  private discover(): Promise<{ configuration: client.Configuration; jwks: JWTVerifyGetKey }> {
    this.discovered ??= (async () => {
      const issuer = new URL(this.config.issuer);
      // http only on loopback: the config checks refuse it anywhere else.
      const insecure = issuer.protocol === 'http:' && isLoopbackUrl(issuer);
      const auth = this.clientSecret === undefined ? client.None() : client.ClientSecretBasic(this.clientSecret);
      const configuration = await client.discovery(issuer, this.config.clientId, undefined, auth, {
        ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
        timeout: 10,
      });
      const jwksUri = configuration.serverMetadata().jwks_uri;
      if (jwksUri === undefined) throw new Error('its discovery document names no jwks_uri');
      return { configuration, jwks: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 10_000 }) };
    })();
    return this.discovered.catch((error: unknown) => {
      this.discovered = undefined;
      this.log(`oidc: cannot discover the provider ${this.config.issuer}: ${describe(error)}`);
      throw new Unavailable(`the identity provider ${this.config.issuer} cannot be reached; try again later`);
    });
  }

  /**
   * The person a bearer token (the provider's ID token or a JWT access token) stands for: signed by
   * a key of the provider's JWKS with an asymmetric algorithm, from the configured issuer, for one
   * of the accepted audiences, not expired and already valid (with a small clock tolerance), and
   * naming the person (sub and the email claim). Unauthenticated (401) otherwise; Unavailable (503)
   * when the provider's keys cannot be fetched.
   */
  async verifyBearer(token: string, now: Date): Promise<OidcPerson> {
    const { jwks } = await this.discover();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: this.config.issuer,
        audience: acceptedAudiences(this.config),
        algorithms: SIGNING_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSTimeout ||
        (error instanceof Error && !(error instanceof joseErrors.JOSEError))
      ) {
        this.log(`oidc: cannot fetch the provider's keys: ${describe(error)}`);
        throw new Unavailable(
          `the identity provider ${this.config.issuer} cannot be reached to check the token; try again later`,
        );
      }
      throw new Unauthenticated(`the token is not valid: ${refusal(error)}`);
    }
    const checked = personFromClaims(this.config, payload);
    if (!checked.ok) throw new Unauthenticated(checked.reason);
    return checked.person;
  }

  /** Where to send the browser to sign in, with PKCE (S256), state and nonce. */
  async authorizationUrl(checks: {
    redirectUri: string;
    state: string;
    nonce: string;
    verifier: string;
  }): Promise<URL> {
    const { configuration } = await this.discover();
    return client.buildAuthorizationUrl(configuration, {
      redirect_uri: checks.redirectUri,
      scope: this.config.scopes.join(' '),
      response_type: 'code',
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(checks.verifier),
      code_challenge_method: 'S256',
    });
  }

  /**
   * Ends the browser flow: the provider's answer (`callback`: the URL it sent the browser to) is
   * checked against the sign-in's state, the code is exchanged with the PKCE verifier, and the ID
   * token's nonce, issuer, audience and times are checked. The person it names, or Unauthenticated.
   */
  async finishSignIn(callback: URL, checks: { state: string; nonce: string; verifier: string }): Promise<OidcPerson> {
    const { configuration } = await this.discover();
    let claims: Record<string, unknown> | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callback, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (error) {
      if (error instanceof client.AuthorizationResponseError) {
        throw new Unauthenticated(`the identity provider did not sign you in: ${printableCode(error.error)}`);
      }
      if (error instanceof client.ResponseBodyError) {
        this.log(`oidc: the provider refused the code exchange: ${printableCode(error.error)}`);
        throw new Unauthenticated(
          `the identity provider refused the sign-in: ${printableCode(error.error)}; sign in again`,
        );
      }
      if (error instanceof client.ClientError) {
        // A state, nonce or token check failed: someone's answer was not meant for this sign-in.
        this.log(`oidc: a sign-in's answer failed its checks: ${describe(error)}`);
        throw new Unauthenticated('the sign-in could not be completed (its answer failed the checks); sign in again');
      }
      this.log(`oidc: the code exchange failed: ${describe(error)}`);
      throw new Unavailable(`the identity provider ${this.config.issuer} cannot be reached; try again later`);
    }
    if (claims === undefined) throw new Unauthenticated('the identity provider sent no ID token');
    const checked = personFromClaims(this.config, claims);
    if (!checked.ok) throw new Unauthenticated(checked.reason);
    return checked.person;
  }

  /** What `lockstep login` needs: the CLI's public client, and whether the provider offers the device flow. */
  async cliSignIn(): Promise<CliSignIn> {
    const { configuration } = await this.discover();
    const metadata = configuration.serverMetadata();
    // A refresh token keeps the CLI signed in; most providers give one only for offline_access.
    const offline = metadata.scopes_supported?.includes('offline_access') ?? false;
    const scopes = [...new Set([...this.config.scopes, ...(offline ? ['offline_access'] : [])])];
    return {
      issuer: this.config.issuer,
      clientId: this.config.cliClientId ?? this.config.clientId,
      scopes,
      deviceFlow: metadata.device_authorization_endpoint !== undefined,
    };
  }
}

/** Why jose refused a token, in words that quote no part of it. */
function refusal(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'it has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return 'it was issued by another provider';
      case 'aud':
        return 'it is meant for another audience';
      case 'nbf':
        return 'it is not valid yet';
      default:
        return `its ${printableCode(error.claim)} claim is not acceptable`;
    }
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWSSignatureVerificationFailed)
    return "its signature is not the provider's";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'it is signed with an algorithm Lockstep does not accept';
  return 'it is not a signed token of the provider';
}

/** An OAuth error code or claim name as sent, made safe to print (they are short ASCII words). */
function printableCode(value: unknown): string {
  return typeof value === 'string' && /^[\x20-\x7e]{1,80}$/.test(value) ? value : 'an unreadable error';
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
