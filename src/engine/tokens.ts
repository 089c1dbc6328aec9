import { randomBytes } from 'node:crypto';
import { authorize, ROLES, type Identity, type Role } from '../core/access.js';
import type { AuditEventInput } from '../core/audit.js';
import { parseDuration } from '../core/duration.js';
import { InputError, NotAllowedError, NotFoundError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { didYouMean } from '../core/suggest.js';
import {
  hashToken,
  sameTokenHash,
  TOKEN_NAME_PATTERN,
  TOKEN_NAME_RULE,
  TOKEN_PATTERN,
  TOKEN_PREFIX,
  tokenState,
  tokenView,
  type TokenRecord,
  type TokenView,
} from '../core/tokens.js';
import type { Store } from '../store/store.js';
import type { EngineDeps } from './deps.js';

/**
 * API tokens: made, listed and revoked by admins (locally or through the server), and checked on
 * every request to the server. The token's text leaves this file once, in `createToken`'s result;
 * what is stored, audited or returned otherwise holds its name and never its text or hash.
 */

type TokenDeps = Pick<EngineDeps, 'store' | 'clock' | 'loaded'>;

/** What `token create` asks for, as typed (checked here, so the server and the CLI say the same). */
export interface NewToken {
  name: string;
  /** Whom it acts for; default: the name. */
  for?: string;
  role?: string;
  environments?: readonly string[];
  /** A duration from now (`90d`); none: the token does not expire. */
  expires?: string;
}

export interface CreatedToken {
  /** The token's text: show it once, store it nowhere. */
  token: string;
  record: TokenView;
}

/** A new token's settings, checked; the token's text and times are added when it is made. */
export type CheckedToken = Pick<TokenRecord, 'name' | 'identity' | 'role' | 'environments'> & { expiresInMs?: number };

/**
 * Checks a `token create` before anything is opened or written: the caller may manage tokens, and
 * every setting is valid (InputError naming the flag). `createToken` runs it too. Pure.
 */
export function checkNewToken(deps: Pick<EngineDeps, 'loaded'>, caller: Identity, input: NewToken): CheckedToken {
  mayManage(deps, caller);
  const name = checkedName(input.name);
  const identity = (input.for ?? name).trim();
  if (identity === '') throw new InputError('--for must name whom the token acts for (a person or a service)', '--for');
  const role = checkedRole(input.role);
  const environments = checkedEnvironments(deps, input.environments);
  return {
    name,
    identity,
    ...(role === undefined ? {} : { role }),
    ...(environments === undefined ? {} : { environments }),
    ...(input.expires === undefined ? {} : { expiresInMs: checkedExpiry(input.expires) }),
  };
}

/** Makes a token; the caller must be allowed to manage tokens. Writes the record and `token.created` in one commit. */
export async function createToken(deps: TokenDeps, caller: Identity, input: NewToken, random: (size: number) => Buffer = randomBytes): Promise<CreatedToken> {
  const { expiresInMs, ...checked } = checkNewToken(deps, caller, input);
  const now = deps.clock.now();
  const token = `${TOKEN_PREFIX}${random(32).toString('base64url')}`;
  const record: TokenRecord = {
    ...checked,
    hash: hashToken(token),
    createdAt: now.toISOString(),
    createdBy: caller.name,
    ...(expiresInMs === undefined ? {} : { expiresAt: new Date(now.getTime() + expiresInMs).toISOString() }),
  };
  await deps.store.commit({ createToken: record, audit: [tokenEvent(deps, caller, 'token.created', record, now)] });
  return { token, record: tokenView(record, now.toISOString()) };
}

/** Every token with its state (active, expired, revoked), oldest first, without hashes. */
export async function listTokens(deps: TokenDeps, caller: Identity): Promise<TokenView[]> {
  mayManage(deps, caller);
  const now = deps.clock.now().toISOString();
  return (await deps.store.listTokens()).map((t) => tokenView(t, now));
}

/** Revokes the token of that name (not revoked yet): it is refused from then on. NotFoundError when there is none. */
export async function revokeToken(deps: TokenDeps, caller: Identity, name: string): Promise<TokenView> {
  mayManage(deps, caller);
  const now = deps.clock.now();
  const at = now.toISOString();
  const record = (await deps.store.listTokens()).find((t) => t.name === name && t.revokedAt === undefined);
  if (record === undefined) throw new NotFoundError(`no token named ${printable(name)} to revoke (lockstep token list shows them)`);
  const revoked: TokenRecord = { ...record, revokedAt: at };
  await deps.store.commit({ revokeToken: { name, at }, audit: [tokenEvent(deps, caller, 'token.revoked', revoked, now)] });
  return tokenView(revoked, at);
}

export type Authentication = { ok: true; identity: Identity; token: TokenView } | { ok: false; reason: string };

/**
 * Who presents `text`: the identity its token acts for, narrowed by the token's role and
 * environments; or why it is refused (malformed, unknown, revoked, expired). A reason never quotes
 * the text. The store finds the token by the text's hash; the match is confirmed in constant time.
 */
export async function authenticateToken(store: Pick<Store, 'findTokenByHash'>, text: string, now: Date): Promise<Authentication> {
  if (!TOKEN_PATTERN.test(text)) return { ok: false, reason: `not a Lockstep API token (one starts with ${TOKEN_PREFIX} and has 47 characters)` };
  const hash = hashToken(text);
  const record = await store.findTokenByHash(hash);
  if (record === undefined || !sameTokenHash(record.hash, hash)) return { ok: false, reason: 'unknown API token' };
  const at = now.toISOString();
  const state = tokenState(record, at);
  if (state === 'revoked') return { ok: false, reason: `API token ${record.name} was revoked at ${record.revokedAt ?? ''}` };
  if (state === 'expired') return { ok: false, reason: `API token ${record.name} expired at ${record.expiresAt ?? ''}` };
  const identity: Identity = {
    name: record.identity,
    via: { kind: 'token', token: record.name },
    ...(record.role === undefined ? {} : { role: record.role }),
    ...(record.environments === undefined ? {} : { environments: record.environments }),
  };
  return { ok: true, identity, token: tokenView(record, at) };
}

function mayManage(deps: Pick<EngineDeps, 'loaded'>, caller: Identity): void {
  const allowed = authorize(deps.loaded.config, caller, 'token.manage');
  if (allowed.ok) return;
  const hint = caller.via.kind === 'claimed' ? ` (roles come from access: in ${deps.loaded.file}; the actor is --actor, LOCKSTEP_ACTOR or git user.email)` : '';
  throw new NotAllowedError(`${allowed.reason}${hint}`);
}

function checkedName(name: string): string {
  if (!TOKEN_NAME_PATTERN.test(name)) throw new InputError(`--name: ${TOKEN_NAME_RULE}, not ${JSON.stringify(printable(name))}`, '--name');
  return name;
}

function checkedRole(role: string | undefined): Role | undefined {
  if (role === undefined) return undefined;
  const known: readonly string[] = ROLES;
  if (!known.includes(role)) throw new InputError(`--role must be one of ${ROLES.join(', ')}, not ${JSON.stringify(printable(role))}${didYouMean(role, ROLES)}`, '--role');
  return role as Role;
}

function checkedEnvironments(deps: Pick<EngineDeps, 'loaded'>, environments: readonly string[] | undefined): string[] | undefined {
  if (environments === undefined || environments.length === 0) return undefined;
  const known = Object.keys(deps.loaded.config.environments);
  for (const env of environments) {
    if (!Object.hasOwn(deps.loaded.config.environments, env)) {
      throw new InputError(`--env: unknown environment ${JSON.stringify(printable(env))} (environments: ${known.join(', ')})${didYouMean(env, known)}`, '--env');
    }
  }
  return [...new Set(environments)];
}

function checkedExpiry(expires: string): number {
  const ms = parseDuration(expires);
  if (ms === undefined || ms <= 0) {
    throw new InputError(`--expires must be a duration from now such as 90d, 12h or 30m, not ${JSON.stringify(printable(expires))}`, '--expires');
  }
  return ms;
}

/** What the audit log keeps of a token: who it is for and what it may do; never its text or hash. */
function tokenEvent(deps: TokenDeps, caller: Identity, kind: 'token.created' | 'token.revoked', record: TokenRecord, now: Date): AuditEventInput {
  return {
    kind,
    time: now.toISOString(),
    actor: caller.name,
    project: deps.loaded.config.project,
    data: {
      name: record.name,
      for: record.identity,
      role: record.role ?? null,
      environments: record.environments ?? null,
      expiresAt: record.expiresAt ?? null,
      ...(record.revokedAt === undefined ? {} : { revokedAt: record.revokedAt }),
      ...proof(caller),
    },
  };
}

/** How the actor was known, as gate decisions record it: claimed on this machine, or authenticated (and how: a person by issuer and subject). */
function proof(caller: Identity): Record<string, string> {
  if (caller.via.kind === 'claimed') return { identity: 'claimed' };
  if (caller.via.kind === 'token') return { identity: 'authenticated', via: `token ${caller.via.token}` };
  return { identity: 'authenticated', via: 'oidc', issuer: caller.via.issuer, subject: caller.via.subject };
}
