import { useState } from 'react';
import { api } from '../../api/client.js';
import type { Decisions, Promotion } from '../../api/types.js';
import { GateLine } from '../board/board-page.js';

/**
 * The gates of a promotion as they stand, and the caller's decision: Approve and Reject (with a
 * comment) when the server says they may, otherwise the reason it gives. The approval binds to the
 * plan digest shown.
 */
export function DecisionPanel({
  project,
  promotion,
  decisions,
  onDecided,
}: {
  project: string;
  promotion: Promotion;
  decisions: Decisions | undefined;
  onDecided: () => void;
}) {
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const pending = promotion.state === 'pending';

  const decide = async (decision: 'approve' | 'reject'): Promise<void> => {
    setError(undefined);
    const text = comment.trim();
    if (decision === 'reject' && text === '') {
      setError('A rejection needs a comment saying why.');
      return;
    }
    setBusy(true);
    try {
      if (decision === 'approve') await api.approve(project, promotion.id, text === '' ? {} : { comment: text });
      else await api.reject(project, promotion.id, { comment: text });
      setDone(decision === 'approve' ? 'Your approval is recorded.' : 'The promotion is rejected.');
      setComment('');
      onDecided();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const approve = decisions?.approve;
  const reject = decisions?.reject;
  return (
    <section aria-labelledby="gates-title" className="panel">
      <h2 id="gates-title">Gates</h2>
      {promotion.plan.gates.length === 0 ? (
        <p className="muted">No gates: it runs once requested.</p>
      ) : (
        <ul className="gates">
          {promotion.plan.gates.map((g, i) => (
            <GateLine key={`${g.gate}-${i}`} gate={g} />
          ))}
        </ul>
      )}
      <p className="small">
        Approvals bind to plan digest <code className="digest">{promotion.plan.digest}</code>
      </p>
      {pending && decisions !== undefined && (
        <div className="decision">
          {(approve?.allowed === true || reject?.allowed === true) && (
            <>
              <label htmlFor="decision-comment">Comment {reject?.allowed === true ? '(required to reject)' : ''}</label>
              <textarea id="decision-comment" rows={2} value={comment} onChange={(e) => setComment(e.target.value)} />
            </>
          )}
          <div className="decision-buttons">
            <button
              type="button"
              className="button button-primary"
              disabled={busy || approve?.allowed !== true}
              aria-describedby={approve?.allowed === true ? undefined : 'approve-reason'}
              onClick={() => void decide('approve')}
            >
              Approve
            </button>
            <button
              type="button"
              className="button button-danger"
              disabled={busy || reject?.allowed !== true}
              aria-describedby={reject?.allowed === true ? undefined : 'reject-reason'}
              onClick={() => void decide('reject')}
            >
              Reject
            </button>
          </div>
          {approve?.allowed === false && (
            <p id="approve-reason" className="notice notice-info small">
              You may not approve: {approve.reason}
            </p>
          )}
          {reject?.allowed === false && reject.reason !== approve?.reason && (
            <p id="reject-reason" className="notice notice-info small">
              You may not reject: {reject.reason}
            </p>
          )}
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
