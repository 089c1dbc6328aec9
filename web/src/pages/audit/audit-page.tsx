import { useEffect, useState } from 'react';
import { followEvents } from '../../api/events.js';
import type { AuditEntry } from '../../api/types.js';
import { shortId, Time } from '../../shell/format.js';
import { Link, paths } from '../../shell/router.js';

/**
 * The audit timeline of the project, or of one promotion: every entry as the store holds it
 * (redacted before it was written), read from the event stream from the start and followed live.
 */
export function AuditPage({ project, promotion }: { project: string; promotion?: string }) {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [live, setLive] = useState(false);
  useEffect(() => {
    setEntries([]);
    const controller = new AbortController();
    void followEvents(
      project,
      {
        kinds: ['audit'],
        ...(promotion === undefined ? {} : { promotion }),
        onOpen: setLive,
        onEvent: (event) => {
          if (event.kind === 'audit') setEntries((all) => [...all, event.entry]);
        },
      },
      controller.signal,
    );
    return () => controller.abort();
  }, [project, promotion]);
  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit{promotion === undefined ? '' : ` of promotion ${shortId(promotion)}`}</h1>
        <span className={`live ${live ? 'live-on' : ''}`} role="status">
          {live ? 'Live' : 'Connecting…'}
        </span>
      </div>
      {promotion !== undefined && (
        <p>
          <Link to={paths.audit(project)}>Whole project</Link> ·{' '}
          <Link to={paths.promotion(project, promotion)}>The promotion</Link>
        </p>
      )}
      {entries.length === 0 ? (
        <p className="muted">{live ? 'No entries yet.' : 'Loading…'}</p>
      ) : (
        <table className="audit">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Actor</th>
              <th scope="col">Environment</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {[...entries].reverse().map((e) => (
              <tr key={e.seq} className={`audit-${e.kind.split('.')[0] ?? ''}`}>
                <td className="mono">{e.seq}</td>
                <td>
                  <Time iso={e.time} />
                </td>
                <td className="mono">{e.kind}</td>
                <td>{e.actor}</td>
                <td>{e.environment ?? ''}</td>
                <td className="small">{auditDetails(e)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
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
