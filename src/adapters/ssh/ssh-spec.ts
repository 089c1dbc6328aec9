import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { holdsUnknown } from '../../core/plan.js';

/** The name that means "this machine, no SSH" in `hosts`. */
export const LOCAL_HOST = 'local';
export const DEFAULT_PORT = 22;
export const DEFAULT_KEEP = 5;
export const DEFAULT_TIMEOUT = '10m';
export const DEFAULT_CONNECT_TIMEOUT = '20s';
export const DEFAULT_HEALTH_TIMEOUT = '60s';
export const DEFAULT_HEALTH_INTERVAL = '1s';

/** Set by the adapter for every hook, restart and health command; `env` may not set them. */
export const RESERVED_ENV = [
  'LOCKSTEP_HOST',
  'LOCKSTEP_DIR',
  'LOCKSTEP_RELEASE_DIR',
  'LOCKSTEP_VERSION',
  'LOCKSTEP_PREVIOUS_VERSION',
  'LOCKSTEP_ENVIRONMENT',
  'LOCKSTEP_COMPONENT',
  'LOCKSTEP_RELEASE',
  'LOCKSTEP_PROMOTION',
] as const;

const duration = (fallback: string) =>
  z
    .string()
    .refine((text) => (parseDuration(text) ?? 0) > 0, { error: 'expected a duration such as 30s, 10m or 1h30m' })
    .default(fallback);

const port = z.int({ error: 'expected a port number' }).min(1, { error: 'a port is 1 to 65535' }).max(65535, {
  error: 'a port is 1 to 65535',
});

/**
 * A command run on the host: one string is shell text (run by /bin/sh there), an array is an argv whose
 * elements are passed as they are (quoted for the remote shell by Lockstep).
 */
const command = z.union(
  [
    z.string().trim().min(1, { error: 'the command is empty' }),
    z
      .array(z.string())
      .min(1, { error: 'the argv array is empty; it needs at least the program, such as ["systemctl", "restart", "billing"]' })
      .refine((argv) => argv[0] !== '', { error: 'the program (the first element) is empty' }),
  ],
  { error: 'expected a command: shell text such as "systemctl restart billing", or an argv array such as ["systemctl", "restart", "billing"]' },
);

const hostObject = z.strictObject({
  host: z.string().trim().min(1, { error: 'expected a host name or address' }),
  port: port.optional(),
  user: z.string().trim().min(1, { error: 'expected a user name' }).optional(),
});

const hostEntry = z.union([z.string(), hostObject], {
  error: 'expected a host: "web-1", "web-1:2222", "deploy@web-1", or { host, port, user }',
});

const SHA256 = /^[0-9a-fA-F]{64}$/;

/**
 * An http(s) URL; at plan time also one holding a value known only after its producer applies (an
 * artifact bucket or a load balancer from Terraform), which the plan shows and never fetches.
 */
const httpUrl = z.string().refine((text) => holdsUnknown(text) || /^https?:\/\/\S+$/i.test(text), {
  error: 'expected an http:// or https:// URL',
});
const sha256 = z.string().regex(SHA256, { error: 'expected a SHA-256 digest: 64 hexadecimal characters' });

const artifactObject = z
  .strictObject({
    /** An http(s) URL, downloaded into the cache directory. */
    url: httpUrl.optional(),
    /** A file or directory, relative to the project directory. */
    path: z.string().trim().min(1, { error: 'expected a file or directory' }).optional(),
    /** The artifact's expected SHA-256: checked before it is uploaded anywhere. */
    sha256: sha256.optional(),
  })
  .refine((a) => (a.url === undefined) !== (a.path === undefined), {
    error: 'give exactly one of url or path',
  });

const artifact = z.union([z.string().trim().min(1, { error: 'expected a URL or a path' }), artifactObject], {
  error: 'expected a URL or a path, or { url, sha256 } / { path, sha256 }',
});

