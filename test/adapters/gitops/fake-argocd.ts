import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A FAKE Argo CD API server for tests: it speaks the documented REST API (the paths, bodies and
 * v1alpha1Application fields of Argo CD's swagger.json) on a local port, so the real client is
 * exercised over real HTTP. It is not Argo CD: each test scripts how the Application's status
 * evolves (`onGet`, `onSync`), and can make requests fail (`failures`).
 */
export interface FakeArgoCd {
  url: string;
  /** A token the server accepts (an account or project token). */
  token: string;
  /** username → password accepted by POST /api/v1/session. */
  users: Record<string, string>;
  /** The Application, as JSON; tests change its status. */
  app: FakeApplication;
  requests: FakeRequest[];
  /** Called before each GET of the Application is answered. */
  onGet: (app: FakeApplication) => void;
  /** Called when a sync is requested; the default starts a Running operation. */
  onSync: (app: FakeApplication, body: unknown) => void;
  /** HTTP statuses to answer the next requests with, instead of serving them. */
  failures: number[];
  close(): Promise<void>;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  body: unknown;
}

export interface FakeApplication {
  metadata: { name: string; namespace: string };
  spec: { project: string; source: { repoURL: string; path: string; targetRevision: string }; syncPolicy?: { automated?: { prune?: boolean; selfHeal?: boolean } } };
  status: {
    sync: { status: string; revision?: string };
    health: { status: string; message?: string };
    operationState?: { phase: string; message?: string; startedAt: string; finishedAt?: string; syncResult?: { revision: string } };
    resources?: { kind: string; name: string; namespace: string; health?: { status: string; message?: string } }[];
    conditions?: { type: string; message: string }[];
  };
}

export async function fakeArgoCd(app: string, revision: string): Promise<FakeArgoCd> {
  const sessions = new Set<string>();
  const fake: FakeArgoCd = {
    url: '',
    token: 'argocd-account-token-0123456789',
    users: { admin: 'correct horse battery staple' },
    app: {
      metadata: { name: app, namespace: 'argocd' },
      spec: { project: 'default', source: { repoURL: 'https://git.example.com/acme/deploy.git', path: 'apps/api/overlays/prod', targetRevision: 'main' } },
      status: { sync: { status: 'Synced', revision }, health: { status: 'Healthy' } },
    },
    requests: [],
    onGet: () => undefined,
    onSync: (a) => {
      a.status.operationState = { phase: 'Running', message: 'syncing', startedAt: new Date().toISOString() };
    },
    failures: [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  // Argo CD's error body is a runtimeError: { error, code (gRPC), message }.
  const error = (res: ServerResponse, status: number, code: number, message: string): void => send(res, status, { error: message, code, message });
  const authorized = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    return token === fake.token || sessions.has(token);
  };

  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      let body: unknown;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        body = raw;
      }
      fake.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization,
        body,
      });
      const failure = fake.failures.shift();
      if (failure !== undefined) return error(res, failure, 14, `upstream connect error (${failure})`);

      if (req.method === 'POST' && url.pathname === '/api/v1/session') {
        const { username, password } = (body ?? {}) as { username?: string; password?: string };
        if (username === undefined || fake.users[username] !== password) return error(res, 401, 16, 'Invalid username or password');
        const token = `session-${sessions.size + 1}`;
        sessions.add(token);
        return send(res, 200, { token });
      }
      const match = /^\/api\/v1\/applications\/([^/]+)(\/sync)?$/.exec(url.pathname);
      if (!match) return error(res, 404, 5, 'Not Found');
      if (!authorized(req)) return error(res, 401, 16, 'invalid session: token signature is invalid');
      // Argo CD answers 403 for an Application the account cannot see, including one that does not exist.
      if (decodeURIComponent(match[1] ?? '') !== fake.app.metadata.name) return error(res, 403, 7, 'permission denied');
      if (match[2] === '/sync' && req.method === 'POST') {
        if (fake.app.status.operationState?.phase === 'Running') return error(res, 400, 9, 'another operation is already in progress');
        fake.onSync(fake.app, body);
        return send(res, 200, fake.app);
      }
      if (match[2] === undefined && req.method === 'GET') {
        fake.onGet(fake.app);
        return send(res, 200, fake.app);
      }
      return error(res, 405, 12, 'Method Not Allowed');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
