import { useEffect, useId, useRef, useState } from 'react';
import { api, storedToken } from '../../api/client.js';
import { followEvents } from '../../api/events.js';
import type { AuditEntry } from '../../api/types.js';
import { ErrorNotice } from '../board/board-page.js';
import { shortId, Time } from '../../shell/format.js';
import { Link, navigate, paths } from '../../shell/router.js';
import { useAsync } from '../../shell/use-async.js';
import { auditPageOf, auditSearch, parseAuditFilter, type AuditFilter } from './audit-filter.js';

/**
 * The audit timeline of the project, or of one promotion: every entry as the store holds it
 * (redacted before it was written), read from the event stream from the start and followed live.
 * Filtered by actor, environment, kind (and release) through the URL's query, newest first, a page
 * at a time; with the hash chain's status and the export.
 */
export function AuditPage({ project, promotion }: { project: string; promotion?: string }) {
  const filter: AuditFilter = { ...parseAuditFilter(location.search), ...(promotion === undefined ? {} : { promotion }) };
  const entries = useAuditEntries(project, promotion);
  const { rows, matching, pages } = auditPageOf(entries.list, filter);
  const page = Math.min(filter.page, pages);
  const go = (change: Partial<AuditFilter>): void => {
    const next: AuditFilter = { ...filter, page: 1, ...change };
    for (const key of Object.keys(change) as (keyof AuditFilter)[]) if (next[key] === '') delete next[key];
    navigate(`${paths.audit(project).split('?')[0] ?? ''}${auditSearch(next)}`);
  };
  const filtered = filter.actor !== undefined || filter.environment !== undefined || filter.kind !== undefined || filter.release !== undefined;
  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit{promotion === undefined ? '' : ` of promotion ${shortId(promotion)}`}</h1>
        <span className={`live ${entries.live ? 'live-on' : ''}`} role="status">
          {entries.live ? 'Live' : 'Connecting…'}
        </span>
      </div>
      {promotion !== undefined && (
        <p>
          <Link to={paths.audit(project)}>Whole project</Link> ·{' '}
          <Link to={paths.promotion(project, promotion)}>The promotion</Link>
        </p>
      )}
      <div className="audit-tools">
        <ChainStatus project={project} />
        <ExportButton project={project} />
      </div>
      <Filters entries={entries.list} filter={filter} onChange={go} />
      {filter.release !== undefined && (
        <p>
          Entries of release <Link to={paths.release(project, filter.release)}>{shortId(filter.release)}</Link>.
        </p>
      )}
      {entries.list.length === 0 ? (
        <div className="panel empty-state">
          {entries.live ? (
            <>
              <h2>No audit entries yet</h2>
              <p>
                Every change is recorded here: <code>lockstep release create --set COMPONENT=VERSION</code> makes the first
                release, and each promotion, approval and step follows.
              </p>
            </>
          ) : (
            <p className="muted">Loading…</p>
          )}
        </div>
      ) : (
        <>
          <p className="muted small" aria-live="polite">
            {filtered ? `${matching} of ${entries.list.length} entries match.` : `${entries.list.length} entries.`}
            {pages > 1 ? ` Page ${page} of ${pages}, newest first.` : ' Newest first.'}
          </p>
          {rows.length === 0 ? (
            <p className="notice notice-info">
              No entry matches these filters. <button type="button" className="button button-quiet" onClick={() => go({ actor: '', environment: '', kind: '', release: '' })}>Clear the filters</button>
            </p>
          ) : (
            <AuditTable project={project} rows={rows} />
          )}
          {pages > 1 && <Pager filter={filter} page={page} pages={pages} project={project} />}
        </>
      )}
    </section>
  );
}

/** The log's entries (of one promotion, or all), oldest first, from the event stream's start and live after. */
function useAuditEntries(project: string, promotion: string | undefined): { list: AuditEntry[]; live: boolean } {
  const buffer = useRef<AuditEntry[]>([]);
  const [list, setList] = useState<AuditEntry[]>([]);
  const [live, setLive] = useState(false);
  useEffect(() => {
    buffer.current = [];
    setList([]);
    const controller = new AbortController();
    let scheduled: number | undefined;
    // A long log arrives as thousands of events: render once per batch, not once per entry.
    const flush = (): void => {
      scheduled = undefined;
      setList([...buffer.current]);
    };
    void followEvents(
      project,
      {
        kinds: ['audit'],
        ...(promotion === undefined ? {} : { promotion }),
        onOpen: setLive,
        onEvent: (event) => {
          if (event.kind !== 'audit') return;
          buffer.current.push(event.entry);
          scheduled ??= window.setTimeout(flush, 50);
        },
      },
      controller.signal,
    );
    return () => {
      controller.abort();
      window.clearTimeout(scheduled);
    };
  }, [project, promotion]);
  return { list, live };
}