const health = z
  .strictObject({
    /** Fetched on the host (curl, else wget); 2xx and 3xx are healthy. */
    http: httpUrl.optional(),
    /** Run on the host in `<dir>/current`; exit 0 is healthy. */
    command: command.optional(),
    /** How long the host has to become healthy; the check is repeated until then. */
    timeout: duration(DEFAULT_HEALTH_TIMEOUT),
    /** Pause between attempts. */
    interval: duration(DEFAULT_HEALTH_INTERVAL),
  })
  .refine((h) => (h.http === undefined) !== (h.command === undefined), {
    error: 'give exactly one of http (a URL fetched on the host) or command (run on the host)',
  });

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `with:` of an `ssh` component. Templates are rendered by the engine before the adapter sees it. */
export const sshSpec = z
  .strictObject({
    /**
     * Where to deploy: a list, or one string of names separated by commas or spaces (as an environment
     * variable may give it). `local` deploys on this machine.
     */
    hosts: z.union([z.string(), z.array(hostEntry)], { error: 'expected a list of hosts' }).optional(),
    /** `local` deploys every host's layout on this machine, without SSH. */
    transport: z.enum(['ssh', 'local'], { error: 'expected ssh or local' }).default('ssh'),
    user: z.string().trim().min(1, { error: 'expected a user name' }).optional(),
    port: port.default(DEFAULT_PORT),
    /** The private key's text (PEM or OpenSSH format), usually `${{ secrets.NAME }}`. */
    privateKey: z.string().optional(),
    passphrase: z.string().optional(),
    /** A known_hosts file, relative to the project directory. Host keys are pinned, never trusted on first use. */
    knownHosts: z.string().trim().min(1, { error: 'expected the path of a known_hosts file' }).optional(),
    artifact,
    /** The deploy directory on each host: `releases/<version>/` and a `current` symlink. */
    dir: z.string().trim().min(1, { error: 'expected a directory, such as /srv/billing' }),
    /** Hooks run in the new release directory before `current` is switched. */
    before: z.array(command, { error: 'expected a list of commands' }).default([]),
    restart: command.optional(),
    health: health.optional(),
    /** Hosts deployed at once: a number, or a percentage of the hosts such as "25%". */
    parallel: z
      .union(
        [
          z.int().min(1, { error: 'at least 1 host at a time' }),
          z.string().regex(/^(?:100|[1-9][0-9]?)%$/, { error: 'expected a percentage from 1% to 100%' }),
        ],
        { error: 'expected a number of hosts, or a percentage such as "25%"' },
      )
      .default(1),
    /** Old releases kept on each host besides the current one; the previous one is always kept. */
    keep: z.int({ error: 'expected a whole number' }).min(1, { error: 'keep at least 1 old release, so rollback has one' }).default(DEFAULT_KEEP),
    env: z
      .record(
        z.string().regex(ENV_NAME, { error: 'an environment variable name: letters, digits and _, not starting with a digit' }),
        z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' }),
      )
      .default({}),
    /** The longest one upload, hook or restart may take. */
    timeout: duration(DEFAULT_TIMEOUT),
    connectTimeout: duration(DEFAULT_CONNECT_TIMEOUT),
  })
  .superRefine(checkSpec, {
    // Runs even when other fields failed, so one pass reports every problem; only well-shaped fields are looked at.
    when: (payload) => typeof payload.value === 'object' && payload.value !== null,
  });

export type SshSpec = z.output<typeof sshSpec>;
export type SshCommand = z.output<typeof command>;
export type HealthSpec = z.output<typeof health>;
export type ArtifactSpec = z.output<typeof artifact>;
export type HostEntry = z.output<typeof hostEntry>;

/** A host as written, parsed: `user@host:port`, `[::1]:2222`, `local`. */
export interface ParsedHost {
  host: string;
  port?: number;
  user?: string;
}

const HOST_NAME = /^[A-Za-z0-9_.-]+$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Parses one host string; returns a message saying what is wrong instead when it is not one. */
export function parseHost(text: string): ParsedHost | string {
  let rest = text.trim();
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER.test(user)) return `"${user}" is not a user name`;
  }
  let host = rest;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
    if (!IPV6.test(host) && !HOST_NAME.test(host)) return `"${host}" is not a host name or address`;
  } else {
    const colons = rest.split(':').length - 1;
    if (colons === 1) {
      [host = '', portText] = rest.split(':');
    } else if (colons > 1) {
      // A bare IPv6 address; a port needs the [address]:port form.
      if (!IPV6.test(rest)) return `"${rest}" is not a host name or address`;
      return { host: rest, ...(user !== undefined ? { user } : {}) };
    }
    if (!HOST_NAME.test(host)) return `"${host}" is not a host name or address`;
  }
  const parsed: ParsedHost = { host };
  if (user !== undefined) parsed.user = user;
  if (portText !== undefined) {
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) return `port "${portText}" is not 1 to 65535`;
    parsed.port = port;
  }
  return parsed;
}

/**
 * The hosts as a list: a string is split on commas and white space, except inside the stand-in of a
 * value known only after its producer applies (`(known after infra applies)`), which stays one entry.
 */
export function hostList(hosts: SshSpec['hosts']): HostEntry[] {
  if (hosts === undefined) return [];
  if (typeof hosts !== 'string') return hosts;
  const list: string[] = [];
  let open: string | undefined;
  for (const word of hosts.split(/[\s,]+/).filter((h) => h !== '')) {
    if (open !== undefined) {
      open = `${open} ${word}`;
    } else if (word.includes('(known') && !holdsUnknown(word)) {
      open = word;
    } else {
      list.push(word);
      continue;
    }
    if (holdsUnknown(open)) {
      list.push(open);
      open = undefined;
    }
  }
  // A stand-in never closed was not one: its words are hosts as written (and refused as such).
  if (open !== undefined) list.push(...open.split(' '));
  return list;
}

