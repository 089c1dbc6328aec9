import type { AuditEntry } from '../core/audit.js';
import type { StepLogLine } from '../store/store.js';

/** One dispatched Server-Sent Event. */
export interface SseMessage {
  event: string;
  data: string;
  /** The last id the stream set, at or before this message. */
  id: string | undefined;
}

/** What the server's event stream carries (src/server/routes/events.ts). */
export type ServerEvent = { kind: 'audit'; entry: AuditEntry } | { kind: 'log'; line: StepLogLine };

/**
 * Server-Sent Events, parsed as the HTML standard says (lines end in CRLF, LF or CR; `field: value`;
 * `:` starts a comment; a blank line dispatches). A block with an `id:` and no data dispatches
 * nothing but moves `lastEventId`, as EventSource does: the server starts a stream from `now` so.
 * Small enough to keep here rather than depend on a package for it.
 */
export class SseParser {
  lastEventId: string | undefined;
  private buffer = '';
  private data: string[] = [];
  private event = '';

  push(text: string): SseMessage[] {
    this.buffer += text;
    const messages: SseMessage[] = [];
    for (;;) {
      const end = /\r\n|\r|\n/.exec(this.buffer);
      if (end === null) break;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (end[0] === '\r' && end.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, end.index);
      this.buffer = this.buffer.slice(end.index + end[0].length);
      const message = this.line(line);
      if (message !== undefined) messages.push(message);
    }
    return messages;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    return undefined;
  }

  private dispatch(): SseMessage | undefined {
    const data = this.data;
    const event = this.event;
    this.data = [];
    this.event = '';
    if (data.length === 0) return undefined;
    return { event: event === '' ? 'message' : event, data: data.join('\n'), id: this.lastEventId };
  }
}

/** The connection could not be made or was lost: worth trying again (an HTTP refusal is not). */
export class ConnectionLost extends Error {
  override readonly name = 'ConnectionLost';
}

/** Opens the stream: from now on without an id, else after it (`Last-Event-ID`). */
export type Connect = (lastEventId: string | undefined, signal: AbortSignal) => Promise<ReadableStream<Uint8Array>>;

export interface SubscriptionOptions {
  /** How many times in a row a lost connection is made again before giving up. */
  retries?: number;
  /** The first wait before connecting again; doubled each time, up to 2 s. */
  backoffMs?: number;
}

/**
 * The project's events from the moment `open` resolves, in commit order, none missed and none twice:
 * a lost connection is made again with the last id received as Last-Event-ID, so the server goes on
 * exactly where it stopped. `close` ends it (a pending `next` then rejects).
 */
export class EventSubscription {
  private readonly parser = new SseParser();
  private readonly controller = new AbortController();
  private readonly decoder = new TextDecoder();
  private readonly queue: ServerEvent[] = [];
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(
    private readonly connect: Connect,
    private readonly options: SubscriptionOptions = {},
  ) {}

  /** Connects, and resolves once the server said where the stream starts: every event after that comes. */
  async open(): Promise<void> {
    this.reader = (await this.connect(undefined, this.controller.signal)).getReader();
    while (this.parser.lastEventId === undefined)
      if (!(await this.read())) throw new ConnectionLost('the event stream ended before it said where it starts');
  }

  /** The next event; waits for it, connecting again as often as it takes. */
  async next(): Promise<ServerEvent> {
    let failures = 0;
    for (;;) {
      const event = this.queue.shift();
      if (event !== undefined) return event;
      let more = false;
      try {
        more = await this.read();
        if (more) failures = 0;
      } catch (error) {
        if (this.controller.signal.aborted) throw error;
      }
      if (!more) await this.reconnect(++failures);
    }
  }

  close(): void {
    this.controller.abort();
  }

  /** Reads one chunk into the queue; false when the stream ended (the server stopped, the connection dropped). */
  private async read(): Promise<boolean> {
    if (this.reader === undefined) return false;
    const { done, value } = await this.reader.read();
    if (done) return false;
    for (const message of this.parser.push(this.decoder.decode(value, { stream: true }))) {
      if (message.event === 'audit') this.queue.push({ kind: 'audit', entry: JSON.parse(message.data) as AuditEntry });
      else if (message.event === 'log') this.queue.push({ kind: 'log', line: JSON.parse(message.data) as StepLogLine });
    }
    return true;
  }

  private async reconnect(failures: number): Promise<void> {
    const retries = this.options.retries ?? 8;
    this.reader = undefined;
    for (let attempt = failures; ; attempt++) {
      if (attempt > retries) throw new ConnectionLost(`the event stream was lost and could not be resumed after ${retries} attempts`);
      const wait = Math.min(2000, (this.options.backoffMs ?? 100) * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.controller.signal.aborted) throw new ConnectionLost('the event stream was closed');
      try {
        this.reader = (await this.connect(this.parser.lastEventId, this.controller.signal)).getReader();
        return;
      } catch (error) {
        // Refused (the token was revoked meanwhile, say): nothing a retry changes.
        if (!(error instanceof ConnectionLost)) throw error;
      }
    }
  }
}
