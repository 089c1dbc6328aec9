import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * A real, certified OpenID provider (the npm `oidc-provider`) on a loopback port, for the sign-in
 * tests: its own login and consent pages (devInteractions: any password), the device flow, JWT
 * access tokens for Lockstep's audience, refresh tokens for offline_access. People and their groups
 * are the test's. `sign` makes tokens with the provider's own key (or another one) for the refusal
 * tests: expired, for another audience, from another issuer, forged.
 */
export interface TestPerson {
  email: string;
  groups: string[];
  emailVerified?: boolean;
}

export interface TestProvider {
  issuer: string;
  webClient: { id: string; secret: string };
  cliClient: { id: string };
  /** Signs claims with the provider's signing key (its kid), or with a key of the test's that the provider never published. */
  sign(claims: JWTPayload, options?: { forged?: boolean; alg?: string }): Promise<string>;
  close(): Promise<void>;
}

export const WEB_CLIENT_SECRET = 'web-client-secret-a7f3c9e1d2b4';

/**
 * Starts the provider. Its issuer URL must exist before the web client's redirect URI is known (the
 * server under test is configured with the issuer first), so the HTTP server listens first and the
 * provider is attached to it when `redirectUris` gives the URI.
 */
export async function startTestProvider(
  people: Record<string, TestPerson>,
  options: { deviceFlow?: boolean } = {},
): Promise<{
  issuer: string;
  /** Registers the clients (the web client's redirect URI is Lockstep's /auth/callback) and starts answering. */
  attach(redirectUri: string): Promise<TestProvider>;
}> {
  let handler:
    ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (handler === undefined) {
      res.statusCode = 503;
      res.end();
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const attach = async (redirectUri: string): Promise<TestProvider> => {
    const kid = 'test-signing-key';
    const signing = await generateKeyPair('RS256', { extractable: true });
    const forging = await generateKeyPair('RS256', { extractable: true });
    const privateJwk: JWK = { ...(await exportJWK(signing.privateKey)), kid, alg: 'RS256', use: 'sig' };
    const claimsOf = (sub: string): Record<string, unknown> | undefined => {
      const person = Object.hasOwn(people, sub) ? people[sub] : undefined;
      if (person === undefined) return undefined;
      return { sub, email: person.email, email_verified: person.emailVerified ?? true, groups: person.groups };
    };
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'lockstep',
          client_secret: WEB_CLIENT_SECRET,
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
        },
        {
          client_id: 'lockstep-cli',
          token_endpoint_auth_method: 'none',
          application_type: 'native',
          redirect_uris: ['http://127.0.0.1/callback'],
          grant_types: [
            'authorization_code',
            'refresh_token',
            ...(options.deviceFlow === false ? [] : ['urn:ietf:params:oauth:grant-type:device_code']),
          ],
          response_types: ['code'],
        },
      ],
      jwks: { keys: [privateJwk] },
      findAccount: (_ctx: unknown, sub: string) => {
        const claims = claimsOf(sub);
        return claims === undefined ? undefined : { accountId: sub, claims: () => claims };
      },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
      scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      // Claims in the ID token of the code flow too, as Keycloak, Okta and Entra put them there when told.
      conformIdTokenClaims: false,
      // JWT access tokens for Lockstep's audience carry the email and groups, as those providers' mappers add them.
      extraTokenClaims: (_ctx: unknown, token: { accountId?: string; kind?: string }) => {
        if (token.kind !== 'AccessToken' || token.accountId === undefined) return undefined;
        const claims = claimsOf(token.accountId);
        return claims === undefined ? undefined : { email: claims.email, groups: claims.groups };
      },
      features: {
        devInteractions: { enabled: true },
        deviceFlow: { enabled: options.deviceFlow ?? true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:lockstep:api',
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: 'api',
            audience: 'lockstep',
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      pkce: { required: () => true },
      cookies: { keys: ['test-cookie-key-not-a-secret'] },
      ttl: {
        AccessToken: 600,
        IdToken: 600,
        DeviceCode: 600,
        RefreshToken: 86_400,
        Grant: 86_400,
        Session: 86_400,
        Interaction: 600,
      },
    });
    // A refused request is the test's business; the provider's own console lines would only be noise.
    provider.on('server_error', () => undefined);
    handler = provider.callback();
    return {
      issuer,
      webClient: { id: 'lockstep', secret: WEB_CLIENT_SECRET },
      cliClient: { id: 'lockstep-cli' },
      async sign(claims, options = {}) {
        const key = options.forged === true ? forging.privateKey : signing.privateKey;
        return new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'RS256', kid, typ: 'JWT' }).sign(key);
      },
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  };
  return { issuer, attach };
}
