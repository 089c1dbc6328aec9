import type { PlannedStep } from '../../api/types.js';

/**
 * A step's plan details as what they are: each adapter writes them as text (`details`, redacted by
 * the engine; the same text `lockstep plan` prints), and each has its own shape, read here only to
 * present it: Terraform's resource changes, a Git diff, SQL statements, ssh hosts and batches, Lambda
 * canary weights, CloudFormation's change set. Anything else is shown as it is.
 */
export function PlanDetails({ step }: { step: PlannedStep }) {
  const details = step.details ?? '';
  switch (step.type) {
    case 'terraform':
      return <TerraformChanges details={details} />;
    case 'gitops':
      return details === '' ? null : <GitDiff diff={details} />;
    case 'sql-migrations':
      return <SqlStatements details={details} />;
    case 'ssh':
      return <SshRollout summary={step.summary} details={details} />;
    case 'aws-lambda':
      return <LambdaCanary summary={step.summary} details={details} />;
    case 'cloudformation':
      return <CfnChanges details={details} />;
    default:
      return details === '' ? null : <pre className="details-text">{details}</pre>;
  }
}

const TF_LINE = /^(create|update|delete|replace|forget)\s+(\S+)(?:\s+\((.*)\))?$/;

function TerraformChanges({ details }: { details: string }) {
  const lines = details.split('\n').filter((l) => l.trim() !== '');
  const changes = lines.map((l) => TF_LINE.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  const other = lines.filter((l) => !TF_LINE.test(l));
  return (
    <div>
      {other.map((l, i) => (
        <p key={i} className="small muted">
          {l}
        </p>
      ))}
      {changes.length > 0 && (
        <table className="tf-changes">
          <caption className="visually-hidden">Terraform resource changes</caption>
          <thead>
            <tr>
              <th scope="col">Action</th>
              <th scope="col">Resource</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {changes.map((m) => {
              const kind = m[1] ?? '';
              const destroys = kind === 'delete' || kind === 'replace';
              return (
                <tr key={m[2]} className={destroys ? 'tf-destroys' : undefined}>
                  <td>
                    <span className={`badge tf-${kind}`}>{kind}</span>
                    {destroys && <span className="destroy-note"> destroys</span>}
                  </td>
                  <td className="mono">{m[2]}</td>
                  <td className="small">{m[3] ?? ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function GitDiff({ diff }: { diff: string }) {
  return (
    <pre className="diff" aria-label="Git diff">
      {diff.split('\n').map((line, i) => {
        const kind =
          line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ')
            ? 'diff-file'
            : line.startsWith('@@')
              ? 'diff-hunk'
              : line.startsWith('+')
                ? 'diff-add'
                : line.startsWith('-')
                  ? 'diff-del'
                  : 'diff-ctx';
        return (
          <span key={i} className={kind}>
            {line}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}

/** `-- up NAME (FILE; down: …)` then the statements, per migration (migration-plan.ts describeStep). */
function SqlStatements({ details }: { details: string }) {
  const blocks: { head: string; sql: string[] }[] = [];
  const notes: string[] = [];
  for (const line of details.split('\n')) {
    if (line.startsWith('-- up ') || line.startsWith('-- down ')) blocks.push({ head: line.slice(3), sql: [] });
    else if (blocks.length === 0) {
      if (line.trim() !== '') notes.push(line);
    } else blocks[blocks.length - 1]?.sql.push(line);
  }
  return (
    <div>
      {notes.map((n, i) => (
        <p key={i} className="small muted">
          {n}
        </p>
      ))}
      {blocks.map((b, i) => (
        <figure key={i} className="sql">
          <figcaption className="small">{b.head}</figcaption>
          <pre className="mono">{b.sql.join('\n').trim()}</pre>
        </figure>
      ))}
    </div>
  );
}

/** `HOST: FROM → TO` lines, then artifact/restart/health; the batch size from the summary (`N at a time`). */
function SshRollout({ summary, details }: { summary: string; details: string }) {
  const lines = details.split('\n').filter((l) => l !== '');
  const hosts = lines.filter((l) => / → |: already on /.test(l));
  const rest = lines.filter((l) => !hosts.includes(l));
  const per = Number(/(\d+) at a time/.exec(summary)?.[1] ?? hosts.length) || 1;
  const batches: string[][] = [];
  for (let i = 0; i < hosts.length; i += per) batches.push(hosts.slice(i, i + per));
  return (
    <div>
      <ol className="batches">
        {batches.map((batch, i) => (
          <li key={i}>
            <span className="small muted">batch {i + 1}</span>
            <ul>
              {batch.map((h) => (
                <li key={h} className="mono">
                  {h}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
      {rest.map((l, i) => (
        <p key={i} className="small mono">
          {l}
        </p>
      ))}
    </div>
  );
}

/** The traffic steps from the summary (`through 10 %, 50 %, 100 % every 5m`), and the configuration changes. */
function LambdaCanary({ summary, details }: { summary: string; details: string }) {
  const through = /through ((?:\d+(?:\.\d+)? %(?:, )?)+) every (\S+)/.exec(summary);
  const weights = through?.[1]?.split(', ').map((w) => Number.parseFloat(w)) ?? [];
  return (
    <div>
      {weights.length > 0 && (
        <ol
          className="canary"
          aria-label={`Canary: ${weights.map((w) => `${w} %`).join(', ')}, every ${through?.[2] ?? ''}`}
        >
          {weights.map((w, i) => (
            <li key={i}>
              <meter min={0} max={100} value={w} aria-label={`${w} % to the new version`} />
              <span className="small"> {w} % to the new version</span>
            </li>
          ))}
        </ol>
      )}
      {weights.length > 0 && <p className="small muted">verified between steps, every {through?.[2]}</p>}
      {details !== '' && <pre className="details-text">{details}</pre>}
    </div>
  );
}

function CfnChanges({ details }: { details: string }) {
  const lines = details.split('\n').filter((l) => l !== '');
  return (
    <ul className="plain-list">
      {lines.map((l, i) => {
        const destroys = l.startsWith('Remove ') || /replacement: (True|Conditional)/.test(l);
        return (
          <li key={i} className={`mono small ${destroys ? 'tf-destroys' : ''}`}>
            {l}
            {destroys && <span className="destroy-note"> destroys</span>}
          </li>
        );
      })}
    </ul>
  );
}
