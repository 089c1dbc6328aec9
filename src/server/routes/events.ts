import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { errorMessage } from '../../core/errors.js';
import { sleepUntilAborted } from '../../core/sleep.js';
import {
  EVENT_KINDS,
  eventId,
  eventsAfter,
  headCursor,
  matches,
  parseEventId,
  START,
  type EventCursor,
  type EventFilter,
  type EventKind,
  type ProjectEvent,
} from '../../engine/events.js';
import type { Store } from '../../store/store.js';
import { guard } from '../guard.js';
import { ERROR_RESPONSES, ProjectParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

/** How often an open stream looks for new events in a store that cannot tell it of commits (SQLite). */
const POLL_MS = 200;
/**
 * How often it looks anyway in a store that tells it (PostgreSQL's LISTEN/NOTIFY, Store.onChange):
 * only a safety net, since a notice wakes it as soon as another process (or this one) commits.
 */
const NOTICED_POLL_MS = 2_000;
/** A comment line this often keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
const PAGE = 500;

const EVENT_ID_TEXT = z.string().regex(/^\s*\d{1,15}-\d{1,15}\s*$/, 'an event id is AUDITSEQ-LOGID, like 12-340');

/**
 * The event stream (Server-Sent Events): every audit entry and step log line of the project, in the
 * order they were committed, as they happen. It reads the store, not the engine's memory, so it
 * carries what any process writes to the project's state (a CLI at a terminal, another server), and
 * an event id is a position in the store: resuming from one, after a restart too, gives exactly the
 * events after it.
 */
export function eventRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'streamEvents',
      method: 'get',
      path: '/api/v1/projects/{project}/events',
      tags: ['events'],
      summary:
        'Server-Sent Events: every audit entry (`event: audit`) and step log line (`event: log`), as they are committed; resumable with Last-Event-ID',
      middleware: guard('streamEvents', options),
      request: {
        params: ProjectParams,
        headers: z.object({
          'last-event-id': EVENT_ID_TEXT.optional().openapi({
            description: 'resume after this event (the `id:` of the last one received)',
          }),
        }),
        query: z.object({
          after: z
            .union([EVENT_ID_TEXT, z.literal('now')])
            .optional()
            .openapi({
              description:
                'resume after this event, for clients that cannot set Last-Event-ID (the header wins); `now`: only what is committed from now on, the stream starting with an `id:` line that says where that is',
              example: '12-340',
            }),
          promotion: z
            .string()
            .min(1)
            .max(200)
            .optional()
            .openapi({ description: "only this promotion's events (id or a unique prefix)" }),
          kinds: z
            .string()
            .regex(/^(audit|log)(,(audit|log))*$/, 'a comma-separated list of audit, log')
            .optional()
            .openapi({ description: 'which kinds of event (default both)', example: 'audit' }),
        }),
      },
      responses: {
        200: {
          content: { 'text/event-stream': { schema: z.string() } },
          description:
            'a stream of `id: AUDITSEQ-LOGID`, `event: audit|log`, `data: JSON` messages; a comment line every 15 s when quiet',
        },
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const header = c.req.valid('header')['last-event-id'];
      const store = c.var.project.store;
      // `now` is resolved here, before the response starts: events committed after this request was
      // answered are in the stream, whenever the client reads it.
      const fromNow = header === undefined && query.after === 'now';
      const cursor =
        header !== undefined
          ? parseEventId(header, 'header.last-event-id')
          : query.after === 'now'
            ? await headCursor(store)
            : query.after !== undefined
              ? parseEventId(query.after, 'query.after')
              : START;
      const filter: EventFilter = {
        kinds: query.kinds === undefined ? EVENT_KINDS : (query.kinds.split(',') as EventKind[]),
        promotionId: query.promotion === undefined ? undefined : (await store.getPromotion(query.promotion)).id,
      };
      const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
      const project = c.var.project.name;
      return streamSSE(c, async (stream) => {
        // Ends on the client's disconnect and on the server's shutdown, whichever comes first.
        const ended = new AbortController();
        const end = (): void => ended.abort();
        stream.onAbort(end);
        c.req.raw.signal.addEventListener('abort', end, { once: true });
        options.shutdown?.addEventListener('abort', end, { once: true });
        try {
          if (options.shutdown?.aborted || c.req.raw.signal.aborted) return;
          // An id alone dispatches no event (EventSource only takes it as its Last-Event-ID): a client
          // that reconnects before any event arrived resumes from here, not from the start.
          if (fromNow) await stream.write(`id: ${eventId(cursor)}\n\n`);
          await follow(store, cursor, filter, stream, {
            pollMs: options.eventStream?.pollMs ?? POLL_MS,
            heartbeatMs: options.eventStream?.heartbeatMs ?? HEARTBEAT_MS,
            signal: ended.signal,
          });
        } catch (error) {
          // The client sees the stream end (and reconnects with its Last-Event-ID); why is for the server log.
          if (!ended.signal.aborted) log(`${project}: event stream: ${errorMessage(error)}`);
        } finally {
          c.req.raw.signal.removeEventListener('abort', end);
          options.shutdown?.removeEventListener('abort', end);
        }
      });
    },
  );
}

