import type { Command } from 'commander';
import { InputError, NotAllowedError } from '../../core/errors.js';
import { globals, outputOption, print, printJson } from '../command-kit.js';
import { credentialsFile, forgetLogin, readLogins, saveLogin, serverKey, writeLogins } from '../credentials.js';
import { serverUrl } from '../http-backend.js';
import type { ServerSignIn } from '../oidc-login.js';

/**
 * `lockstep login` and `lockstep logout`: sign in to a team server with its identity provider
 * (docs/oidc.md), so that commands with `--server` (or LOCKSTEP_SERVER) act as you without
 * LOCKSTEP_TOKEN. The provider's tokens are kept in your config directory, readable by you only.
 */
export function addLoginCommands(program: Command): void {
  program
    .command('login')
    .description(
      'sign in to a team server with its identity provider (device code, or a browser on this machine); the login is kept for later commands',
    )
    .option('--loopback', 'sign in through a browser on this machine even when the provider offers the device flow')
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nExamples:\n  lockstep login --server https://lockstep.example.com\n  LOCKSTEP_SERVER=https://lockstep.example.com lockstep login --loopback',
    )
    .action(async (o: { loopback?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const url = serverUrl(needServer(opts.server, 'login'));
      const signIn = await authConfig(url);
      // Loaded here: no other command starts with the protocol libraries.
      const { providerLogin } = await import('../oidc-login.js');
      const login = await providerLogin(signIn, (line) => process.stderr.write(`${line}\n`), {
        loopback: o.loopback === true,
      });
      const name = await whoAmI(url, login.token);
      const file = credentialsFile();
      saveLogin(file, serverKey(url), { ...login, name });
      if (opts.output === 'json')
        return printJson({
          server: serverKey(url),
          name,
          issuer: login.issuer,
          expiresAt: login.expiresAt,
          credentials: file,
        });
      print(`signed in to ${serverKey(url)} as ${name} (kept in ${file})`);
    });

  program
    .command('logout')
    .description('forget the login to a team server (or every login, with --all)')
    .option('--all', 'forget the logins to every server')
    .addOption(outputOption())
    .action((o: { all?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const file = credentialsFile();
      let forgotten: string[];
      if (o.all === true) {
        forgotten = Object.keys(readLogins(file));
        if (forgotten.length > 0) writeLogins(file, {});
      } else {
        const key = serverKey(serverUrl(needServer(opts.server, 'logout')));
        forgotten = forgetLogin(file, key) ? [key] : [];
        if (forgotten.length === 0 && opts.output !== 'json') return print(`no login to ${key} is kept here`);
      }
      if (opts.output === 'json') return printJson({ forgotten });
      print(forgotten.length === 0 ? 'no logins are kept here' : forgotten.map((s) => `signed out of ${s}`).join('\n'));
    });
}

function needServer(server: string | undefined, command: string): string {
  if (server === undefined)
    throw new InputError(`lockstep ${command} needs the server: --server URL (or LOCKSTEP_SERVER)`, '--server');
  return server;
}

/** The server's sign-in settings; InputError when nobody signs in there. */
async function authConfig(url: URL): Promise<ServerSignIn> {
  const body = await getJson(url, '/api/v1/auth/config');
  const oidc = (body as { oidc?: unknown }).oidc;
  if (oidc === null || oidc === undefined)
    throw new InputError(
      `nobody signs in on ${serverKey(url)} (no project there sets server.oidc): use an API token in LOCKSTEP_TOKEN`,
      '--server',
    );
  const o = oidc as Partial<ServerSignIn>;
  if (
    typeof o.issuer !== 'string' ||
    typeof o.clientId !== 'string' ||
    !Array.isArray(o.scopes) ||
    typeof o.deviceFlow !== 'boolean'
  )
    throw new Error(
      `${serverKey(url)} answered /api/v1/auth/config with something that is not Lockstep's: is it a Lockstep server?`,
    );
  return {
    issuer: o.issuer,
    clientId: o.clientId,
    scopes: o.scopes.filter((s): s is string => typeof s === 'string'),
    deviceFlow: o.deviceFlow,
  };
}

/** Asks the server whom the new token names: proves it accepts it before it is kept. */
async function whoAmI(url: URL, token: string): Promise<string> {
  const body = await getJson(url, '/api/v1/session', token);
  const name = (body as { name?: unknown }).name;
  if (typeof name !== 'string')
    throw new Error(`${serverKey(url)} answered /api/v1/session with something that is not Lockstep's`);
  return name;
}

async function getJson(url: URL, path: string, token?: string): Promise<unknown> {
  const target = new URL(`${url.pathname.replace(/\/+$/, '')}${path}`, url);
  let response: Response;
  try {
    response = await fetch(target, {
      headers: { Accept: 'application/json', ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }) },
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new Error(`cannot reach the server at ${serverKey(url)}: ${cause}`, { cause: error });
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new Error(
      `${serverKey(url)} answered ${path} with HTTP ${response.status} and no JSON: is it a Lockstep server?`,
    );
  }
  if (response.ok) return body;
  const message = (body as { error?: { message?: unknown } }).error?.message;
  const text = typeof message === 'string' ? message : `HTTP ${response.status}`;
  if (response.status === 401 || response.status === 403)
    throw new NotAllowedError(`${serverKey(url)} refused the login: ${text}`);
  throw new Error(`${serverKey(url)} answered ${path} with HTTP ${response.status}: ${text}`);
}
