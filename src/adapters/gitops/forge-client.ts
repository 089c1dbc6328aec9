import { limitText } from '../../core/duration.js';
import { StepFailure } from '../../core/errors.js';
import type { ForgeSpec } from './gitops-spec.js';

/**
 * Opens a pull request on GitHub or Gitea (their `POST /repos/{owner}/{repo}/pulls` takes the same
 * fields). Optional: pull-request mode detects the merge through git itself, so this only saves a
 * person the clicks. An open pull request for the same branches is reused.
 */
/** Each forge request, body included. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface PullRequestRequest {
  forge: ForgeSpec;
  /** owner/name */
  repository: string;
  head: string;
  base: string;
  title: string;
  body: string;
  signal: AbortSignal;
  fetch?: typeof fetch;
}

export interface OpenedPullRequest {
  url: string;
  /** false: one was open already for these branches. */
  created: boolean;
}

interface PullRequestJson {
  html_url?: unknown;
  head?: { ref?: unknown };
  base?: { ref?: unknown };
}

export async function openPullRequest(request: PullRequestRequest): Promise<OpenedPullRequest> {
  const { forge } = request;
  const api = forge.api.replace(/\/+$/, '');
  const pulls = `${api}/repos/${request.repository}/pulls`;
  const call = (method: string, url: string, body?: unknown): Promise<Response> =>
    (request.fetch ?? fetch)(url, {
      method,
      headers: {
        Accept: forge.type === 'github' ? 'application/vnd.github+json' : 'application/json',
        Authorization: `token ${forge.token}`,
        'Content-Type': 'application/json',
        'User-Agent': 'lockstep',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      // Covers the body too: the caller reads it under the same signal.
      signal: AbortSignal.any([request.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      redirect: 'error',
    });
  const fail = async (response: Response, what: string): Promise<never> => {
    const said = await response.text().then(
      (t) => {
        try {
          const json = JSON.parse(t) as { message?: unknown };
          return typeof json.message === 'string' ? json.message : t.slice(0, 200);
        } catch {
          return t.slice(0, 200);
        }
      },
      () => '',
    );
    throw new StepFailure(
      `could not ${what} on ${forge.type} (${request.repository}): HTTP ${response.status}${said ? `: ${said}` : ''}`,
      response.status >= 500,
    );
  };

  let response: Response;
  try {
    response = await call('POST', pulls, { title: request.title, head: request.head, base: request.base, body: request.body });
  } catch (error) {
    if (request.signal.aborted) throw error;
    if ((error as Error).name === 'TimeoutError') {
      throw new StepFailure(`${forge.type}: no answer from ${pulls} within ${limitText(REQUEST_TIMEOUT_MS)} (POST pull request)`, true, { cause: error });
    }
    throw new StepFailure(`could not reach ${forge.type} at ${api} to open the pull request: ${(error as Error).message}`, true, { cause: error });
  }
  if (response.status === 201 || response.status === 200) {
    const json = (await response.json()) as PullRequestJson;
    return { url: typeof json.html_url === 'string' ? json.html_url : pulls, created: true };
  }
  // GitHub says 422, Gitea 409, when a pull request for these branches is open already.
  if (response.status === 422 || response.status === 409) {
    const list = await call('GET', `${pulls}?state=open&per_page=100&limit=50`);
    if (!list.ok) return fail(list, 'list the open pull requests');
    const open = (await list.json()) as PullRequestJson[];
    const same = Array.isArray(open) ? open.find((p) => p.head?.ref === request.head && p.base?.ref === request.base) : undefined;
    if (same && typeof same.html_url === 'string') return { url: same.html_url, created: false };
  }
  return fail(response, 'open the pull request');
}
