import { memo, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, api } from '../../api/client.js';
import { followEvents } from '../../api/events.js';
import type { EnvironmentStatus, PendingPromotion, PlannedGate } from '../../api/types.js';
import { shortId, Time } from '../../shell/format.js';
import { mayIn } from '../../shell/roles.js';
import { Link, navigate, paths } from '../../shell/router.js';
import { useSignedIn } from '../../shell/session-context.js';
import { useAsync } from '../../shell/use-async.js';
import { DraggableRelease, useDropToPromote } from './drag-promote.js';
import { DriftSection } from './drift-section.js';
import { pipelineColumns } from './pipeline-columns.js';

/**
 * The pipeline board: every environment as a card, left to right along `after`, with the release it
 * runs, each component's version, what waits there and on what, and when it last changed. Follows the
 * event stream, so a promotion started or approved anywhere shows up here.
 */
export function BoardPage({ project }: { project: string }) {
  const [environments, reload] = useAsync((signal) => api.environments(project, signal), [project]);
  // Environments read again one by one after events, newer than the whole-board read they replace.
  const [fresh, setFresh] = useState<Record<string, EnvironmentStatus>>({});
  const [live, setLive] = useState(false);
  const known = useRef<EnvironmentStatus[]>([]);
  if (environments.state === 'ready') known.current = environments.value;

  useEffect(() => setFresh({}), [environments]);

  useEffect(() => {
    const controller = new AbortController();
    const pending = new Set<string>();
    let whole = false;
    let timer: number | undefined;
    let reading = false;
    // Many entries arrive together (a promotion's steps): after a pause, read once each environment
    // they name, and those that come after it (their gates and promote buttons depend on it), or the
    // whole board for an entry that names none. One batch at a time; what arrives meanwhile waits.
    const flush = async (): Promise<void> => {
      if (reading || controller.signal.aborted) return;
      const names = [...pending];
      pending.clear();
      const all = whole || names.length > REREAD_ONE_BY_ONE;
      whole = false;
      if (all) {
        reload();
        return;
      }
      reading = true;
      try {
        const read = await Promise.all(
          names.map((name) => api.environment(project, name, controller.signal).catch(() => undefined)),
        );
        if (controller.signal.aborted) return;
        if (read.some((e) => e === undefined)) reload();
        else setFresh((before) => ({ ...before, ...Object.fromEntries(read.flatMap((e) => (e === undefined ? [] : [[e.environment, e]]))) }));
      } finally {
        reading = false;
        if (pending.size > 0 || whole) schedule();
      }
    };
    const schedule = (): void => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void flush(), 150);
    };
    void followEvents(
      project,
      {
        kinds: ['audit'],
        after: 'now',
        onOpen: setLive,
        onEvent: (event) => {
          if (event.kind !== 'audit') return;
          const name = event.entry.environment;
          if (name === undefined && NOT_ON_THE_BOARD.has(event.entry.kind)) return;
          if (name === undefined) whole = true;
          else {
            pending.add(name);
            for (const e of known.current) if (e.after.includes(name)) pending.add(e.environment);
          }
          schedule();
        },
      },
      controller.signal,
    );
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [project, reload]);

  if (environments.state === 'loading') return <p className="loading">Loading the pipeline…</p>;
  if (environments.state === 'error') return <ErrorNotice error={environments.error} />;
  const list = environments.value.map((e) => fresh[e.environment] ?? e);
  const columns = pipelineColumns(list);
  const empty = list.every(
    (e) => e.lastPromotion === undefined && e.pending.length === 0 && e.activePromotion === undefined,
  );
  return (
    <section aria-labelledby="board-title">
      <div className="page-head">
        <h1 id="board-title">Pipeline</h1>
        <span className={`live ${live ? 'live-on' : ''}`} role="status">
          {live ? 'Live' : 'Connecting…'}
        </span>
      </div>
      {empty && <EmptyProject project={project} first={columns[0]?.[0]?.environment} />}
      <div className="pipeline" role="list" aria-label="Environments, in promotion order">
        {columns.map((column, i) => (
          <div className="pipeline-column" key={i} role="presentation">
            {column.map((env) => (
              <div role="listitem" key={env.environment}>
                <EnvironmentCard
                  project={project}
                  env={env}
                  next={list.filter((n) => n.after.includes(env.environment))}
                />
              </div>
            ))}
          </div>
        ))}
      </div>
    </section>
  );
}

