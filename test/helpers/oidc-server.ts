import * as client from 'openid-client';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { projectAuthenticator, projectAuthorizer } from '../../src/server/auth.js';
import { OidcSignIn } from '../../src/server/oidc/oidc-sign-in.js';
import { serverOidc } from '../../src/server/oidc/server-oidc.js';
import { sessionKey } from '../../src/server/oidc/session-key.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { asPerson, Browser } from './browser.js';
import { startTestProvider, WEB_CLIENT_SECRET, type TestPerson, type TestProvider } from './oidc-provider.js';
import { commandComponent, testProject, type TestProject } from './project.js';

/** The people of the sign-in tests: bob is in sre by the provider only, dave by the config only, alice by both; erin in no group. */
export const PEOPLE: Record<string, TestPerson> = {
  alice: { email: 'alice@example.com', groups: ['sre'] },
  bob: { email: 'bob@example.com', groups: ['sre', 'release-managers'] },
  dave: { email: 'dave@example.com', groups: [] },
  erin: { email: 'erin@example.com', groups: [] },
  mallory: { email: 'mallory@example.com', groups: ['sre'], emailVerified: false },
  admin: { email: 'admin@example.com', groups: [] },
};

export function oidcBlock(issuer: string): string {
  return `server:
  oidc:
    issuer: ${issuer}
    clientId: lockstep
    clientSecret: "\${{ secrets.OIDC_CLIENT_SECRET }}"
    cliClientId: lockstep-cli
    scopes: [openid, email, profile, groups]
    groupsClaim: groups
    emailClaim: email
`;
}

/**
 * A project whose prod needs two approvals from group:sre: the provider says alice and bob are in
 * sre, the config says alice and dave are; releases are made by group:release-managers (bob,
 * through the provider; admin@example.com, through the config).
 */
export function signInConfig(issuer: string): string {
  return `project: shop
${oidcBlock(issuer)}groups:
  sre: [dave@example.com, alice@example.com]
  release-managers: [admin@example.com]
access:
  viewer: [group:sre, group:release-managers, erin@example.com]
  releaser: [group:release-managers]
  approver: [group:sre]
  admin: [admin@example.com]
environments:
  staging: {}
  prod:
    after: [staging]
    gates:
      approvals: { count: 2, from: [group:sre] }
components:
  api:
${commandComponent()}
`;
}

export interface SignInServer {
  provider: TestProvider;
  project: TestProject;
  handle: ProjectHandle;
  server: RunningServer;
  url: string;
  keyFile: string;
  /** Everything the server logged. */
  lines: string[];
  close(): Promise<void>;
  /** Starts the server again on the same project and key (a restart), same provider; `url` changes. */
  restart(): Promise<void>;
}

/**
 * A real provider on loopback and a Lockstep server that signs people in with it, over real HTTP:
 * the project's config names the provider; the client secret comes from a secrets file.
 */
export async function startSignInServer(
  config: (issuer: string) => string = signInConfig,
  providerOptions: { deviceFlow?: boolean } = {},
): Promise<SignInServer> {
  const started = await startTestProvider(PEOPLE, providerOptions);
  const project = testProject(config(started.issuer));
  const secretsFile = join(project.dir, 'secrets.env');
  writeFileSync(secretsFile, `OIDC_CLIENT_SECRET=${WEB_CLIENT_SECRET}\n`, { mode: 0o600 });
  const lines: string[] = [];
  const keyFile = join(project.dir, '.lockstep', 'session.key');
  let handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml'), secretsFile });
  const serve = async (port: number): Promise<RunningServer> => {
    const projects = new Map([[handle.name, handle]]);
    const settings = serverOidc(projects.values());
    if (settings === undefined) throw new Error('the test config sets no server.oidc');
    const log = (line: string): void => void lines.push(line);
    const oidc = new OidcSignIn({
      ...(settings.publicUrl === undefined ? {} : { publicUrl: settings.publicUrl }),
      config: settings.config,
      clientSecret: settings.clientSecret,
      sessionKey: sessionKey(settings.defaultKeyFile),
      log,
    });
    return startServer({
      projects,
      host: '127.0.0.1',
      port,
      authenticate: projectAuthenticator(projects),
      authorize: projectAuthorizer(projects),
      oidc,
      log,
      watchConfig: false,
    });
  };
  let server = await serve(0);
  const provider = await started.attach(`${server.url}/auth/callback`);
  const result: SignInServer = {
    provider,
    project,
    handle,
    server,
    url: server.url,
    keyFile,
    lines,
    async close() {
      await server.close();
      await provider.close();
      project.cleanup();
    },
    async restart() {
      await server.close();
      handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml'), secretsFile });
      // Another port: the old one's pooled keep-alive connections are closed.
      server = await serve(0);
      Object.assign(result, { handle, server, url: server.url });
    },
  };
  return result;
}

/** Signs `who` in through the whole browser flow: Lockstep's /auth/login, the provider's login and consent pages, the callback. */
export async function browserSignIn(
  url: string,
  who: string,
  returnTo = '/api/v1/session',
): Promise<{ browser: Browser; landed: string; csrf: string }> {
  const browser = new Browser();
  const end = await browser.navigate(`${url}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, asPerson(who));
  if (end.status !== 200) throw new Error(`sign-in of ${who} ended with HTTP ${end.status} at ${end.url}: ${end.text}`);
  const session = JSON.parse(end.text) as { csrfToken?: string };
  return { browser, landed: end.url, csrf: session.csrfToken ?? '' };
}

/**
 * The provider's own tokens for `who`, as a client other than the server's web client gets them
 * (the CLI's public client, code flow with PKCE through the provider's pages): an ID token for
 * lockstep-cli and a JWT access token for the `lockstep` audience.
 */
export async function providerTokens(
  issuer: string,
  who: string,
): Promise<{ idToken: string; accessToken: string; refreshToken?: string }> {
  const config = await client.discovery(new URL(issuer), 'lockstep-cli', undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  // Nobody listens there: the browser stops at the redirect, as a native app would take it.
  const redirectUri = 'http://127.0.0.1:9/callback';
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile groups offline_access api',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    prompt: 'consent',
  });
  const end = await new Browser().navigate(url.href, asPerson(who), { stopAt: redirectUri });
  const tokens = await client.authorizationCodeGrant(config, new URL(end.url), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  if (tokens.id_token === undefined) throw new Error('the provider sent no ID token');
  return {
    idToken: tokens.id_token,
    accessToken: tokens.access_token,
    ...(tokens.refresh_token === undefined ? {} : { refreshToken: tokens.refresh_token }),
  };
}
