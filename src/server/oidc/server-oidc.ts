import path from 'node:path';
import { InputError } from '../../core/errors.js';
import { sameOidcConfig, type OidcConfig } from '../../core/oidc.js';
import type { ProjectHandle } from '../../project/project-handle.js';
import { SESSION_KEY_FILE } from './session-key.js';

/** The actor of what the server reads for itself (never audited: reading settings changes nothing). */
const READER = 'lockstep:server';

/** Sign-in for the whole server, from the projects' `server.oidc`. */
export interface ServerOidc {
  config: OidcConfig;
  /** The web client's secret, read from the secret its config names; undefined for a public client. */
  clientSecret: string | undefined;
  /** The config file it was taken from (the first that sets it). */
  file: string;
  /** Where the session key lives unless `--session-key` says: beside that project's state. */
  defaultKeyFile: string;
  /** That project's `server.url`: the redirect URI is built on it (behind a proxy, the URL people use). */
  publicUrl: string | undefined;
}

const SECRET_NAME = /^\s*\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$/;

/**
 * One identity provider signs people in for the whole server: the projects that set `server.oidc`
 * must set the same (an InputError names the files that differ), those that leave it out are served
 * with it too, and roles stay per project (`access:` and `groups:` of each). Undefined when no
 * project sets it. The client secret is read here, at start, from the secret its config names.
 */
export function serverOidc(projects: Iterable<ProjectHandle>): ServerOidc | undefined {
  let found: { config: OidcConfig; project: ProjectHandle } | undefined;
  for (const project of projects) {
    const config = project.loaded.config.server?.oidc;
    if (config === undefined) continue;
    if (found === undefined) {
      found = { config, project };
    } else if (!sameOidcConfig(found.config, config)) {
      throw new InputError(
        `server.oidc differs between ${found.project.loaded.file} and ${project.loaded.file}: one server signs people in with one identity provider, so the projects that set it must set the same`,
        'server.oidc',
      );
    }
  }
  if (found === undefined) return undefined;
  const deps = found.project.deps({ actor: READER });
  let clientSecret: string | undefined;
  if (found.config.clientSecret !== undefined) {
    const name = SECRET_NAME.exec(found.config.clientSecret)?.[1];
    clientSecret = name === undefined ? undefined : deps.secrets.get(name);
    if (name === undefined || clientSecret === undefined || clientSecret === '')
      throw new InputError(
        `server.oidc.clientSecret in ${found.project.loaded.file} names the secret ${name ?? '(none)'}, which is not set: set it in the environment of lockstep serve or its --secrets-file`,
        'server.oidc.clientSecret',
      );
  }
  return {
    config: found.config,
    clientSecret,
    file: found.project.loaded.file,
    defaultKeyFile: path.join(deps.stateDir, SESSION_KEY_FILE),
    publicUrl: found.project.loaded.config.server?.url,
  };
}
