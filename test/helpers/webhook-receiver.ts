import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the receiver saw it, and how it answered. */
export interface Received {
  path: string;
  deliveryId: string;
  event: string;
  contentType: string;
  body: string;
  /** Whether X-Lockstep-Signature was the HMAC of the body under the receiver's key (undefined: no key to check). */
  signatureValid?: boolean;
  signature?: string;
  /** What it answered: a status, or `hung` (no answer). */
  answer: number | 'hung';
}

/**
 * A webhook receiver on loopback, written as a real one would be: it checks every request's
 * X-Lockstep-Signature against its key (per path), and remembers X-Lockstep-Delivery ids. It can be
 * up (204), failing (503), down (nothing listens: connections are refused) or hanging (takes the
 * request, never answers), and come back on the same port.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  mode: 'up' | 'failing' | 'hanging' = 'up';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly hung: ServerResponse[] = [];
  port = 0;

  constructor(private readonly keys: Record<string, string> = {}) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Stops listening and drops every connection: senders get "connection refused" until `start`. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests answered with a 2xx, in the order they arrived. */
  acknowledged(path?: string): Received[] {
    return this.received.filter((r) => typeof r.answer === 'number' && r.answer < 300 && (path === undefined || r.path === path));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = req.url ?? '/';
    const key = this.keys[path.split('?')[0] ?? path];
    const signature = header(req, 'x-lockstep-signature');
    const record: Received = {
      path,
      deliveryId: header(req, 'x-lockstep-delivery') ?? '',
      event: header(req, 'x-lockstep-event') ?? '',
      contentType: header(req, 'content-type') ?? '',
      body,
      ...(signature === undefined ? {} : { signature }),
      ...(key === undefined ? {} : { signatureValid: verify(key, body, signature) }),
      answer: this.mode === 'hanging' ? 'hung' : this.mode === 'failing' ? 503 : 204,
    };
    this.received.push(record);
    if (record.answer === 'hung') {
      this.hung.push(res);
      return;
    }
    res.writeHead(record.answer).end();
  }

  async close(): Promise<void> {
    for (const res of this.hung.splice(0)) res.destroy();
    await this.down();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** How a receiver checks a delivery: HMAC-SHA256 of the raw body, compared in constant time. */
export function verify(key: string, body: string, signature: string | undefined): boolean {
  if (signature === undefined || !signature.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', key).update(body).digest('hex'), 'utf8');
  const given = Buffer.from(signature.slice('sha256='.length), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