/** Whether a host entry is named by a value known only after its producer applies. */
export function isUnknownHost(entry: HostEntry): boolean {
  // Also called on entries not parsed yet (checkHosts runs when other fields failed).
  const host: unknown = typeof entry === 'string' ? entry : (entry as { host?: unknown } | null)?.host;
  return typeof host === 'string' && holdsUnknown(host);
}

function checkSpec(input: unknown, ctx: z.RefinementCtx): void {
  const value = input as Partial<Record<string, unknown>>;
  const transport = value.transport ?? 'ssh';
  checkHosts(value, transport, ctx);
  checkDir(value.dir, ctx);
  checkReservedEnv(value.env, ctx);
}

function checkHosts(value: Partial<Record<string, unknown>>, transport: unknown, ctx: z.RefinementCtx): void {
  const hosts = value.hosts;
  const wellShaped = hosts === undefined || typeof hosts === 'string' || Array.isArray(hosts);
  if (!wellShaped) return;
  const list = hostList(hosts as SshSpec['hosts']);
  if (transport === 'local') {
    if (list.some((h) => !(typeof h === 'string' && h.trim() === LOCAL_HOST))) {
      ctx.addIssue({
        code: 'custom',
        path: ['hosts'],
        message: 'transport: local deploys on this machine only: leave hosts out (or write hosts: [local])',
      });
    }
    return;
  }
  if (hosts === undefined || list.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['hosts'],
      message: 'expected at least one host, such as ["web-1", "web-2:2222"] (or transport: local to deploy on this machine)',
    });
    return;
  }
  const seen = new Map<string, number>();
  let remote = false;
  list.forEach((entry, index) => {
    const at: (string | number)[] = typeof hosts === 'string' ? ['hosts'] : ['hosts', index];
    let key: string;
    if (isUnknownHost(entry)) {
      // Known at run time, when the spec is parsed again with the real host; planned without it. Two
      // outputs of one producer read the same while unknown, so no duplicate is told here.
      remote = true;
      return;
    }
    if (typeof entry === 'string') {
      if (entry.trim() === LOCAL_HOST) {
        key = LOCAL_HOST;
      } else {
        const parsed = parseHost(entry);
        if (typeof parsed === 'string') {
          ctx.addIssue({ code: 'custom', path: at, message: `${parsed}; expected "web-1", "web-1:2222", "deploy@web-1" or "[2001:db8::1]:2222"` });
          return;
        }
        remote = true;
        key = `${parsed.host.toLowerCase()}:${parsed.port ?? ''}`;
      }
    } else if (typeof entry === 'object' && entry !== null && typeof entry.host === 'string') {
      if (entry.host.trim() === LOCAL_HOST) {
        key = LOCAL_HOST;
      } else {
        const parsed = parseHost(entry.host);
        if (typeof parsed === 'string' || parsed.port !== undefined || parsed.user !== undefined) {
          ctx.addIssue({ code: 'custom', path: [...at, 'host'], message: 'expected a host name or address alone (put the port and user in port and user)' });
          return;
        }
        remote = true;
        key = `${parsed.host.toLowerCase()}:${entry.port ?? ''}`;
      }
    } else {
      return;
    }
    const first = seen.get(key);
    if (first !== undefined) {
      ctx.addIssue({ code: 'custom', path: at, message: `this host is listed twice (also at hosts.${first}); each host gets the rollout once` });
    } else {
      seen.set(key, index);
    }
  });
  if (!remote) return;
  if (value.knownHosts === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['knownHosts'],
      message:
        'required for SSH hosts: a known_hosts file (relative to the project directory) pinning each host key; ' +
        'host keys are never trusted on first use',
    });
  }
  if (value.privateKey === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['privateKey'],
      message: 'required for SSH hosts: the private key text, such as "${{ secrets.DEPLOY_KEY }}"',
    });
  }
}

function checkDir(dir: unknown, ctx: z.RefinementCtx): void {
  if (typeof dir !== 'string') return;
  const trimmed = dir.trim();
  if (trimmed.startsWith('~')) {
    ctx.addIssue({ code: 'custom', path: ['dir'], message: 'write the directory without ~: a relative path is relative to the login (home) directory' });
  } else if (trimmed.startsWith('-')) {
    ctx.addIssue({ code: 'custom', path: ['dir'], message: 'a directory may not start with "-"' });
  } else if (/^\/+$/.test(trimmed) || trimmed.split('/').includes('..')) {
    ctx.addIssue({ code: 'custom', path: ['dir'], message: 'expected a directory of its own, such as /srv/billing (not / and without ..)' });
  } else if (/[\n\r\0]/.test(trimmed)) {
    ctx.addIssue({ code: 'custom', path: ['dir'], message: 'the directory may not contain line breaks' });
  }
}

function checkReservedEnv(env: unknown, ctx: z.RefinementCtx): void {
  if (typeof env !== 'object' || env === null) return;
  for (const name of Object.keys(env)) {
    if ((RESERVED_ENV as readonly string[]).includes(name)) {
      ctx.addIssue({ code: 'custom', path: ['env', name], message: `${name} is set by Lockstep for every command` });
    }
  }
}
