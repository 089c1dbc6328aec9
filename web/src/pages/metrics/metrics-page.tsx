import { api } from '../../api/client.js';
import type { DoraMetrics } from '../../api/types.js';
import { navigate, paths } from '../../shell/router.js';
import { useAsync } from '../../shell/use-async.js';
import { ErrorNotice } from '../board/board-page.js';

type Figures = DoraMetrics['environments'][number];

const WINDOWS = ['7d', '30d', '90d', '365d'];
const NONE = '—';

/** Seconds as people read a lead or restore time: "45 s", "12 min", "2 h 5 min", "3 d 4 h". */
export function readableSeconds(seconds: number | null): string {
  if (seconds === null) return NONE;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) {
    const h = Math.floor(seconds / 3600);
    const m = Math.round((seconds % 3600) / 60);
    return m === 0 ? `${h} h` : `${h} h ${m} min`;
  }
  const d = Math.floor(seconds / 86_400);
  const h = Math.round((seconds % 86_400) / 3600);
  return h === 0 ? `${d} d` : `${d} d ${h} h`;
}

export function percent(rate: number | null): string {
  return rate === null ? NONE : `${Math.round(rate * 100)}%`;
}

/**
 * DORA's four keys and the rework rate per environment over a window ending now, from the record
 * (`GET …/dora`, as `lockstep metrics`): deployment frequency, lead time median and p90, change
 * failure rate, time to restore median and p90, rework rate. "—" where there is nothing to measure.
 * The window is in the URL (`?since=90d`).
 */
export function MetricsPage({ project, since }: { project: string; since: string }) {
  const [metrics] = useAsync((signal) => api.dora(project, since, signal), [project, since]);
  return (
    <section aria-labelledby="metrics-title">
      <div className="page-head">
        <h1 id="metrics-title">Metrics</h1>
      </div>
      <p className="small">
        DORA&apos;s four keys and the rework rate, counted from what Lockstep recorded (every promotion and rollback):
        nothing sampled, nothing reported by hand. How each figure is counted: <em>Metrics: DORA from the record</em>{' '}
        (<span className="mono">docs/metrics.md</span>, or <span className="mono">lockstep metrics --help</span>).
      </p>
      <div className="metrics-tools">
        <label htmlFor="metrics-window">Window</label>
        <select id="metrics-window" value={since} onChange={(e) => navigate(paths.metrics(project, e.target.value), { replace: true })}>
          {(WINDOWS.includes(since) ? WINDOWS : [since, ...WINDOWS]).map((w) => (
            <option key={w} value={w}>
              the last {w}
            </option>
          ))}
        </select>
      </div>
      {metrics.state === 'loading' && <p className="loading">Counting…</p>}
      {metrics.state === 'error' && <ErrorNotice error={metrics.error} />}
      {metrics.state === 'ready' && <MetricsTable metrics={metrics.value} />}
    </section>
  );
}

function MetricsTable({ metrics }: { metrics: DoraMetrics }) {
  const { window } = metrics;
  return (
    <>
      <p className="small" role="status">
        From {new Date(window.from).toLocaleString()} to {new Date(window.to).toLocaleString()} ({window.days} days);
        percentiles are nearest-rank.
      </p>
      <table className="metrics">
        <caption className="visually-hidden">DORA metrics per environment</caption>
        <thead>
          <tr>
            <th scope="col">Environment</th>
            <th scope="col">Deployments</th>
            <th scope="col">Per day</th>
            <th scope="col">Lead time p50 / p90</th>
            <th scope="col">Change failure rate</th>
            <th scope="col">Time to restore p50 / p90</th>
            <th scope="col">Rework rate</th>
          </tr>
        </thead>
        <tbody>
          {metrics.environments.map((e) => (
            <Row key={e.environment} figures={e} />
          ))}
        </tbody>
      </table>
      {metrics.environments
        .filter((e) => e.timeToRestore.failingSince !== null)
        .map((e) => (
          <p key={e.environment} className="notice notice-error small">
            {e.environment}: failing since {new Date(e.timeToRestore.failingSince ?? '').toLocaleString()}, not restored yet
          </p>
        ))}
    </>
  );
}

function Row({ figures: f }: { figures: Figures }) {
  return (
    <tr>
      <th scope="row">{f.environment}</th>
      <td>{f.deploymentFrequency.count}</td>
      <td>{f.deploymentFrequency.perDay.toFixed(2)}</td>
      <td>
        {readableSeconds(f.leadTime.medianSeconds)} / {readableSeconds(f.leadTime.p90Seconds)}
      </td>
      <td>
        {percent(f.changeFailureRate)}
        {f.changes.count > 0 && (
          <span className="small muted">
            {' '}
            ({f.changes.failed}/{f.changes.count})
          </span>
        )}
      </td>
      <td>
        {readableSeconds(f.timeToRestore.medianSeconds)} / {readableSeconds(f.timeToRestore.p90Seconds)}
      </td>
      <td>
        {percent(f.reworkRate)}
        {f.deploymentFrequency.count > 0 && (
          <span className="small muted">
            {' '}
            ({f.rework.count}/{f.deploymentFrequency.count})
          </span>
        )}
      </td>
    </tr>
  );
}