function Filters({ entries, filter, onChange }: { entries: AuditEntry[]; filter: AuditFilter; onChange: (change: Partial<AuditFilter>) => void }) {
  const actors = distinct(entries.map((e) => e.actor), filter.actor);
  const environments = distinct(entries.flatMap((e) => (e.environment === undefined ? [] : [e.environment])), filter.environment);
  // The kinds that occur in this log (and the one asked for), with their families (`approval` for every `approval.*`).
  const kinds = distinct(entries.map((e) => e.kind), filter.kind?.includes('.') ? filter.kind : undefined);
  const families = distinct(kinds.map((k) => k.split('.')[0] ?? k), filter.kind?.includes('.') === false ? filter.kind : undefined);
  const ids = { actor: useId(), environment: useId(), kind: useId() };
  return (
    <form role="search" aria-label="Filter the audit log" className="audit-filters" onSubmit={(e) => e.preventDefault()}>
      <label htmlFor={ids.actor}>Actor</label>
      <select id={ids.actor} value={filter.actor ?? ''} onChange={(e) => onChange({ actor: e.target.value })}>
        <option value="">anyone</option>
        {actors.map((a) => (
          <option key={a} value={a}>
            {a}
          </option>
        ))}
      </select>
      <label htmlFor={ids.environment}>Environment</label>
      <select id={ids.environment} value={filter.environment ?? ''} onChange={(e) => onChange({ environment: e.target.value })}>
        <option value="">any</option>
        {environments.map((a) => (
          <option key={a} value={a}>
            {a}
          </option>
        ))}
      </select>
      <label htmlFor={ids.kind}>Kind</label>
      <select id={ids.kind} value={filter.kind ?? ''} onChange={(e) => onChange({ kind: e.target.value })}>
        <option value="">any</option>
        <optgroup label="Families">
          {families.map((k) => (
            <option key={k} value={k}>
              {k}.*
            </option>
          ))}
        </optgroup>
        <optgroup label="Kinds">
          {kinds.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </optgroup>
      </select>
    </form>
  );
}

function distinct(values: string[], keep: string | undefined): string[] {
  const set = new Set(values);
  if (keep !== undefined) set.add(keep);
  return [...set].sort();
}

function AuditTable({ project, rows }: { project: string; rows: AuditEntry[] }) {
  return (
    <table className="audit">
      <caption className="visually-hidden">Audit entries, newest first</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">When</th>
          <th scope="col">Event</th>
          <th scope="col">Actor</th>
          <th scope="col">Environment</th>
          <th scope="col">Release / promotion</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((e) => (
          <tr key={e.seq} className={`audit-${e.kind.split('.')[0] ?? ''}`}>
            <td className="mono">{e.seq}</td>
            <td>
              <Time iso={e.time} />
            </td>
            <td className="mono">{e.kind}</td>
            <td>{e.actor}</td>
            <td>{e.environment ?? ''}</td>
            <td className="mono small audit-ids">
              {e.releaseId !== undefined && (
                <Link to={paths.release(project, e.releaseId)} aria-label={`Release ${shortId(e.releaseId)}`}>
                  {shortId(e.releaseId)}
                </Link>
              )}
              {e.releaseId !== undefined && e.promotionId !== undefined && ' / '}
              {e.promotionId !== undefined && (
                <Link to={paths.promotion(project, e.promotionId)} aria-label={`Promotion ${shortId(e.promotionId)}`}>
                  {shortId(e.promotionId)}
                </Link>
              )}
            </td>
            <td className="small">{auditDetails(e)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Pager({ project, filter, page, pages }: { project: string; filter: AuditFilter; page: number; pages: number }) {
  const base = paths.audit(project).split('?')[0] ?? '';
  const at = (n: number): string => `${base}${auditSearch({ ...filter, page: n })}`;
  return (
    <nav aria-label="Audit pages" className="pager">
      {page > 1 ? <Link to={at(page - 1)}>← Newer</Link> : <span className="muted">← Newer</span>}
      <span>
        Page {page} of {pages}
      </span>
      {page < pages ? <Link to={at(page + 1)}>Older →</Link> : <span className="muted">Older →</span>}
    </nav>
  );
}

/** The hash chain checked by the server from the first entry (GET …/audit/verify), for the whole project. */
function ChainStatus({ project }: { project: string }) {
  const [check, recheck] = useAsync((signal) => api.verifyAudit(project, signal), [project]);
  return (
    <div className="chain-status" role="status" aria-label="Hash chain">
      {check.state === 'loading' && <span className="muted">Checking the hash chain…</span>}
      {check.state === 'error' && <ErrorNotice error={check.error} />}
      {check.state === 'ready' &&
        (check.value.ok ? (
          <span>
            <span className="badge badge-ok">chain intact</span> {check.value.entries} entries verified, head{' '}
            <span className="mono" title={check.value.head}>
              {check.value.head.slice(0, 12)}
            </span>
          </span>
        ) : (
          <span>
            <span className="badge badge-bad">chain broken</span>{' '}
            {'firstBad' in check.value ? `at entry ${check.value.firstBad}: ` : ''}
            {check.value.reason}
          </span>
        ))}{' '}
      <button type="button" className="button button-quiet" onClick={recheck}>
        Verify again
      </button>
    </div>
  );
}

/**
 * The audit export (JSON lines with their hashes, verifiable offline). Signed in with a session, a
 * plain link: the browser streams it to disk. With a pasted API token, which a link cannot carry, it
 * is fetched with the token and handed to the browser as a file.
 */
function ExportButton({ project }: { project: string }) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const filename = `${project}-audit.jsonl`;
  if (storedToken.get() === undefined)
    return (
      <a className="button" href={api.auditExportUrl(project)} download={filename}>
        Export audit log
      </a>
    );
  const download = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const url = URL.createObjectURL(await api.auditExport(project));
      const link = document.createElement('a');
      link.href = url;
      link.download = filename;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span>
      <button type="button" className="button" disabled={busy} onClick={() => void download()}>
        Export audit log
      </button>
      {error !== undefined && (
        <span role="alert" className="notice notice-error small">
          {error}
        </span>
      )}
    </span>
  );
}

function auditDetails(entry: AuditEntry): string {
  const parts: string[] = [];
  if (entry.component !== undefined) parts.push(entry.component);
  for (const [key, value] of Object.entries(entry.data)) {
    if (value === undefined || value === null) continue;
    parts.push(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return parts.join(' · ');
}
