import { useState } from 'react';
import { api } from '../../api/client.js';
import type { DriftReport, DriftState, EnvironmentStatus } from '../../api/types.js';
import { Time } from '../../shell/format.js';
import { mayIn } from '../../shell/roles.js';
import { useSignedIn } from '../../shell/session-context.js';

const LABEL: Record<DriftState['state'], string> = {
  clean: 'clean',
  drifted: 'drifted',
  'cannot-observe': 'cannot observe',
  'not-deployed': 'not deployed',
  error: 'check failed',
};
const BADGE: Record<DriftState['state'], string> = {
  clean: 'badge-ok',
  drifted: 'badge-warn',
  'cannot-observe': '',
  'not-deployed': '',
  error: 'badge-bad',
};

/**
 * An environment card's drift: each component's last drift check (clean, drifted with what differs,
 * cannot observe, and when), as `lockstep drift` records it, and *Check drift in ENV* for those whose
 * role allows (`drift.check`). A check's answer shows at once; the board's next read carries it too.
 */
export function DriftSection({ project, env }: { project: string; env: EnvironmentStatus }) {
  const { whoami } = useSignedIn();
  const [report, setReport] = useState<DriftReport | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const may = mayIn(whoami, project, 'drift.check', env.environment);

  // The newer of what the board read and what this card's own check answered, per component.
  const byComponent = new Map<string, DriftState>(env.drift.map((d) => [d.component, d]));
  if (report !== undefined && report.skipped === undefined) {
    for (const c of report.components) {
      const known = byComponent.get(c.component);
      if (known === undefined || known.checkedAt <= report.checkedAt)
        byComponent.set(c.component, { ...c, environment: report.environment, checkedAt: report.checkedAt });
    }
  }
  const states = [...byComponent.values()].sort((a, b) => a.component.localeCompare(b.component));

  const check = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      setReport(await api.checkDrift(project, env.environment));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  if (states.length === 0 && !may) return null;
  return (
    <section className="drift" aria-label={`Drift in ${env.environment}`}>
      <h3>Drift</h3>
      {states.length === 0 ? (
        <p className="small muted">Never checked.</p>
      ) : (
        <ul className="drift-list">
          {states.map((d) => (
            <li key={d.component} aria-label={`Drift of ${d.component}: ${LABEL[d.state]}`}>
              <span className="mono">{d.component}</span> <span className={`badge ${BADGE[d.state]}`}>{LABEL[d.state]}</span>{' '}
              <span className="small muted">
                checked <Time iso={d.checkedAt} />
              </span>
              {d.findings.length > 0 && (
                <ul className="small drift-findings">
                  {d.findings.map((f, i) => (
                    <li key={`${f.field}-${i}`}>
                      <span className="mono">{f.field}</span>: expected <span className="mono">{f.expected}</span>, found{' '}
                      <span className="mono">{f.found}</span>
                    </li>
                  ))}
                </ul>
              )}
              {d.note !== undefined && d.state !== 'clean' && <div className="small muted">{d.note}</div>}
            </li>
          ))}
        </ul>
      )}
      {report?.skipped !== undefined && <p className="small notice notice-info">Not checked: {report.skipped}</p>}
      {may && (
        <button type="button" className="button" disabled={busy} onClick={() => void check()}>
          {busy ? 'Checking drift…' : `Check drift in ${env.environment}`}
        </button>
      )}
      {error !== undefined && (
        <p role="alert" className="notice notice-error small">
          {error}
        </p>
      )}
    </section>
  );
}
