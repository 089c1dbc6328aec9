import { useState } from 'react';
import { api } from '../../api/client.js';
import type { Decisions, Promotion } from '../../api/types.js';
import { shortId } from '../../shell/format.js';
import { navigate, paths } from '../../shell/router.js';

/** The decision a person is about to confirm. */
type Pending =
  | { kind: 'retry'; step: string }
  | { kind: 'mark-done'; step: string }
  | { kind: 'cancel' }
  | { kind: 'rollback'; to: string };

const ENDED = new Set(['succeeded', 'failed', 'rolled-back', 'cancelled', 'rejected']);

/**
 * What a person may do to a promotion besides deciding on its gates, as the server says
 * (`GET …/decisions`): for an interrupted one, *Retry* or *Mark done* each interrupted step (as
 * `lockstep resume --retry-step / --mark-done`); *Cancel* a pending or running one, with a reason (as
 * `lockstep cancel`); once it has ended, *Roll back* its environment to the release it ran before (as
 * `lockstep rollback`). Each asks for confirmation first; where the role or the state refuses, the
 * server's reason is shown instead. The page follows the promotion's events, so what happens next
 * shows up by itself.
 */
export function ActionsPanel({
  project,
  promotion,
  decisions,
  onDone,
}: {
  project: string;
  promotion: Promotion;
  decisions: Decisions | undefined;
  onDone: () => void;
}) {
  const [pending, setPending] = useState<Pending | undefined>();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<string | undefined>();
  if (decisions === undefined) return null;

  const interrupted = promotion.state === 'interrupted';
  const cancellable = promotion.state === 'pending' || promotion.state === 'running';
  const ended = ENDED.has(promotion.state);
  if (!interrupted && !cancellable && !ended) return null;

  const ask = (next: Pending): void => {
    setError(undefined);
    setDone(undefined);
    setReason('');
    setPending(next);
  };

  const confirm = async (decision: Pending): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      switch (decision.kind) {
        case 'retry':
          await api.resume(project, promotion.id, { retryStep: [decision.step] });
          setDone(`Recorded: ${decision.step} is applied again when the promotion carries on, once no step is left interrupted.`);
          break;
        case 'mark-done':
          await api.resume(project, promotion.id, { markDone: [decision.step] });
          setDone(`Recorded: ${decision.step} is done; the promotion carries on once no step is left interrupted.`);
          break;
        case 'cancel': {
          const text = reason.trim();
          const { promotion: after } = await api.cancel(project, promotion.id, text === '' ? {} : { reason: text });
          setDone(
            after.state === 'cancelled'
              ? 'The promotion is cancelled.'
              : 'Cancel requested: its running steps stop, then its failure policy applies.',
          );
          break;
        }
        case 'rollback': {
          const { promotion: rollback } = await api.rollback(project, promotion.environment);
          setPending(undefined);
          navigate(paths.promotion(project, rollback.id));
          return;
        }
      }
      setPending(undefined);
      onDone();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const { retry, markDone, cancel, rollback, rollbackTo } = decisions;
  return (
    <section aria-labelledby="actions-title" className="panel">
      <h2 id="actions-title">Decisions</h2>
      {interrupted && (
        <>
          <p className="small">
            Interrupted: a step may or may not have finished. Check the system, then for each step either apply it
            again or mark it done (it finished).
          </p>
          <ul className="actions-steps" aria-label="Interrupted steps">
            {decisions.interruptedSteps.map((step) => (
              <li key={step}>
                <span className="mono">{step}</span>{' '}
                {retry.allowed && (
                  <button type="button" className="button" disabled={busy} onClick={() => ask({ kind: 'retry', step })}>
                    Retry {step}
                  </button>
                )}{' '}
                {markDone.allowed && (
                  <button
                    type="button"
                    className="button"
                    disabled={busy}
                    onClick={() => ask({ kind: 'mark-done', step })}
                  >
                    Mark {step} done
                  </button>
                )}
              </li>
            ))}
          </ul>
          {!retry.allowed && <p className="notice notice-info small">You may not retry a step: {retry.reason}</p>}
          {!markDone.allowed && <p className="notice notice-info small">You may not mark a step done: {markDone.reason}</p>}
        </>
      )}
      {cancellable &&
        (cancel.allowed ? (
          <button type="button" className="button button-danger" disabled={busy} onClick={() => ask({ kind: 'cancel' })}>
            Cancel this promotion…
          </button>
        ) : (
          <p className="notice notice-info small">You may not cancel it: {cancel.reason}</p>
        ))}
      {ended &&
        (rollback.allowed && rollbackTo !== undefined ? (
          <button
            type="button"
            className="button button-danger"
            disabled={busy}
            onClick={() => ask({ kind: 'rollback', to: rollbackTo })}
          >
            Roll back {promotion.environment}…
          </button>
        ) : (
          <p className="notice notice-info small">
            You may not roll back {promotion.environment}: {rollback.reason}
          </p>
        ))}
      {pending !== undefined && (
        <div role="group" aria-label="Confirm the decision" className="confirm">
          <p>{question(pending, promotion)}</p>
          {pending.kind === 'cancel' && (
            <>
              <label htmlFor="cancel-reason">Reason (recorded with the promotion and in the audit log)</label>
              <textarea id="cancel-reason" rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
            </>
          )}
          <div className="decision-buttons">
            <button
              type="button"
              className={`button ${pending.kind === 'retry' || pending.kind === 'mark-done' ? 'button-primary' : 'button-danger'}`}
              disabled={busy}
              onClick={() => void confirm(pending)}
            >
              {confirmLabel(pending, promotion)}
            </button>
            <button type="button" className="button" disabled={busy} onClick={() => setPending(undefined)}>
              Back
            </button>
          </div>
        </div>
      )}
      {done !== undefined && (
        <p role="status" className="notice notice-info">
          {done}
        </p>
      )}
      {error !== undefined && (
        <p role="alert" className="notice notice-error">
          {error}
        </p>
      )}
    </section>
  );
}

function question(pending: Pending, promotion: Promotion): string {
  switch (pending.kind) {
    case 'retry':
      return `Apply ${pending.step} again? Do so when it did not finish, or when applying it twice is safe.`;
    case 'mark-done':
      return `Mark ${pending.step} done? Do so only when you checked that it finished: it is not applied again.`;
    case 'cancel':
      return promotion.state === 'pending'
        ? 'Cancel this promotion? It ends without running.'
        : 'Cancel this promotion? Its running steps are stopped, then its failure policy applies.';
    case 'rollback':
      return `Roll ${promotion.environment} back to release ${shortId(pending.to)}? It promotes that release to ${promotion.environment} again, recorded as a rollback, through the same gates.`;
  }
}

function confirmLabel(pending: Pending, promotion: Promotion): string {
  switch (pending.kind) {
    case 'retry':
      return `Confirm: retry ${pending.step}`;
    case 'mark-done':
      return `Confirm: mark ${pending.step} done`;
    case 'cancel':
      return 'Confirm: cancel the promotion';
    case 'rollback':
      return `Confirm: roll back ${promotion.environment}`;
  }
}
