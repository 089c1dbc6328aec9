import type { Permission, Identity } from '../core/access.js';
import type { EngineDeps } from '../engine/deps.js';
import type { ProjectHandle } from '../project/project-handle.js';
import type { BackgroundRuns } from './background.js';
import type { ServerMetrics } from './metrics.js';
import type { OidcSignIn, Session } from './oidc/oidc-sign-in.js';

/** authorize's answer: a refusal says why (the 403's message). */
export type Authorization = { ok: true } | { ok: false; reason: string };

export interface AppOptions {
  /** By the config's `project:` name. */
  projects: ReadonlyMap<string, ProjectHandle>;
  /**
   * The identity a bearer token stands for in the project (a token is recorded in one project's
   * store, and counts there only); undefined when the token is unknown there, revoked or expired.
   * Without a project (the path names none served here): whether the token is valid in any, so
   * that only an authenticated caller learns which projects exist.
   */
  authenticate(bearer: string, projectName?: string): Promise<Identity | undefined>;
  /** Whether the identity may do `permission` in the project (and, when the request names one, the environment). */
  authorize(identity: Identity, permission: Permission, projectName: string, environment?: string): Authorization;
  /** Largest request body accepted, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Log one line per request (`lockstep serve` does, unless `--no-access-log`). */
  accessLog?: boolean;
  /** Where the server reports what no client sees: failed background runs, 500s. Default: stderr. */
  log?: (line: string) => void;
  /** Promotions started by requests run here; the server waits for them on shutdown. */
  background?: BackgroundRuns;
  /** How often event streams read the store and send a heartbeat when quiet (defaults: 200 ms, 15 s). */
  eventStream?: { pollMs?: number; heartbeatMs?: number };
  /** What GET /metrics shows; one per server (createApp makes one when not given). */
  metrics?: ServerMetrics;
  /** Aborted when the server shuts down: open event streams end, so closing does not wait on them. */
  shutdown?: AbortSignal;
  /** People sign in with an OpenID provider (`server.oidc`): sessions, the sign-in routes, the provider's tokens as bearers. */
  oidc?: OidcSignIn;
  /** The built web UI served at `/` (default: dist/web of this package, see web-ui.ts). */
  webRoot?: string;
}

/** A project whose store knows the request's token, and whom the token stands for there. */
export interface KnownIdentity {
  project: ProjectHandle;
  identity: Identity;
}

/** What the guard middleware hands each route handler. */
export interface ServerEnv {
  Variables: {
    identity: Identity;
    /** A route outside any project (identityGuard): the projects that know the token (and, for an `inEachProject` route, grant its permission). */
    known: KnownIdentity[];
    project: ProjectHandle;
    /** The project's EngineDeps with the authenticated identity as actor. */
    deps: EngineDeps;
    /** The session cookie the request was authenticated by, if it was. */
    session?: Session;
  };
}