async function follow(
  store: Store,
  from: EventCursor,
  filter: EventFilter,
  stream: SSEStreamingApi,
  { pollMs, heartbeatMs, signal }: { pollMs: number; heartbeatMs: number; signal: AbortSignal },
): Promise<void> {
  let cursor = from;
  let quietSince = Date.now();
  const wake = new Wakeup(store);
  try {
    while (!signal.aborted) {
      // Cleared before reading: a commit after this point wakes the wait below, so none is missed.
      wake.clear();
      const page = await eventsAfter(store, cursor, PAGE);
      cursor = page.cursor;
      for (const event of page.events) {
        if (signal.aborted) return;
        if (!matches(event, filter)) continue;
        await stream.writeSSE({ id: event.id, event: event.kind, data: JSON.stringify(payload(event)) });
        quietSince = Date.now();
      }
      if (page.events.length > 0) continue;
      if (Date.now() - quietSince >= heartbeatMs) {
        await stream.write(': heartbeat\n\n');
        quietSince = Date.now();
      }
      const wait = wake.listening ? Math.max(pollMs, NOTICED_POLL_MS) : pollMs;
      await wake.wait(Math.min(wait, Math.max(1, heartbeatMs - (Date.now() - quietSince))), signal);
    }
  } finally {
    wake.close();
  }
}

/** Wakes a waiting stream when the store tells of a commit with events (Store.onChange), if it can. */
class Wakeup {
  private changed = false;
  private woken: (() => void) | undefined;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(store: Store) {
    this.unsubscribe = store.onChange?.((notice) => {
      if (!notice.audit && !notice.logs) return;
      this.changed = true;
      this.woken?.();
    });
  }

  /** The store tells of commits: waiting is only a safety net. */
  get listening(): boolean {
    return this.unsubscribe !== undefined;
  }

  clear(): void {
    this.changed = false;
  }

  /** Resolves at once when a commit was told of since `clear`, else at the next one, after `ms`, or on abort. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.changed) return;
    const woken = new AbortController();
    const end = (): void => woken.abort();
    this.woken = end;
    signal.addEventListener('abort', end, { once: true });
    try {
      if (!signal.aborted) await sleepUntilAborted(ms, woken.signal);
    } finally {
      this.woken = undefined;
      signal.removeEventListener('abort', end);
    }
  }

  close(): void {
    this.unsubscribe?.();
  }
}

/** As stored: audit entries and log lines are redacted before they are written, and nothing is added. */
function payload(event: ProjectEvent): unknown {
  return event.kind === 'audit' ? event.entry : event.line;
}
