import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A FAKE CI server on a local port, shaped like a typical "trigger a run, then poll it" API:
 * `POST /api/jobs/:job/runs` → 201 `{ id, url }`; `GET /api/runs/:id` → `{ status, conclusion, artifact }`.
 * A run completes after `pollsUntilDone` polls. Knobs make it fail the ways real servers do.
 */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeCiServer {
  url: string;
  requests: RecordedRequest[];
  /** The `ref` of the last run that completed successfully: what "runs" now. */
  deployed: string | undefined;
  /** Polls of a run before it is completed. */
  pollsUntilDone: number;
  /** How a completed run concludes. */
  conclusion: 'success' | 'failure';
  /** Status codes the next polls answer with before answering normally (503, 429, …). */
  pollErrors: number[];
  /** Status codes the next triggers answer with. */
  triggerErrors: number[];
  close(): Promise<void>;
}

export async function startFakeCiServer(): Promise<FakeCiServer> {
  const runs = new Map<string, { ref: string; polls: number }>();
  let next = 1;
  const state: Omit<FakeCiServer, 'url' | 'close'> = {
    requests: [],
    deployed: undefined,
    pollsUntilDone: 2,
    conclusion: 'success',
    pollErrors: [],
    triggerErrors: [],
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const trigger = /^\/api\/jobs\/([^/]+)\/runs$/.exec(req.url ?? '');
      const status = /^\/api\/runs\/([^/?]+)$/.exec(req.url ?? '');
      if (req.method === 'POST' && trigger) {
        const error = state.triggerErrors.shift();
        if (error !== undefined) return json(res, error, { message: 'trigger error' }, { 'retry-after': '0' });
        if (req.headers.authorization !== 'Bearer ci-token-very-secret')
          return json(res, 401, { message: 'Bad credentials' });
        const { ref } = JSON.parse(body) as { ref: string };
        const id = `run-${next++}`;
        runs.set(id, { ref, polls: 0 });
        const base = `http://${req.headers.host ?? ''}`;
        return json(res, 201, { id, url: `${base}/api/runs/${id}` }, { location: `${base}/api/runs/${id}` });
      }
      if (req.method === 'GET' && status) {
        const error = state.pollErrors.shift();
        if (error !== undefined) return json(res, error, { message: 'poll error' }, { 'retry-after': '0' });
        const run = runs.get(decodeURIComponent(status[1] ?? ''));
        if (!run) return json(res, 404, { message: 'Not Found' });
        run.polls += 1;
        if (run.polls < state.pollsUntilDone) return json(res, 200, { status: 'in_progress', conclusion: null });
        if (state.conclusion === 'success') state.deployed = run.ref;
        return json(res, 200, {
          status: 'completed',
          conclusion: state.conclusion,
          artifact: { name: `app-${run.ref}.tar.gz`, size: 1234 },
          ref: run.ref,
        });
      }
      json(res, 404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const fake = state as FakeCiServer;
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
