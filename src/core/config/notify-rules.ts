import { findReferences, isPlainObject, isTemplate } from '../expression/template.js';
import { NOTIFY_EVENTS } from '../notify/notify-events.js';
import { didYouMean } from '../suggest.js';
import type { Finding } from './findings.js';
import type { Path } from './positions.js';
import type { Rule } from './rule.js';

/** Headers whose value is a credential: written in the config, it would be a secret in Git. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);

/**
 * `notify:` and `server:` mean what they say: target names are unique, events and environments
 * exist, URLs are http(s), and nothing secret is written in the file: a password in a URL, an HMAC
 * key, a credential header or a Slack webhook URL must come from `${{ secrets.NAME }}`, the only
 * reference a target may use. Works on the draft, so it reads defensively; shapes are the schema's.
 */
export const notifyIsValid: Rule = ({ config }) => {
  const out: Finding[] = [];
  const server: unknown = config.server;
  if (isPlainObject(server) && typeof server.url === 'string') {
    const problem = serverUrlProblem(server.url);
    if (problem !== undefined) out.push({ path: ['server', 'url'], message: problem });
  }
  const targets: unknown = config.notify;
  if (!Array.isArray(targets)) return out;
  const seen = new Map<string, number>();
  const environments = Object.keys(config.environments);
  targets.forEach((target: unknown, i) => {
    if (!isPlainObject(target)) return;
    const base: Path = ['notify', i];
    if (typeof target.name === 'string') {
      const first = seen.get(target.name);
      if (first !== undefined) out.push({ path: [...base, 'name'], message: `duplicate notify target name ${target.name} (also notify.${first}): deliveries are recorded by name` });
      else seen.set(target.name, i);
    }
    if (Array.isArray(target.events)) {
      target.events.forEach((event: unknown, j) => {
        if (typeof event !== 'string' || (NOTIFY_EVENTS as readonly string[]).includes(event)) return;
        out.push({ path: [...base, 'events', j], message: `unknown event ${event} (events: ${NOTIFY_EVENTS.join(', ')})${didYouMean(event, NOTIFY_EVENTS)}` });
      });
    }
    if (Array.isArray(target.environments)) {
      target.environments.forEach((env: unknown, j) => {
        if (typeof env !== 'string' || Object.hasOwn(config.environments, env)) return;
        out.push({ path: [...base, 'environments', j], message: `unknown environment ${env} (environments: ${environments.join(', ')})${didYouMean(env, environments)}` });
      });
    }
    out.push(...referenceProblems(target, base));
    if (typeof target.url === 'string') out.push(...urlProblems(target.url, [...base, 'url']));
    if (typeof target.secret === 'string' && !isWholeSecret(target.secret)) {
      out.push({ path: [...base, 'secret'], message: 'secret must be a whole ${{ secrets.NAME }}: an HMAC key written in lockstep.yaml is a secret in Git' });
    }
    if (isPlainObject(target.headers)) {
      for (const [header, value] of Object.entries(target.headers)) {
        if (typeof value !== 'string') continue;
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
          out.push({ path: [...base, 'headers', header], target: 'key', message: `${header} is not an HTTP header name` });
        } else if (CREDENTIAL_HEADERS.has(header.toLowerCase()) && !isTemplate(value)) {
          out.push({ path: [...base, 'headers', header], message: `${header} carries a credential: take it from \${{ secrets.NAME }}, not the config` });
        }
      }
    }
  });
  return out;
};

/** A target's templates parse, and read only `secrets.NAME`: a delivery is made without a release or an environment to render. */
function referenceProblems(target: Record<string, unknown>, base: Path): Finding[] {
  const out: Finding[] = [];
  const { refs, errors } = findReferences({ url: target.url, secret: target.secret, headers: target.headers });
  for (const e of errors) out.push({ path: [...base, ...e.at], offset: e.offset, message: e.message });
  for (const ref of refs) {
    if (ref.path[0] === 'secrets' && ref.path.length === 2) continue;
    out.push({ path: [...base, ...ref.at], offset: ref.offset, message: `${ref.path.join('.')} cannot be used in a notify target: it may use only secrets.<NAME>` });
  }
  return out;
}

function isWholeSecret(text: string): boolean {
  return /^\s*\$\{\{\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}\s*$/.test(text);
}

/** A URL written out (templates are checked when it is sent): http(s), no password, and not a Slack webhook in clear. */
function urlProblems(text: string, path: Path): Finding[] {
  if (isTemplate(text)) {
    // Parts around a secret (`https://${{ secrets.HOST }}/hook`) are checked when the URL is complete.
    return [];
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return [{ path, message: 'url is not a URL: write it as https://host/path, or ${{ secrets.NAME }} when it is a secret' }];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return [{ path, message: `url must be http:// or https://, not ${url.protocol}` }];
  if (url.password !== '') return [{ path, message: 'url holds a password: take the whole URL from ${{ secrets.NAME }}, or move the credential to a header from a secret' }];
  if (url.hostname === 'hooks.slack.com') return [{ path, message: 'a Slack webhook URL is a credential: take it from ${{ secrets.NAME }}' }];
  return [];
}

function serverUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'url is not a URL: the server\'s public address, like https://lockstep.example.com';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `url must be http:// or https://, not ${url.protocol}`;
  if (url.username !== '' || url.password !== '') return 'url must not hold a user name or password: it is shown in every notification';
  if (url.search !== '' || url.hash !== '') return 'url must not have a query or fragment: paths are added to it';
  return undefined;
}
