import type { AuditEntry } from '../../api/types.js';

/** What the audit page shows, as its URL's query holds it, so a filtered view can be linked. */
export interface AuditFilter {
  promotion?: string;
  release?: string;
  actor?: string;
  environment?: string;
  /** An exact kind (`approval.given`) or a family (`approval`: every `approval.*`). */
  kind?: string;
  /** 1 is the newest page. */
  page: number;
}

export const AUDIT_PAGE_SIZE = 100;

const FIELDS = ['promotion', 'release', 'actor', 'environment', 'kind'] as const;

export function parseAuditFilter(search: string): AuditFilter {
  const query = new URLSearchParams(search);
  const filter: AuditFilter = { page: Math.max(1, Math.floor(Number(query.get('page') ?? '1')) || 1) };
  for (const field of FIELDS) {
    const value = query.get(field);
    if (value !== null && value !== '') filter[field] = value;
  }
  return filter;
}

/** The query string of a filter (`?…`, or '' when it is the whole log's first page). */
export function auditSearch(filter: AuditFilter): string {
  const query = new URLSearchParams();
  for (const field of FIELDS) {
    const value = filter[field];
    if (value !== undefined) query.set(field, value);
  }
  if (filter.page > 1) query.set('page', String(filter.page));
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

export function matchesAudit(entry: AuditEntry, filter: AuditFilter): boolean {
  if (filter.promotion !== undefined && entry.promotionId !== filter.promotion) return false;
  if (filter.release !== undefined && entry.releaseId !== filter.release) return false;
  if (filter.actor !== undefined && entry.actor !== filter.actor) return false;
  if (filter.environment !== undefined && entry.environment !== filter.environment) return false;
  if (filter.kind !== undefined && entry.kind !== filter.kind && !entry.kind.startsWith(`${filter.kind}.`)) return false;
  return true;
}

/** One page of the entries that match, newest first, and how many pages there are. */
export function auditPageOf(entries: readonly AuditEntry[], filter: AuditFilter): { rows: AuditEntry[]; matching: number; pages: number } {
  const matching: AuditEntry[] = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i];
    if (entry !== undefined && matchesAudit(entry, filter)) matching.push(entry);
  }
  const pages = Math.max(1, Math.ceil(matching.length / AUDIT_PAGE_SIZE));
  const page = Math.min(filter.page, pages);
  return { rows: matching.slice((page - 1) * AUDIT_PAGE_SIZE, page * AUDIT_PAGE_SIZE), matching: matching.length, pages };
}
