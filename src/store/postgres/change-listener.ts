import { createHash } from 'node:crypto';
import pg from 'pg';
import type { ChangeNotice } from '../store.js';

/** The longest channel name PostgreSQL takes (NAMEDATALEN - 1). */
const MAX_CHANNEL = 63;
/** How long the listener waits before connecting again, doubling from the first to the last. */
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * The channel commits on a state announce themselves on: one per schema, so projects sharing a
 * database in schemas of their own do not wake each other. NOTIFY is per database already.
 */
export function changeChannel(schema: string | undefined): string {
  const name = `lockstep_${schema ?? 'default'}`;
  return name.length <= MAX_CHANNEL ? name : `lockstep_${createHash('sha256').update(schema ?? '').digest('hex').slice(0, 32)}`;
}

/** A notice as sent: one letter per flag set (`w`ork, `a`udit, `l`ogs). */
export function noticePayload(notice: ChangeNotice): string {
  return `${notice.work ? 'w' : ''}${notice.audit ? 'a' : ''}${notice.logs ? 'l' : ''}`;
}

function parseNotice(payload: string | undefined): ChangeNotice {
  const text = payload ?? '';
  return { work: text.includes('w'), audit: text.includes('a'), logs: text.includes('l') };
}

const EVERYTHING: ChangeNotice = { work: true, audit: true, logs: true };

/**
 * One dedicated connection that LISTENs on the state's channel and passes notices to listeners (see
 * Store.onChange). Opened with the first listener, closed with the store. When the connection
 * breaks (PostgreSQL restarted, a network failure), it connects again with backoff and then wakes
 * every listener once, since notices sent meanwhile are lost.
 */
export class ChangeListener {
  private readonly listeners = new Set<(notice: ChangeNotice) => void>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delayMs = RECONNECT_FIRST_MS;
  private closed = false;
  /** A connection was up before: the next one may have missed notices. */
  private wasConnected = false;

  constructor(
    /** The connection string (may hold a password: only ever given to the driver). */
    private readonly url: string,
    private readonly channel: string,
  ) {}

  subscribe(listener: (notice: ChangeNotice) => void): () => void {
    this.listeners.add(listener);
    if (this.client === undefined && this.connecting === undefined && this.timer === undefined) this.connect();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** True while the LISTEN connection is up. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connect(): void {
    this.timer = undefined;
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, keepAlive: true });
    let broken = false;
    const lost = (): void => {
      if (broken) return;
      broken = true;
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      this.retry();
    };
    // Without an error listener a dropped connection would crash the process.
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      if (message.channel === this.channel) this.emit(parseNotice(message.payload));
    });
    this.connecting = (async () => {
      try {
        await client.connect();
        // A channel name is an identifier: quoted, it is taken as written (it holds only [a-z0-9_]).
        await client.query(`LISTEN "${this.channel}"`);
        if (broken || this.closed) {
          await client.end().catch(() => undefined);
          return;
        }
        this.client = client;
        this.delayMs = RECONNECT_FIRST_MS;
        if (this.wasConnected) this.emit(EVERYTHING);
        this.wasConnected = true;
      } catch {
        lost();
      } finally {
        this.connecting = undefined;
      }
    })();
  }

  private retry(): void {
    if (this.closed || this.timer !== undefined) return;
    // Nothing was heard while it was down: whoever listens looks again once it is back (see connect).
    this.wasConnected = true;
    this.timer = setTimeout(() => this.connect(), this.delayMs);
    this.timer.unref();
    this.delayMs = Math.min(this.delayMs * 2, RECONNECT_MAX_MS);
  }

  private emit(notice: ChangeNotice): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(notice);
      } catch {
        // Listeners must not throw; one that does must not keep the others from hearing.
      }
    }
  }
}
