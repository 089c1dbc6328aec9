import { api } from '../../api/client.js';
import { shortId } from '../../shell/format.js';
import { useAsync } from '../../shell/use-async.js';
import { ErrorNotice } from '../board/board-page.js';

/** One promotion: its plan, gates and steps. */
export function PromotionPage({ project, id }: { project: string; id: string }) {
  const [loaded] = useAsync((signal) => api.promotion(project, id, signal), [project, id]);
  if (loaded.state === 'loading') return <p className="loading">Loading the promotion…</p>;
  if (loaded.state === 'error') return <ErrorNotice error={loaded.error} />;
  const { promotion } = loaded.value;
  return (
    <section>
      <h1>
        Release {shortId(promotion.releaseId)} to {promotion.environment}
      </h1>
      <p>State: {promotion.state}</p>
    </section>
  );
}
