/**
 * A browser, as far as a sign-in needs one: real HTTP through fetch with redirects followed by hand,
 * a cookie jar per host that honours Path, Max-Age and expiry, and forms filled in as a person
 * would (the provider's login and consent pages). Every Set-Cookie it received is kept for the
 * tests to read its flags.
 */
interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

export interface BrowserResponse {
  status: number;
  url: string;
  headers: Headers;
  text: string;
}

export class Browser {
  private readonly jar = new Map<string, Map<string, StoredCookie>>();
  /** Every Set-Cookie header received, in order, with the URL that sent it. */
  readonly setCookies: { url: string; header: string }[] = [];

  /** The value of a cookie the jar holds for `url`'s host, if any. */
  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).host)?.get(name)?.value;
  }

  /** Sends one request (no redirect followed), with the jar's cookies; stores what comes back. */
  async request(
    url: string,
    init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  ): Promise<BrowserResponse> {
    const target = new URL(url);
    const cookies = [...(this.jar.get(target.host)?.values() ?? [])].filter((c) => target.pathname.startsWith(c.path));
    const response = await fetch(target, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: {
        ...(cookies.length > 0 ? { Cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; ') } : {}),
        ...init.headers,
      },
      body: init.body,
    });
    for (const header of response.headers.getSetCookie()) this.store(target, header);
    return { status: response.status, url: target.href, headers: response.headers, text: await response.text() };
  }

  /**
   * Follows redirects from `url`, filling in each form the provider shows (`fill` gives the fields
   * of a form by its hidden `prompt`), until an answer is no redirect and no form of the provider,
   * or the next location starts with `stopAt` (a redirect URI nobody listens on).
   */
  async navigate(
    url: string,
    fill: (prompt: string) => Record<string, string>,
    options: { stopAt?: string } = {},
  ): Promise<BrowserResponse> {
    let next: { url: string; method: string; body?: string } = { url, method: 'GET' };
    for (let hops = 0; hops < 30; hops++) {
      if (options.stopAt !== undefined && next.url.startsWith(options.stopAt))
        return { status: 0, url: next.url, headers: new Headers(), text: '' };
      const response = await this.request(next.url, {
        method: next.method,
        body: next.body,
        headers: next.body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      const location = response.headers.get('Location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        next = { url: new URL(location, response.url).href, method: 'GET' };
        continue;
      }
      const form = formOf(response.text);
      if (response.status !== 200 || form === undefined) return response;
      next = {
        url: new URL(form.action, response.url).href,
        method: 'POST',
        body: new URLSearchParams({ ...form.hidden, ...fill(form.hidden.prompt ?? '') }).toString(),
      };
    }
    throw new Error(`more than 30 redirects from ${url}`);
  }

  private store(from: URL, header: string): void {
    this.setCookies.push({ url: from.href, header });
    const [pair = '', ...attributes] = header.split(';').map((p) => p.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    let path = '/';
    let gone = value === '';
    for (const attribute of attributes) {
      const [key = '', val = ''] = attribute.split('=');
      if (key.toLowerCase() === 'path') path = val;
      if (key.toLowerCase() === 'max-age' && Number(val) <= 0) gone = true;
      if (key.toLowerCase() === 'expires' && Date.parse(val) <= Date.now()) gone = true;
    }
    const cookies = this.jar.get(from.host) ?? new Map<string, StoredCookie>();
    this.jar.set(from.host, cookies);
    if (gone) cookies.delete(name);
    else cookies.set(name, { name, value, path });
  }
}

/** The first form of a page: its action and hidden fields. */
function formOf(html: string): { action: string; hidden: Record<string, string> } | undefined {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (form === null) return undefined;
  const hidden: Record<string, string> = {};
  for (const input of (form[2] ?? '').matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1];
    if (name !== undefined) hidden[name] = decodeEntities(value ?? '');
  }
  return { action: decodeEntities(form[1] ?? ''), hidden };
}

function decodeEntities(text: string): string {
  return text
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#x2F;/g, '/')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** Fills the provider's pages as `login` would: any password on the login page, Continue on consent. */
export function asPerson(login: string): (prompt: string) => Record<string, string> {
  const none: Record<string, string> = {};
  return (prompt) => (prompt === 'login' ? { login, password: 'any password' } : none);
}
