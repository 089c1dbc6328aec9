import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { InputError, NotAllowedError } from '../core/errors.js';
import { fetchFailure } from '../core/fetch-failure.js';
import { isLoopbackUrl } from '../core/oidc.js';
import type { StoredLogin } from './credentials.js';

/** What the server says about signing in (GET /api/v1/auth/config). */
export interface ServerSignIn {
  issuer: string;
  clientId: string;
  scopes: string[];
  deviceFlow: boolean;
}

/** How `lockstep login` talks to the person: where to go, which code to enter. */
export type Say = (line: string) => void;

/** Tokens from the provider, before the server has said whom they name. */
export type ProviderLogin = Omit<StoredLogin, 'name'>;

/** How long the loopback redirect waits for the browser to come back. */
const LOOPBACK_WAIT_MS = 5 * 60_000;

async function discover(signIn: Pick<ServerSignIn, 'issuer' | 'clientId'>): Promise<client.Configuration> {
  const issuer = new URL(signIn.issuer);
  const insecure = issuer.protocol === 'http:' && isLoopbackUrl(issuer);
  try {
    return await client.discovery(
      issuer,
      signIn.clientId,
      undefined,
      client.None(),
      insecure ? { execute: [client.allowInsecureRequests] } : undefined,
    );
  } catch (error) {
    throw new Error(`cannot reach the identity provider ${signIn.issuer}: ${fetchFailure(error)}`, { cause: error });
  }
}

/**
 * Signs in at the provider as the CLI's public client: the device authorization grant where the
 * provider offers it (print the address and code, poll until the person confirmed), else the
 * authorization code flow with PKCE through a redirect to a port on 127.0.0.1 that only this
 * process listens on (RFC 8252). `loopback` forces the latter.
 */
export async function providerLogin(
  signIn: ServerSignIn,
  say: Say,
  options: { loopback?: boolean; signal?: AbortSignal } = {},
): Promise<ProviderLogin> {
  const configuration = await discover(signIn);
  const scope = signIn.scopes.join(' ');
  try {
    const tokens =
      signIn.deviceFlow && options.loopback !== true
        ? await deviceFlow(configuration, scope, say, options.signal)
        : await loopbackFlow(configuration, scope, say, options.signal);
    return loginFrom(signIn, tokens);
  } catch (error) {
    if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError)
      throw new NotAllowedError(`the identity provider did not sign you in: ${error.error}`, { cause: error });
    throw error;
  }
}

async function deviceFlow(
  configuration: client.Configuration,
  scope: string,
  say: Say,
  signal: AbortSignal | undefined,
): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  const started = await client.initiateDeviceAuthorization(configuration, { scope });
  say(`To sign in, open ${started.verification_uri} and enter the code ${started.user_code}`);
  if (started.verification_uri_complete !== undefined) say(`(or open ${started.verification_uri_complete})`);
  say('Waiting for you to confirm…');
  return client.pollDeviceAuthorizationGrant(
    configuration,
    started,
    undefined,
    signal === undefined ? undefined : { signal },
  );
}

async function loopbackFlow(
  configuration: client.Configuration,
  scope: string,
  say: Say,
  signal: AbortSignal | undefined,
): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  let answer: (url: URL) => void = () => undefined;
  const came = new Promise<URL>((resolve) => (answer = resolve));
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end('Lockstep: you may close this window and go back to the terminal.\n');
    answer(url);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope,
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...(scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
    });
    say(`To sign in, open this address in a browser on this machine:\n  ${url.href}`);
    const callback = await waitFor(came, LOOPBACK_WAIT_MS, signal);
    const current = new URL(redirectUri);
    current.search = callback.search;
    return await client.authorizationCodeGrant(configuration, current, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** A fresh bearer token from the refresh token; InputError (sign in again) when the provider refuses it. */
export async function refreshLogin(login: StoredLogin): Promise<ProviderLogin> {
  if (login.refreshToken === undefined)
    throw new InputError('your sign-in has expired: run lockstep login again', 'login');
  const configuration = await discover(login);
  try {
    const tokens = await client.refreshTokenGrant(configuration, login.refreshToken);
    return loginFrom(login, tokens, login.refreshToken);
  } catch (error) {
    if (error instanceof client.ResponseBodyError)
      throw new InputError(`your sign-in has expired (${error.error}): run lockstep login again`, 'login', {
        cause: error,
      });
    throw error;
  }
}

function loginFrom(
  signIn: Pick<ServerSignIn, 'issuer' | 'clientId'>,
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
  previousRefresh?: string,
): ProviderLogin {
  // The ID token is a JWT for the CLI's client with every provider; an access token may be opaque.
  const token = tokens.id_token ?? tokens.access_token;
  const claims = tokens.claims();
  const expiresIn = tokens.expiresIn();
  const expiresAt =
    claims?.exp !== undefined && tokens.id_token !== undefined
      ? claims.exp * 1000
      : Date.now() + (expiresIn ?? 300) * 1000;
  const refreshToken = tokens.refresh_token ?? previousRefresh;
  return {
    issuer: signIn.issuer,
    clientId: signIn.clientId,
    token,
    expiresAt: new Date(expiresAt).toISOString(),
    ...(refreshToken === undefined ? {} : { refreshToken }),
  };
}

function waitFor<T>(promise: Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `nobody came back from the identity provider within ${ms / 60_000} minutes: run lockstep login again`,
          ),
        ),
      ms,
    );
    signal?.addEventListener('abort', () => reject(new Error('lockstep login was stopped')), { once: true });
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