function EmptyProject({ project, first }: { project: string; first: string | undefined }) {
  return (
    <div className="panel empty-state">
      <h2>Nothing promoted yet</h2>
      <p>Every environment of {project} is below, still empty. To send the first release through:</p>
      <ol>
        <li>
          Create a release: <code>lockstep release create --set COMPONENT=VERSION …</code>
        </li>
        <li>
          Promote it{first === undefined ? '' : ` to ${first}`}:{' '}
          <code>lockstep promote RELEASE --to {first ?? 'ENV'}</code>
        </li>
      </ol>
      <p>Its cards fill in as it runs; this page follows it live.</p>
    </div>
  );
}

/** Entries that name no environment and change nothing the board shows. */
const NOT_ON_THE_BOARD = new Set(['config.loaded', 'release.created', 'token.created', 'token.revoked', 'audit.checkpoint']);

/** Above this many environments named by one burst of events, the board is read whole again. */
const REREAD_ONE_BY_ONE = 20;

/**
 * A card is drawn again only when its environment or another prop changed (`next` compared by the
 * environments it names): an event re-reads one environment, and only its card and its neighbours'
 * are redrawn.
 */
const EnvironmentCard = memo(EnvironmentCardView, (a, b) =>
  Object.keys({ ...a, ...b }).every((key) =>
    key === 'next'
      ? a.next.map((n) => n.environment).join('\n') === b.next.map((n) => n.environment).join('\n')
      : a[key as keyof typeof a] === b[key as keyof typeof b],
  ),
);

