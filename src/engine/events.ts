import type { AuditEntry } from '../core/audit.js';
import { InputError } from '../core/errors.js';
import type { StepLogLine, Store, StoredLogLine } from '../store/store.js';

/**
 * A position in a project's events: every audit entry up to `auditSeq` and every step log line up
 * to `logId` has been seen. Both numbers come from the store, so a position taken before a restart
 * (or from another server on the same store) means the same afterwards.
 */
export interface EventCursor {
  auditSeq: number;
  logId: number;
}

export const START: EventCursor = { auditSeq: 0, logId: 0 };

/** One event of the stream, with the position just after it as its id. */
export type ProjectEvent =
  { kind: 'audit'; id: string; entry: AuditEntry } | { kind: 'log'; id: string; line: StepLogLine };

export const EVENT_KINDS = ['audit', 'log'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

const EVENT_ID = /^(\d{1,15})-(\d{1,15})$/;

/**
 * Where the project's events stand now: after the last audit entry and the last log line. A stream
 * started here carries only what is committed from now on.
 */
export async function headCursor(store: Pick<Store, 'auditHead' | 'logHead'>): Promise<EventCursor> {
  const [audit, logId] = await Promise.all([store.auditHead(), store.logHead()]);
  return { auditSeq: audit?.seq ?? 0, logId };
}

/** `AUDITSEQ-LOGID`: the event's position (the id an SSE client sends back as Last-Event-ID). */
export function eventId(cursor: EventCursor): string {
  return `${cursor.auditSeq}-${cursor.logId}`;
}

/** The position an event id names; InputError naming `field` when it is not one. */
export function parseEventId(text: string, field: string): EventCursor {
  const match = EVENT_ID.exec(text.trim());
  if (!match)
    throw new InputError(
      `${field}: an event id is two whole numbers, AUDITSEQ-LOGID (like 12-340), not ${JSON.stringify(text.slice(0, 40))}`,
      field,
    );
  return { auditSeq: Number(match[1]), logId: Number(match[2]) };
}

/**
 * The events after `cursor`, at most about `limit` of each kind, in the order they were committed:
 * a log line comes after the audit entries committed before it (StoredLogLine.afterSeq) and before
 * the rest; lines committed with audit entries come before them. Returns the position after the
 * last event returned (the cursor itself when there is none yet).
 *
 * The two kinds are read one after the other, not in one transaction: audit entries first, then
 * lines. A line that comes after an audit entry not read yet (committed between the two reads) is
 * left for the next call, and when a page of lines is full, the audit entries that might come after
 * lines not read yet are too: so every call returns a gapless stretch of the one order, and the same
 * events always get the same ids.
 */
export async function eventsAfter(
  store: Store,
  cursor: EventCursor,
  limit: number,
): Promise<{ events: ProjectEvent[]; cursor: EventCursor }> {
  const audit = await store.auditPage(cursor.auditSeq, limit);
  const logs = await store.logsAfter(cursor.logId, limit);
  const auditSeen = audit.at(-1)?.seq ?? cursor.auditSeq;
  const lines = logs.filter((l) => l.afterSeq <= auditSeen);
  // Every line read comes before any audit entry not read yet; with a full page of lines, more
  // lines may come before audit entries that were read.
  const lastLine = lines.at(-1);
  const linesComplete = logs.length < limit || lines.length < logs.length;
  const entries = linesComplete || lastLine === undefined ? audit : audit.filter((e) => e.seq <= lastLine.afterSeq);
  return merge(entries, lines, cursor);
}

function merge(
  entries: AuditEntry[],
  lines: StoredLogLine[],
  from: EventCursor,
): { events: ProjectEvent[]; cursor: EventCursor } {
  const events: ProjectEvent[] = [];
  let position = from;
  let e = 0;
  let l = 0;
  while (e < entries.length || l < lines.length) {
    const entry = entries[e];
    const line = lines[l];
    // A line placed after entry N comes after it; one placed after N-1 comes before it.
    if (entry !== undefined && (line === undefined || entry.seq <= line.afterSeq)) {
      position = { auditSeq: entry.seq, logId: position.logId };
      events.push({ kind: 'audit', id: eventId(position), entry });
      e++;
    } else if (line !== undefined) {
      position = { auditSeq: position.auditSeq, logId: line.id };
      const { id: _id, afterSeq: _afterSeq, ...text } = line;
      events.push({ kind: 'log', id: eventId(position), line: text });
      l++;
    }
  }
  return { events, cursor: position };
}

/** Which events a stream carries: of one promotion (by full id), of some kinds. */
export interface EventFilter {
  promotionId?: string;
  kinds: readonly EventKind[];
}

export function matches(event: ProjectEvent, filter: EventFilter): boolean {
  if (!filter.kinds.includes(event.kind)) return false;
  if (filter.promotionId === undefined) return true;
  const promotionId = event.kind === 'audit' ? event.entry.promotionId : event.line.promotionId;
  return promotionId === filter.promotionId;
}
