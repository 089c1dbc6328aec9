import { createServer, type Socket } from 'node:net';

/**
 * A FAKE peer that stalls, for deadline tests: a TCP listener on 127.0.0.1 that accepts every
 * connection and then says nothing (`silent`: no HTTP answer, no SSH banner, no database greeting),
 * or, for HTTP, sends the status line and headers of a JSON answer and then stalls the body
 * (`headers`). Sockets stay open until `close`.
 */
export interface StalledServer {
  readonly port: number;
  readonly url: string;
  /** How many connections it accepted. */
  connections(): number;
  close(): Promise<void>;
}

export async function stalledServer(mode: 'silent' | 'headers' = 'silent'): Promise<StalledServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    if (mode === 'headers') {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{"metadata":');
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
