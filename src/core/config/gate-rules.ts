import { findReferences, isPlainObject } from '../expression/template.js';
import { checkCel, type CelContext } from '../gates/cel.js';
import { parseWindow, type WindowInput } from '../gates/windows.js';
import type { EnvironmentConfig, ProjectConfig } from '../model.js';
import type { Finding } from './findings.js';
import type { Path } from './positions.js';
import type { Rule } from './rule.js';

/** What a verify check's url, headers, body and command may reference. */
export const VERIFY_REFERENCES = ['env.name', 'env.vars.<name>', 'release.id', 'secrets.<NAME>'] as const;

/**
 * Gates mean what they say: groups named in `from` and `overrideBy` exist, an approval count can be
 * reached, windows parse (days, times, IANA zones), policies and verify expectations are CEL of type
 * bool over the documented variables, and each verify check is exactly one of http or command. The
 * schema has checked the shapes; this works on the draft, so it reads defensively.
 */
export const gatesAreValid: Rule = ({ config }) => {
  const out: Finding[] = [];
  for (const env of Object.values(config.environments)) {
    const gates: unknown = env.gates;
    if (!isPlainObject(gates)) continue;
    const base: Path = ['environments', env.name, 'gates'];
    out.push(...approvalProblems(gates.approvals, [...base, 'approvals'], config));
    out.push(...peopleProblems(gates.overrideBy, [...base, 'overrideBy'], config));
    list(gates.windows).forEach((w, i) => out.push(...windowProblems(w, [...base, 'windows', i])));
    list(gates.policy).forEach((p, i) => {
      if (isPlainObject(p) && typeof p.expr === 'string') out.push(...celProblems('policy', p.expr, [...base, 'policy', i, 'expr']));
    });
    list(gates.verify).forEach((v, i) => out.push(...verifyProblems(v, [...base, 'verify', i], env)));
  }
  return out;
};

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * `from`/`overrideBy`/`access:` lists: every `group:<name>` names a group of the config. With
 * `server.oidc`, a group may also come from the provider's groups claim, which only exists at sign-in:
 * any name is taken then.
 */
export function peopleProblems(value: unknown, path: Path, config: ProjectConfig): Finding[] {
  const out: Finding[] = [];
  if (providerGroupsPossible(config)) return out;
  list(value).forEach((entry, i) => {
    if (typeof entry !== 'string' || !entry.startsWith('group:')) return;
    const group = entry.slice('group:'.length);
    if (!Object.hasOwn(config.groups, group)) {
      const known = Object.keys(config.groups);
      out.push({ path: [...path, i], message: `unknown group ${group}: ${known.length > 0 ? `groups are ${known.join(', ')}` : 'define it under groups:'}` });
    }
  });
  return out;
}

function approvalProblems(value: unknown, path: Path, config: ProjectConfig): Finding[] {
  if (!isPlainObject(value)) return [];
  const out = peopleProblems(value.from, [...path, 'from'], config);
  if (out.length > 0 || typeof value.count !== 'number' || !Array.isArray(value.from)) return out;
  // A group the provider fills has members nobody can count here.
  if (providerGroupsPossible(config) && list(value.from).some((e) => typeof e === 'string' && e.startsWith('group:'))) return out;
  const people = expandPeople(list(value.from).filter((e): e is string => typeof e === 'string'), config.groups);
  if (value.count > people.size) {
    out.push({
      path: [...path, 'count'],
      message: `count is ${value.count} but only ${people.size} ${people.size === 1 ? 'person' : 'people'} may approve (${[...people].join(', ')}): no promotion could ever pass`,
    });
  }
  return out;
}

/** Whether people sign in with a provider (`server.oidc`), whose groups claim may name groups `groups:` does not. */
function providerGroupsPossible(config: ProjectConfig): boolean {
  const server: unknown = config.server;
  return isPlainObject(server) && isPlainObject(server.oidc);
}

/**
 * Whether `entries` (people and `group:<name>`) name `actor`: directly, through `groups:`, or through
 * a group the identity provider says the actor is in (`providerGroups`, from the groups claim).
 */
export function listsPerson(
  entries: readonly string[],
  groups: Readonly<Record<string, readonly string[]>>,
  actor: string,
  providerGroups: readonly string[] = [],
): boolean {
  if (expandPeople(entries, groups).has(actor.toLowerCase())) return true;
  return providerGroups.some((g) => entries.includes(`group:${g}`));
}

/** People named directly and through `group:<name>`, lower-cased, in order of appearance. */
export function expandPeople(entries: readonly string[], groups: Readonly<Record<string, readonly string[]>>): Set<string> {
  const out = new Set<string>();
  for (const entry of entries) {
    if (entry.startsWith('group:')) for (const member of groups[entry.slice('group:'.length)] ?? []) out.add(member.toLowerCase());
    else out.add(entry.toLowerCase());
  }
  return out;
}

function windowProblems(value: unknown, path: Path): Finding[] {
  if (!isPlainObject(value)) return [];
  const input: WindowInput = {};
  for (const key of ['allow', 'deny', 'timezone', 'reason'] as const) {
    const v = value[key];
    if (typeof v === 'string') input[key] = v;
    else if (v !== undefined) return []; // the schema reported it
  }
  const parsed = parseWindow(input);
  if (parsed.ok) return [];
  return [{ path: parsed.field === 'window' ? path : [...path, parsed.field], message: parsed.message }];
}

function celProblems(context: CelContext, expression: string, path: Path): Finding[] {
  const checked = checkCel(context, expression);
  if (checked.ok) return [];
  return [{ path, message: `CEL: ${checked.message}`, character: checked.offset }];
}

function verifyProblems(value: unknown, path: Path, env: EnvironmentConfig): Finding[] {
  if (!isPlainObject(value)) return [];
  const out: Finding[] = [];
  const kinds = ['http', 'command'].filter((k) => value[k] !== undefined);
  if (kinds.length !== 1) {
    out.push({ path, message: kinds.length === 0 ? 'a verify check needs http or command' : 'a verify check is either http or command, not both' });
  }
  const http = value.http;
  if (isPlainObject(http) && typeof http.expect === 'string') out.push(...celProblems('verify', http.expect, [...path, 'http', 'expect']));
  const { refs, errors } = findReferences({ http: isPlainObject(http) ? { ...http, expect: undefined } : undefined, command: value.command });
  for (const e of errors) out.push({ path: [...path, ...e.at], offset: e.offset, message: e.message });
  for (const ref of refs) {
    const [root, ...rest] = ref.path;
    const fine =
      (root === 'env' && rest.length === 1 && rest[0] === 'name') ||
      (root === 'release' && rest.length === 1 && rest[0] === 'id') ||
      (root === 'secrets' && rest.length === 1) ||
      (root === 'env' && rest[0] === 'vars' && rest.length === 2 && Object.hasOwn(env.vars, rest[1] ?? ''));
    if (!fine) {
      const message =
        root === 'env' && rest[0] === 'vars'
          ? `env.vars.${rest[1] ?? ''} is not defined in environment ${env.name}`
          : `${ref.path.join('.')} cannot be used in a verify check: it may use ${VERIFY_REFERENCES.join(', ')}`;
      out.push({ path: [...path, ...ref.at], offset: ref.offset, message });
    }
  }
  return out;
}
