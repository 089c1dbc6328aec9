import { isPlainObject } from '../expression/template.js';
import { isLoopbackUrl } from '../oidc.js';
import type { Finding } from './findings.js';
import type { Rule } from './rule.js';

/** A whole `${{ secrets.NAME }}`: the only way a client secret may be written. */
const SECRET_REFERENCE = /^\s*\$\{\{\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}\s*$/;

/**
 * `server.oidc` means what it says: the issuer is an https URL (http only on loopback, for a
 * provider on this machine) without query or fragment, the client secret comes from a secret (a
 * config lives in Git; a secret written in it would be everyone's), and the scopes ask for
 * `openid`. Works on the draft, so it reads defensively; shapes are the schema's.
 */
export const oidcIsValid: Rule = ({ config }) => {
  const server: unknown = config.server;
  const oidc = isPlainObject(server) ? server.oidc : undefined;
  if (!isPlainObject(oidc)) return [];
  const base = ['server', 'oidc'];
  const out: Finding[] = [];
  if (typeof oidc.issuer === 'string' && oidc.issuer !== '') {
    const problem = issuerProblem(oidc.issuer);
    if (problem !== undefined) out.push({ path: [...base, 'issuer'], message: problem });
  }
  if (typeof oidc.clientSecret === 'string' && !SECRET_REFERENCE.test(oidc.clientSecret)) {
    // Never quote the value: it may be the secret itself.
    out.push({
      path: [...base, 'clientSecret'],
      message:
        'clientSecret must come from a secret, written as ${{ secrets.NAME }} (set NAME in the environment or the secrets file of lockstep serve)',
    });
  }
  if (Array.isArray(oidc.scopes) && !oidc.scopes.includes('openid')) {
    out.push({
      path: [...base, 'scopes'],
      message: 'scopes must include openid: without it the provider signs nobody in with OpenID Connect',
    });
  }
  return out;
};

function issuerProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'issuer must be a URL, like https://login.example.com';
  }
  if (url.username !== '' || url.password !== '') return 'issuer must not carry a user name or password';
  if (url.search !== '' || url.hash !== '')
    return 'issuer must not have a query or fragment (OpenID Connect Discovery forbids them)';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackUrl(url)) return undefined;
  return `issuer must be an https URL (http only for a provider on this machine: 127.0.0.1, localhost, [::1]), not ${url.protocol}`;
}