function EnvironmentCardView({
  project,
  env,
  next,
}: {
  project: string;
  env: EnvironmentStatus;
  next: EnvironmentStatus[];
}) {
  const { whoami } = useSignedIn();
  const headingId = `env-${env.environment}`;
  const last = env.lastPromotion;
  const changedAt = last?.finishedAt ?? last?.startedAt ?? last?.requestedAt;
  const state =
    env.activePromotion !== undefined
      ? 'running'
      : env.pending.length > 0
        ? 'pending'
        : last?.state === 'failed'
          ? 'failed'
          : env.release !== undefined
            ? 'ok'
            : 'empty';
  const drop = useDropToPromote(project, env);
  return (
    <article className={`env-card env-${state} render-when-visible${drop.over ? ' drop-target' : ''}`} aria-labelledby={headingId} {...drop.handlers}>
      <header>
        <h2 id={headingId}>{env.environment}</h2>
        {env.after.length > 0 && <span className="muted small">after {env.after.join(', ')}</span>}
      </header>
      {env.description !== undefined && <p className="muted small">{env.description}</p>}
      <dl className="facts">
        <dt>Release</dt>
        <dd>
          {env.release === undefined ? (
            <span className="muted">none yet</span>
          ) : (
            <DraggableRelease release={env.release} from={env.environment}>
              <span className="mono">{shortId(env.release)}</span>
            </DraggableRelease>
          )}
        </dd>
        <dt>Last promotion</dt>
        <dd>
          {changedAt === undefined || last === undefined ? (
            <span className="muted">never</span>
          ) : (
            <>
              <Link to={paths.promotion(project, last.id)}>{last.state}</Link> <Time iso={changedAt} />
            </>
          )}
        </dd>
      </dl>
      {env.components.length > 0 && (
        <table className="components">
          <caption className="visually-hidden">Components in {env.environment}</caption>
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">Version</th>
              <th scope="col">Health</th>
            </tr>
          </thead>
          <tbody>
            {env.components.map((c) => (
              <tr key={c.component}>
                <th scope="row">{c.component}</th>
                <td className="mono">{c.version}</td>
                <td>
                  <Health ok={!env.differsFromRelease.includes(c.component)} verification={last?.verification?.state} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <DriftSection project={project} env={env} />
      {env.activePromotion !== undefined && (
        <p className="running-note">
          Running now:{' '}
          <Link to={paths.promotion(project, env.activePromotion.id)}>
            release {shortId(env.activePromotion.releaseId)}
          </Link>
        </p>
      )}
      {env.pending.map((p) => (
        <PendingBox key={p.promotion.id} project={project} pending={p} />
      ))}
      {drop.offer !== undefined && (
        <div role="group" aria-label={`Promote release ${shortId(drop.offer.release)} to ${env.environment}?`} className="confirm">
          <p className="small">
            Release <span className="mono">{shortId(drop.offer.release)}</span> from {drop.offer.from}, dropped here.
          </p>
          <div className="decision-buttons">
            <PromoteButton project={project} release={drop.offer.release} to={env.environment} />
            <button type="button" className="button" onClick={drop.clear}>
              Don’t promote
            </button>
          </div>
        </div>
      )}
      {env.release !== undefined &&
        next.map((n) =>
          mayIn(whoami, project, 'promote', n.environment) ? (
            <PromoteButton key={n.environment} project={project} release={env.release ?? ''} to={n.environment} />
          ) : null,
        )}
    </article>
  );
}

function Health({ ok, verification }: { ok: boolean; verification: string | undefined }) {
  if (!ok) return <span className="badge badge-warn">other version</span>;
  if (verification === 'failed') return <span className="badge badge-bad">verification failed</span>;
  return <span className="badge badge-ok">{verification === 'passed' ? 'verified' : 'as released'}</span>;
}

function PendingBox({ project, pending }: { project: string; pending: PendingPromotion }) {
  const waiting = pending.gates.filter((g) => g.status !== 'passed');
  return (
    <section className="pending" aria-label={`Pending promotion of release ${shortId(pending.promotion.releaseId)}`}>
      <h3>
        Pending:{' '}
        <Link to={paths.promotion(project, pending.promotion.id)}>release {shortId(pending.promotion.releaseId)}</Link>
      </h3>
      <p className="small">
        Requested by {pending.promotion.requestedBy} <Time iso={pending.promotion.requestedAt} />
      </p>
      <ul className="gates">
        {waiting.map((g, i) => (
          <GateLine key={`${g.gate}-${i}`} gate={g} />
        ))}
      </ul>
    </section>
  );
}

export function GateLine({ gate }: { gate: PlannedGate }) {
  return (
    <li className={`gate gate-${gate.status}`}>
      <span className="badge">{gate.status}</span> <strong>{gate.gate}</strong>: {gate.message}
      {gate.who !== undefined && gate.who.length > 0 && (
        <span className="small"> (may act: {gate.who.join(', ')})</span>
      )}
      {gate.until !== undefined && (
        <span className="small">
          {' '}
          (until <Time iso={gate.until} />)
        </span>
      )}
    </li>
  );
}

function PromoteButton({ project, release, to }: { project: string; release: string; to: string }) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const promote = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const { promotion } = await api.promote(project, { release, to });
      navigate(paths.promotion(project, promotion.id));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };
  const label = useMemo(() => `Promote to ${to}`, [to]);
  return (
    <div className="promote">
      <button type="button" className="button button-primary" disabled={busy} onClick={() => void promote()}>
        {label}
      </button>
      {error !== undefined && (
        <p role="alert" className="notice notice-error small">
          {error}
        </p>
      )}
    </div>
  );
}

export function ErrorNotice({ error }: { error: Error }) {
  const forbidden = error instanceof ApiError && (error.status === 403 || error.status === 404);
  return (
    <p role="alert" className="notice notice-error">
      {forbidden ? error.message : `Could not load this page: ${error.message}`}
    </p>
  );
}
