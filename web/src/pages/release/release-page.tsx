import { useId, useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import type { Promotion, Release } from '../../api/types.js';
import { ErrorNotice } from '../board/board-page.js';
import { shortId, Time } from '../../shell/format.js';
import { mayIn } from '../../shell/roles.js';
import { Link, navigate, paths } from '../../shell/router.js';
import { useSignedIn } from '../../shell/session-context.js';
import { useAsync } from '../../shell/use-async.js';
import { formatComparand, loadDiff, parseComparand, type Comparand, type DiffRow } from './version-diff.js';

/**
 * One release: the versions it pins, its labels, where it has run and how it went, its rejection (or
 * the form to reject it, for those who may), and a version diff against another release or against
 * what an environment runs. The comparison is in the URL (`?against=release:ID` or `env:NAME`).
 */
export function ReleasePage({ project, id }: { project: string; id: string }) {
  const [release, reload] = useAsync(() => api.release(project, id), [project, id]);
  if (release.state === 'loading') return <p className="loading">Loading the release…</p>;
  if (release.state === 'error') return <ErrorNotice error={release.error} />;
  const r = release.value.release;
  return (
    <article aria-labelledby="release-title" className="release-page">
      <div className="page-head">
        <h1 id="release-title">
          Release <span className="mono">{shortId(r.id)}</span>
        </h1>
        {r.rejected !== undefined && <span className="badge badge-bad">rejected</span>}
      </div>
      {r.message !== undefined && <p>{r.message}</p>}
      <dl className="facts">
        <dt>Id</dt>
        <dd className="mono small">{r.id}</dd>
        <dt>Created</dt>
        <dd>
          by {r.createdBy} <Time iso={r.createdAt} />
        </dd>
        {r.from !== undefined && (
          <>
            <dt>Missing versions from</dt>
            <dd>{r.from}</dd>
          </>
        )}
        <dt>Audit</dt>
        <dd>
          <Link to={`${paths.audit(project)}?release=${encodeURIComponent(r.id)}`}>Audit entries of this release</Link>
        </dd>
      </dl>
      <Rejection project={project} release={r} onRejected={reload} />
      <div className="release-columns">
        <section aria-labelledby="versions-title">
          <h2 id="versions-title">Versions</h2>
          <VersionsTable versions={r.versions} />
          <h2 id="labels-title">Labels</h2>
          {Object.keys(r.labels).length === 0 ? (
            <p className="muted">No labels.</p>
          ) : (
            <ul className="labels" aria-labelledby="labels-title">
              {Object.entries(r.labels).map(([k, v]) => (
                <li key={k} className="badge">
                  {k}={v}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="runs-title">
          <h2 id="runs-title">Where it has run</h2>
          <RunTable project={project} promotions={byEnvironment(release.value.promotions)} />
        </section>
      </div>
      <Comparison project={project} release={r} />
    </article>
  );
}

function VersionsTable({ versions }: { versions: Record<string, string> }) {
  const rows = Object.entries(versions).sort(([a], [b]) => a.localeCompare(b));
  return (
    <table className="components">
      <caption className="visually-hidden">Versions this release pins</caption>
      <thead>
        <tr>
          <th scope="col">Component</th>
          <th scope="col">Version</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([component, version]) => (
          <tr key={component}>
            <th scope="row">{component}</th>
            <td className="mono">{version}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A release's promotions, grouped by environment (in the order they first ran), newest first within one. */
export function byEnvironment(mine: readonly Promotion[]): Promotion[] {
  const firstRun = new Map<string, string>();
  for (const p of mine) {
    const seen = firstRun.get(p.environment);
    if (seen === undefined || p.requestedAt < seen) firstRun.set(p.environment, p.requestedAt);
  }
  return [...mine].sort(
    (a, b) =>
      (firstRun.get(a.environment) ?? '').localeCompare(firstRun.get(b.environment) ?? '') ||
      a.environment.localeCompare(b.environment) ||
      b.requestedAt.localeCompare(a.requestedAt),
  );
}

function RunTable({ project, promotions }: { project: string; promotions: Promotion[] }) {
  if (promotions.length === 0)
    return (
      <p className="muted">
        Not promoted anywhere yet. <code>lockstep promote RELEASE --to ENV</code> sends it, or Promote on the pipeline board.
      </p>
    );
  return (
    <table className="components runs">
      <caption className="visually-hidden">Promotions of this release, per environment</caption>
      <thead>
        <tr>
          <th scope="col">Environment</th>
          <th scope="col">State</th>
          <th scope="col">Requested</th>
          <th scope="col">By</th>
          <th scope="col">Finished</th>
        </tr>
      </thead>
      <tbody>
        {promotions.map((p) => (
          <tr key={p.id}>
            <th scope="row">{p.environment}</th>
            <td>
              <Link to={paths.promotion(project, p.id)} aria-label={`Promotion to ${p.environment}: ${p.state}`}>
                <span className={`badge ${stateBadge(p.state)}`}>{p.state}</span>
              </Link>
              {p.kind !== 'promotion' && <span className="muted small"> ({p.kind})</span>}
            </td>
            <td>
              <Time iso={p.requestedAt} />
            </td>
            <td>{p.requestedBy}</td>
            <td>{p.finishedAt === undefined ? <span className="muted">–</span> : <Time iso={p.finishedAt} />}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function stateBadge(state: string): string {
  if (state === 'succeeded') return 'badge-ok';
  if (state === 'failed' || state === 'rejected' || state === 'rolled-back') return 'badge-bad';
  if (state === 'pending' || state === 'interrupted') return 'badge-warn';
  if (state === 'running' || state === 'rolling-back') return 'badge-run';
  return '';
}

function Rejection({ project, release, onRejected }: { project: string; release: Release; onRejected: () => void }) {
  const { whoami } = useSignedIn();
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const reasonId = useId();
  if (release.rejected !== undefined)
    return (
      <div className="notice notice-error" role="note" aria-label="Rejection">
        <strong>Rejected</strong> by {release.rejected.by} <Time iso={release.rejected.at} />: {release.rejected.reason}
        <br />
        <span className="small">It can never be promoted again, anywhere.</span>
      </div>
    );
  if (!mayIn(whoami, project, 'release.reject'))
    return <p className="muted small">Rejecting a release needs the releaser role in {project}; you do not hold it.</p>;
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.rejectRelease(project, release.id, { reason });
      onRejected();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };
  return (
    <details className="panel reject-release">
      <summary>Reject this release…</summary>
      <form onSubmit={(e) => void submit(e)}>
        <label htmlFor={reasonId}>What is wrong with it (recorded in the audit log)</label>
        <textarea id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required rows={3} />
        <p className="small muted">A rejected release is promoted nowhere again; its pending promotions are rejected now.</p>
        <button type="submit" className="button button-danger" disabled={busy || reason.trim() === ''}>
          Reject release
        </button>
        {error !== undefined && (
          <p role="alert" className="notice notice-error small">
            {error}
          </p>
        )}
      </form>
    </details>
  );
}

function Comparison({ project, release }: { project: string; release: Release }) {
  const against = parseComparand(new URLSearchParams(location.search).get('against'));
  const [choices] = useAsync(async (signal) => {
    const [environments, releases] = await Promise.all([api.environments(project, signal), api.releases(project, 100)]);
    return { environments, releases: releases.filter((r) => r.id !== release.id) };
  }, [project, release.id]);
  const selectId = useId();
  const choose = (value: string): void => {
    const query = new URLSearchParams(location.search);
    if (value === '') query.delete('against');
    else query.set('against', value);
    const search = query.toString();
    navigate(`${paths.release(project, release.id)}${search === '' ? '' : `?${search}`}`, { replace: true });
  };
  return (
    <section aria-labelledby="compare-title" className="compare">
      <h2 id="compare-title">Compare</h2>
      <label htmlFor={selectId}>Compare this release with </label>
      <select id={selectId} value={against === undefined ? '' : formatComparand(against)} onChange={(e) => choose(e.target.value)}>
        <option value="">(choose)</option>
        {choices.state === 'ready' && (
          <>
            <optgroup label="What an environment runs">
              {choices.value.environments.map((e) => (
                <option key={e.environment} value={`env:${e.environment}`}>
                  {e.environment}
                </option>
              ))}
            </optgroup>
            <optgroup label="Another release">
              {choices.value.releases.map((r) => (
                <option key={r.id} value={`release:${r.id}`}>
                  {shortId(r.id)} {r.message ?? ''} ({r.createdBy})
                </option>
              ))}
            </optgroup>
          </>
        )}
        {against?.kind === 'release' && choices.state === 'ready' && !choices.value.releases.some((r) => r.id === against.id) && (
          <option value={formatComparand(against)}>{shortId(against.id)}</option>
        )}
      </select>
      {against !== undefined && <DiffView project={project} release={release} against={against} />}
    </section>
  );
}

function DiffView({ project, release, against }: { project: string; release: Release; against: Comparand }) {
  const key = formatComparand(against);
  const [diff] = useAsync(
    (signal) => loadDiff({ release: async (id) => (await api.release(project, id)).release, environments: (s) => api.environments(project, s) }, release, against, signal),
    [project, release.id, key],
  );
  const other = against.kind === 'release' ? `release ${shortId(against.id)}` : `${against.name} now`;
  if (diff.state === 'loading') return <p className="muted">Comparing…</p>;
  if (diff.state === 'error') return <ErrorNotice error={diff.error} />;
  const changed = diff.value.filter((d) => d.change !== 'same').length;
  return (
    <>
      <p role="status">
        {changed === 0 ? `Same versions as ${other}.` : `${changed} component${changed === 1 ? '' : 's'} differ from ${other}.`}
      </p>
      <table className="components diff">
        <caption className="visually-hidden">Versions: this release against {other}</caption>
        <thead>
          <tr>
            <th scope="col">Component</th>
            <th scope="col">This release</th>
            <th scope="col">{against.kind === 'release' ? <Link to={paths.release(project, against.id)}>{other}</Link> : other}</th>
            <th scope="col">Change</th>
          </tr>
        </thead>
        <tbody>
          {diff.value.map((row) => (
            <tr key={row.component} className={`diff-${row.change}`}>
              <th scope="row">{row.component}</th>
              <td className="mono">{row.here ?? '–'}</td>
              <td className="mono">{row.there ?? '–'}</td>
              <td>{changeLabel(row)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function changeLabel(row: DiffRow): string {
  switch (row.change) {
    case 'same':
      return 'same';
    case 'changed':
      return 'changed';
    case 'only-here':
      return 'only in this release';
    case 'only-there':
      return 'not in this release';
  }
}
