import { memo, useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../../api/client.js';
import { followEvents } from '../../api/events.js';
import type { Decisions, LogLine, PlannedStep, Promotion, Step } from '../../api/types.js';
import { duration, shortId, Time } from '../../shell/format.js';
import { Link, paths } from '../../shell/router.js';
import { ErrorNotice } from '../board/board-page.js';
import { ActionsPanel } from './actions-panel.js';
import { DecisionPanel } from './decision-panel.js';
import { PlanDetails } from './plan-details.js';
import { PromotionGraph } from './promotion-graph.js';

type Loaded = { promotion: Promotion; steps: Step[] };

/**
 * One promotion: its DAG with each step's state, its gates and the caller's decision, each step's
 * outputs and log, and the plan the approvals bind to. Follows the promotion's events: each audit
 * entry reads the promotion again (states, gates), each log line is appended where it belongs.
 */
export function PromotionPage({ project, id }: { project: string; id: string }) {
  const [loaded, setLoaded] = useState<Loaded | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [decisions, setDecisions] = useState<Decisions | undefined>();
  const [logs, setLogs] = useState<Record<string, LogLine[]>>({});
  const [live, setLive] = useState(false);
  const timer = useRef<number | undefined>(undefined);

  const refresh = useCallback(() => {
    api.promotion(project, id).then(
      (value) => {
        setLoaded(value);
        setError(undefined);
      },
      (e: unknown) => setError(e instanceof Error ? e : new Error(String(e))),
    );
    api.decisions(project, id).then(setDecisions, () => setDecisions(undefined));
  }, [project, id]);

  useEffect(() => {
    setLoaded(undefined);
    setLogs({});
    refresh();
    const controller = new AbortController();
    void followEvents(
      project,
      {
        promotion: id,
        onOpen: setLive,
        onEvent: (event) => {
          if (event.kind === 'log') {
            const line = event.line;
            setLogs((all) => ({ ...all, [line.component]: [...(all[line.component] ?? []), line] }));
            return;
          }
          window.clearTimeout(timer.current);
          timer.current = window.setTimeout(refresh, 100);
        },
      },
      controller.signal,
    );
    return () => {
      controller.abort();
      window.clearTimeout(timer.current);
    };
  }, [project, id, refresh]);

  const select = (component: string): void => {
    const row = document.getElementById(`step-${component}`);
    row?.scrollIntoView({ block: 'center' });
    row?.focus();
  };

  if (error !== undefined && loaded === undefined) return <ErrorNotice error={error} />;
  if (loaded === undefined) return <p className="loading">Loading the promotion…</p>;
  const { promotion, steps } = loaded;
  const plan = promotion.plan;
  return (
    <article aria-labelledby="promotion-title">
      <div className="page-head">
        <h1 id="promotion-title">
          Release <span className="mono">{shortId(promotion.releaseId)}</span> to {promotion.environment}
        </h1>
        <span
          className={`badge state-${promotion.state}`}
          aria-label={`state: ${promotion.state}`}
          data-promotion-state={promotion.state}
        >
          {promotion.state}
        </span>
        <span className={`live ${live ? 'live-on' : ''}`} role="status">
          {live ? 'Live' : 'Connecting…'}
        </span>
      </div>
      <p className="small">
        {promotion.kind === 'rollback' ? 'Rollback' : 'Promotion'} <span className="mono">{shortId(promotion.id)}</span>
        , requested by {promotion.requestedBy} <Time iso={promotion.requestedAt} />
        {promotion.finishedAt !== undefined && (
          <>
            , ended <Time iso={promotion.finishedAt} />
          </>
        )}
        . <Link to={paths.audit(project, promotion.id)}>Audit timeline</Link> ·{' '}
        <Link to={paths.board(project)}>Pipeline</Link>
      </p>
      {promotion.reason !== undefined && <p className="notice notice-info">{promotion.reason}</p>}
      {promotion.failure !== undefined && (
        <p className="notice notice-error">
          Failed{promotion.failure.component === undefined ? '' : ` in ${promotion.failure.component}`} (
          {promotion.failure.phase}): {promotion.failure.error}
        </p>
      )}

      <DecisionPanel project={project} promotion={promotion} decisions={decisions} onDecided={refresh} />
      <ActionsPanel project={project} promotion={promotion} decisions={decisions} onDone={refresh} />

      <section aria-labelledby="graph-title">
        <h2 id="graph-title">Steps</h2>
        <PromotionGraph plan={plan.steps} steps={steps} onSelect={select} />
        <StepTable plan={plan.steps} steps={steps} logs={logs} />
      </section>

      <section aria-labelledby="plan-title">
        <h2 id="plan-title">Plan</h2>
        <p className="small">
          Digest <code className="digest">{plan.digest}</code>
          {plan.irreversible && <span className="badge badge-bad"> irreversible: something cannot be undone</span>}
        </p>
        {(plan.unknowns ?? []).length > 0 && (
          <p className="small muted">
            Known only after their producers apply:{' '}
            {(plan.unknowns ?? []).map((u) => `${u.consumer}.${u.field} ← ${u.producer}.${u.output}`).join(', ')}
          </p>
        )}
        {plan.steps.map((s) => (
          <PlanStep key={s.component} step={s} digest={plan.digest} />
        ))}
      </section>
    </article>
  );
}

/**
 * A step's plan is drawn once per plan (its digest): re-reading the promotion on every event does not
 * draw a thousand of them again. Off-screen ones are not laid out until they near the viewport.
 */
const PlanStep = memo(
  function PlanStep({ step }: { step: PlannedStep; digest: string }) {
    return <PlanStepView step={step} />;
  },
  (a, b) => a.digest === b.digest && a.step.component === b.step.component,
);

function PlanStepView({ step }: { step: PlannedStep }) {
  return (
    <section className={`plan-step risk-${step.risk} render-when-visible`} aria-label={`Plan of ${step.component}`}>
      <h3>
        {step.component} <span className="muted small">({step.type})</span>{' '}
        <span className="mono small">
          {step.fromVersion ?? 'nothing'} → {step.toVersion}
        </span>{' '}
        <span className={`badge risk-badge-${step.risk}`}>risk {step.risk}</span>
        {!step.reversible && <span className="badge badge-bad">not reversible</span>}
        {step.action === 'unchanged' && <span className="badge">unchanged</span>}
      </h3>
      <p className="small">
        {step.summary} <span className="muted">({step.reason})</span>
      </p>
      {step.notReversible !== undefined && <p className="small muted">{step.notReversible}</p>}
      <PlanDetails step={step} />
    </section>
  );
}

function StepTable({ plan, steps, logs }: { plan: PlannedStep[]; steps: Step[]; logs: Record<string, LogLine[]> }) {
  const byComponent = new Map(steps.map((s) => [s.component, s]));
  return (
    <table className="steps">
      <caption className="visually-hidden">Steps with their state, duration, outputs and log</caption>
      <thead>
        <tr>
          <th scope="col">Component</th>
          <th scope="col">State</th>
          <th scope="col">Duration</th>
          <th scope="col">Outputs</th>
          <th scope="col">Log</th>
        </tr>
      </thead>
      <tbody>
        {plan.map((p) => {
          const step = byComponent.get(p.component);
          const lines = logs[p.component] ?? [];
          return (
            <StepRow
              key={p.component}
              plan={p}
              step={step}
              lines={lines}
              drawn={`${p.action}\n${JSON.stringify(step ?? null)}\n${duration(step?.startedAt, step?.finishedAt) ?? ''}`}
            />
          );
        })}
      </tbody>
    </table>
  );
}

/** A row is drawn again only when its step (`drawn`: what it shows, as text) or its log changed. */
const StepRow = memo(StepRowView, (a, b) => a.drawn === b.drawn && a.lines === b.lines);

function StepRowView({ plan: p, step, lines }: { plan: PlannedStep; step: Step | undefined; lines: LogLine[]; drawn: string }) {
  const state = step?.state ?? (p.action === 'unchanged' ? 'unchanged' : 'planned');
  return (
    <tr id={`step-${p.component}`} tabIndex={-1}>
      <th scope="row">{p.component}</th>
      <td>
        <span className={`badge state-${state}`}>{state}</span>
        {step?.phase !== undefined && step.state === 'running' && <span className="small"> ({step.phase})</span>}
        {step?.error !== undefined && <div className="small error-text">{step.error}</div>}
      </td>
      <td>{duration(step?.startedAt, step?.finishedAt) ?? ''}</td>
      <td>
        <Outputs step={step} />
      </td>
      <td>
        {lines.length === 0 ? (
          <span className="muted small">none yet</span>
        ) : (
          <details>
            <summary>
              {lines.length} line{lines.length === 1 ? '' : 's'}
              <span className="visually-hidden"> of {p.component}’s log</span>
            </summary>
            <pre className="log" aria-label={`Log of ${p.component}`}>
              {lines.map((l) => l.line).join('\n')}
            </pre>
          </details>
        )}
      </td>
    </tr>
  );
}

function Outputs({ step }: { step: Step | undefined }) {
  const outputs = Object.entries(step?.outputs ?? {});
  if (outputs.length === 0) return null;
  const sensitive = new Set(step?.sensitiveOutputs ?? []);
  return (
    <dl className="outputs">
      {outputs.map(([name, value]) => (
        <div key={name}>
          <dt className="mono">{name}</dt>
          <dd className="mono">
            {sensitive.has(name) ? (
              <em>(sensitive, hidden)</em>
            ) : typeof value === 'string' ? (
              value
            ) : (
              JSON.stringify(value)
            )}
          </dd>
        </div>
      ))}
    </dl>
  );
}
