import type { MiddlewareHandler } from 'hono';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditEntry } from '../core/audit.js';
import type { PromotionState } from '../core/model.js';
import type { ProjectHandle } from '../project/project-handle.js';

/** States a promotion leaves only by moving on: what `lockstep_promotions_open` counts. */
const OPEN_STATES: readonly PromotionState[] = ['pending', 'running', 'rolling-back', 'interrupted'];

/** Audit entries read per store call while catching up. */
const PAGE = 1000;

/** Step durations, in seconds: from a quick `command` to a long Terraform apply. */
const STEP_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/** HTTP request durations, in seconds. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the audit tail of one project remembers between scrapes. */
interface Tail {
  /** The last audit entry counted. */
  afterSeq: number;
  /** The kind (`promotion` or `rollback`) of each promotion requested and not finished yet. */
  kinds: Map<string, string>;
  /** The label sets of the gauges set at the last scrape, so those that are gone can be removed. */
  open: Array<Record<string, string>>;
  oldest: Array<Record<string, string>>;
  /** One scrape at a time reads the log: two at once would count the same entries twice. */
  reading: Promise<void>;
}

/**
 * What `GET /metrics` shows, in Prometheus' text format (prom-client). Per project: what its audit
 * log says happened (promotions finished, by environment, kind and result; step durations by
 * component type), and what its store holds now (open promotions, the age of the oldest pending one,
 * the audit log's length, whether a config change was refused). For the server: its HTTP requests,
 * and the Node process (prom-client's default metrics).
 *
 * The counters and the histogram are fed by reading each project's audit log after a cursor at every
 * scrape. So they count what every process on the store did (a CLI on a laptop as much as this
 * server), and a restarted server counts the whole history again: a Prometheus counter may start
 * over, and `rate()` handles that. Several servers on one store report the same totals: aggregate
 * them with `max without (instance)`, not `sum`.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly tails = new Map<string, Tail>();
  private readonly finished: Counter;
  private readonly steps: Histogram;
  private readonly open: Gauge;
  private readonly oldestPending: Gauge;
  private readonly auditEntries: Gauge;
  private readonly configRefused: Gauge;
  private readonly requests: Counter;
  private readonly requestSeconds: Histogram;

  constructor(private readonly now: () => number = Date.now) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.finished = new Counter({
      name: 'lockstep_promotions_finished_total',
      help: 'Promotions that ended, by result: succeeded, failed, rolled-back (failed, and every step it had changed was rolled back), rejected or cancelled.',
      labelNames: ['project', 'environment', 'kind', 'result'],
      registers,
    });
    this.steps = new Histogram({
      name: 'lockstep_step_duration_seconds',
      help: 'How long a step took to apply (plan, apply and verify), by component type and result.',
      labelNames: ['project', 'type', 'result'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.open = new Gauge({
      name: 'lockstep_promotions_open',
      help: 'Promotions not ended yet, by state: pending (waiting on gates), running, rolling-back, interrupted (a person decides).',
      labelNames: ['project', 'environment', 'state'],
      registers,
    });
    this.oldestPending = new Gauge({
      name: 'lockstep_promotion_pending_oldest_age_seconds',
      help: 'How long the oldest pending promotion of the environment has waited since it was requested (absent when none waits).',
      labelNames: ['project', 'environment'],
      registers,
    });
    this.auditEntries = new Gauge({
      name: 'lockstep_audit_log_entries',
      help: "The audit log's length: the sequence number of its last entry.",
      labelNames: ['project'],
      registers,
    });
    this.configRefused = new Gauge({
      name: 'lockstep_config_refused',
      help: '1 while a change to the project’s lockstep.yaml is refused (the previous config stays in force), else 0.',
      labelNames: ['project'],
      registers,
    });
    this.requests = new Counter({
      name: 'lockstep_http_requests_total',
      help: 'HTTP requests answered, by method, route (the matched pattern) and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'lockstep_http_request_duration_seconds',
      help: 'How long answering an HTTP request took, by method and route (an event stream counts until it ends).',
      labelNames: ['method', 'route'],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** Counts every request by its route's pattern (never its path: ids would make a series each). */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const started = performance.now();
      try {
        await next();
      } finally {
        // Without a matching route Hono reports the app's catch-all: one series for every path that is not ours.
        const route = c.req.routePath === '/*' || c.req.routePath === '*' ? 'unmatched' : c.req.routePath;
        const labels = { method: c.req.method, route };
        this.requests.inc({ ...labels, status: String(c.res.status) });
        this.requestSeconds.observe(labels, (performance.now() - started) / 1000);
      }
    };
  }

  /**
   * The metrics of the server and of `projects` (those the caller may read), brought up to date.
   * Series of other projects the server serves are left out.
   */
  async render(projects: readonly ProjectHandle[], served: readonly string[]): Promise<string> {
    for (const project of projects) await this.update(project);
    const hidden = new Set(served.filter((name) => !projects.some((p) => p.name === name)).map(labelValue));
    const text = await this.registry.metrics();
    if (hidden.size === 0) return text;
    return text
      .split('\n')
      .filter((line) => {
        const project = PROJECT_LABEL.exec(line)?.[1];
        return line.startsWith('#') || project === undefined || !hidden.has(project);
      })
      .join('\n');
  }

  private async update(project: ProjectHandle): Promise<void> {
    let tail = this.tails.get(project.name);
    if (tail === undefined) {
      tail = { afterSeq: 0, kinds: new Map(), open: [], oldest: [], reading: Promise.resolve() };
      this.tails.set(project.name, tail);
    }
    const current = tail;
    // Chained, so that a scrape waits for one already reading; a failed read fails its own scrape only.
    const reading = current.reading.catch(() => undefined).then(() => this.read(project, current));
    current.reading = reading;
    await reading;
  }

  private async read(project: ProjectHandle, tail: Tail): Promise<void> {
    const { store } = project;
    for (;;) {
      const page = await store.auditPage(tail.afterSeq, PAGE);
      for (const entry of page) {
        this.count(project, tail, entry);
        tail.afterSeq = entry.seq;
      }
      if (page.length < PAGE) break;
    }
    this.auditEntries.set({ project: project.name }, tail.afterSeq);
    this.configRefused.set({ project: project.name }, project.refused === undefined ? 0 : 1);

    for (const labels of tail.open) this.open.remove(labels);
    for (const labels of tail.oldest) this.oldestPending.remove(labels);
    tail.open = [];
    tail.oldest = [];
    const counts = new Map<string, { environment: string; state: string; n: number }>();
    const oldest = new Map<string, number>();
    for (const p of await store.listPromotions({ states: OPEN_STATES })) {
      const key = `${p.environment}\u0000${p.state}`;
      const entry = counts.get(key) ?? { environment: p.environment, state: p.state, n: 0 };
      entry.n++;
      counts.set(key, entry);
      if (p.state === 'pending') oldest.set(p.environment, Math.min(oldest.get(p.environment) ?? Infinity, Date.parse(p.requestedAt)));
    }
    for (const { environment, state, n } of counts.values()) {
      const labels = { project: project.name, environment, state };
      this.open.set(labels, n);
      tail.open.push(labels);
    }
    for (const [environment, requested] of oldest) {
      const labels = { project: project.name, environment };
      this.oldestPending.set(labels, Math.max(0, (this.now() - requested) / 1000));
      tail.oldest.push(labels);
    }
  }

  /** One audit entry's part in the counters. */
  private count(project: ProjectHandle, tail: Tail, entry: AuditEntry): void {
    const data = entry.data;
    switch (entry.kind) {
      case 'promotion.requested':
        if (entry.promotionId !== undefined) tail.kinds.set(entry.promotionId, typeof data.kind === 'string' ? data.kind : 'promotion');
        return;
      case 'promotion.finished': {
        const kind = (entry.promotionId !== undefined ? tail.kinds.get(entry.promotionId) : undefined) ?? 'promotion';
        if (entry.promotionId !== undefined) tail.kinds.delete(entry.promotionId);
        this.finished.inc({ project: project.name, environment: entry.environment ?? '', kind, result: result(data) });
        return;
      }
      case 'step.succeeded':
      case 'step.failed': {
        if (typeof data.durationMs !== 'number' || entry.component === undefined) return;
        const type = project.loaded.config.components[entry.component]?.type ?? 'unknown';
        const outcome = entry.kind === 'step.succeeded' ? 'succeeded' : 'failed';
        this.steps.observe({ project: project.name, type, result: outcome }, data.durationMs / 1000);
        return;
      }
      default:
        return;
    }
  }
}

/** `project="…"` in a sample line, as prom-client escapes a label value. */
const PROJECT_LABEL = /[{,]project="((?:[^"\\]|\\.)*)"/;

/** A label value as the text format writes it. */
function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A finished promotion's result: its state, or `rolled-back` for a failed one whose changes were all undone. */
function result(data: Record<string, unknown>): string {
  const state = typeof data.state === 'string' ? data.state : 'unknown';
  const rolledBack = Array.isArray(data.rolledBack) ? data.rolledBack.length : 0;
  const rollbackFailed = Array.isArray(data.rollbackFailed) ? data.rollbackFailed.length : 0;
  const left = Array.isArray(data.leftAtNewVersion) ? data.leftAtNewVersion.length : 0;
  return state === 'failed' && rolledBack > 0 && rollbackFailed === 0 && left === 0 ? 'rolled-back' : state;
}
