import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { parseDuration } from '../../core/duration.js';
import { InputError } from '../../core/errors.js';
import { leaseMs } from '../../engine/lease.js';
import { openProjectHandle, type ProjectHandle } from '../../project/project-handle.js';
import type { OidcSignIn } from '../../server/oidc/oidc-sign-in.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface ServeOptions {
  listen: string;
  project?: string[];
  /** `--no-watch` sets it false. */
  watch: boolean;
  /** `--no-access-log` sets it false. */
  accessLog: boolean;
  drainTimeout: string;
  sessionKey?: string;
}

/** `lockstep serve`: the HTTP API over the projects' stores and configs, until SIGTERM or SIGINT. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'run the HTTP API (docs/server.md) for one or more projects; a changed lockstep.yaml (or SIGHUP) is read again; SIGTERM or Ctrl-C drains and stops it',
    )
    .option('--listen <host:port>', 'where to listen (port 0 picks a free port)', '127.0.0.1:8417')
    .option('--project <dir>', 'a directory holding lockstep.yaml (repeatable; default: the --config file)', collect)
    .option(
      '--no-watch',
      'read a changed lockstep.yaml only on SIGHUP, not as soon as it changes (for file systems whose changes are not seen, like NFS)',
    )
    .option('--no-access-log', 'do not log a line per request on stderr')
    .option(
      '--drain-timeout <duration>',
      'on SIGTERM, how long running steps may take to end before their promotions are handed back anyway (keep it below the grace period before SIGKILL: 30s in Kubernetes)',
      '20s',
    )
    .option(
      '--session-key <file>',
      'the key browser sessions are sealed with, when people sign in with server.oidc (made on first use; share it between replicas; default: session.key beside the first such project\'s state)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  lockstep serve --listen 127.0.0.1:8417\n  lockstep serve --listen 0.0.0.0:8417 --project . --project ../payments',
    )
    .action(async (o: ServeOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ config: string; state?: string; secretsFile?: string }>();
      // Loaded here, not at start: every other command starts without evaluating the HTTP stack.
      const { parseListen, startServer } = await import('../../server/serve.js');
      const { projectAuthenticator, projectAuthorizer } = await import('../../server/auth.js');
      const { host, port } = parseListen(o.listen);
      const drainTimeoutMs = parseDuration(o.drainTimeout);
      if (drainTimeoutMs === undefined)
        throw new InputError(`--drain-timeout takes a duration like 20s or 1m, not ${JSON.stringify(o.drainTimeout)}`, '--drain-timeout');
      // A malformed LOCKSTEP_LEASE_MS stops the server here, not at its first promotion.
      leaseMs();
      const dirs = o.project ?? [];
      if (dirs.length > 1 && (globals.state !== undefined || (process.env.LOCKSTEP_STATE ?? '') !== ''))
        throw new InputError(
          '--state (or LOCKSTEP_STATE) names one state: with several --project, each keeps its own (.lockstep/ beside its config)',
          '--state',
        );
      const configs =
        dirs.length > 0 ? dirs.map((dir) => join(resolve(dir), 'lockstep.yaml')) : [resolve(globals.config)];
      const projects = await openProjects(configs, { state: globals.state, secretsFile: globals.secretsFile });
      let oidc;
      try {
        oidc = await signIn(projects, o.sessionKey);
      } catch (error) {
        for (const p of projects.values()) await p.close();
        throw error;
      }
      const server = await startServer({
        oidc,
        projects,
        host,
        port,
        authenticate: projectAuthenticator(projects),
        authorize: projectAuthorizer(projects),
        watchConfig: o.watch,
        accessLog: o.accessLog,
        drainTimeoutMs,
      });
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals): void => {
          if (stopping) {
            // A second signal: leave now, as a kill would; what runs is continued by the next server
            // (or `lockstep resume`) through crash recovery.
            process.stderr.write(`lockstep: ${signal} again: exiting without waiting\n`);
            process.exit(1);
          }
          stopping = true;
          process.stderr.write(`lockstep: ${signal}: draining: no new work; running steps get up to ${o.drainTimeout} to end\n`);
          server.close().then(done, (error: unknown) => {
            process.stderr.write(`lockstep: error while stopping: ${String(error)}\n`);
            done();
          });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        // Without a listener, SIGHUP would end the process: here it means "read the configs again".
        process.on('SIGHUP', () => {
          if (stopping) return;
          process.stderr.write('lockstep: SIGHUP: reading the configs again\n');
          void server.reloadConfigs();
        });
        // Only now: whoever reads this line may signal at once, and must find the handlers in place.
        process.stdout.write(`listening on ${server.url}\n`);
      });
      process.stderr.write('lockstep: stopped\n');
      // Steps handed back while still running (drain time up) leave work in this process that waits for
      // them (a command's pollers, a request): that is the next owner's now, so nothing here waits.
      process.exit(0);
    });
}

/** Sign-in with the identity provider the projects' server.oidc names, if any (server/oidc/). */
async function signIn(projects: Map<string, ProjectHandle>, keyFile: string | undefined): Promise<OidcSignIn | undefined> {
  const { serverOidc } = await import('../../server/oidc/server-oidc.js');
  const { sessionKey } = await import('../../server/oidc/session-key.js');
  const { OidcSignIn } = await import('../../server/oidc/oidc-sign-in.js');
  const settings = serverOidc(projects.values());
  if (settings === undefined) return undefined;
  const file = keyFile === undefined ? settings.defaultKeyFile : resolve(keyFile);
  const log = (line: string): void => void process.stderr.write(`lockstep: ${line}\n`);
  log(`people sign in with ${settings.config.issuer} (server.oidc of ${settings.file}); sessions sealed with ${file}`);
  return new OidcSignIn({
    config: settings.config,
    clientSecret: settings.clientSecret,
    sessionKey: sessionKey(file),
    ...(settings.publicUrl === undefined ? {} : { publicUrl: settings.publicUrl }),
    log,
  });
}

async function openProjects(
  configs: string[],
  shared: { state?: string; secretsFile?: string },
): Promise<Map<string, ProjectHandle>> {
  const projects = new Map<string, ProjectHandle>();
  try {
    for (const config of configs) {
      const project = await openProjectHandle({ config, ...shared }, (path) =>
        process.stderr.write(`lockstep: created a new state at ${path}\n`),
      );
      const other = projects.get(project.name);
      if (other !== undefined) {
        await project.close();
        throw new InputError(
          `two projects are named ${project.name} (${other.loaded.file} and ${config}): API routes name projects, so each needs its own name`,
          '--project',
        );
      }
      projects.set(project.name, project);
    }
  } catch (error) {
    for (const p of projects.values()) await p.close();
    throw error;
  }
  return projects;
}
