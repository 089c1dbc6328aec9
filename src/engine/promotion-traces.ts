import type { AuditEntry } from '../core/audit.js';
import { errorMessage } from '../core/errors.js';
import { fetchFailure } from '../core/fetch-failure.js';
import { promotionTrace, type TraceResource } from '../core/otlp-trace.js';
import type { Store, StoreChange } from '../store/store.js';

/**
 * OpenTelemetry traces of promotions, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: when a promotion ends, in whichever process ends it (a
 * CLI, a server), its trace is sent to the collector over OTLP/HTTP with the JSON encoding. Sending
 * never holds a promotion up: it starts after the commit that ended the promotion, and a collector
 * that is down or slow costs a warning, nothing else.
 */

export interface TraceSettings {
  /** The traces endpoint, `…/v1/traces`. */
  url: URL;
  /** From OTEL_EXPORTER_OTLP_HEADERS (and _TRACES_HEADERS): may hold credentials, never printed. */
  headers: Record<string, string>;
  resource: TraceResource;
  timeoutMs: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The settings from the OTEL_* environment variables of the OpenTelemetry specification that apply
 * to an exporter of traces, or undefined when tracing is off. A problem (a URL that is not one, a
 * protocol other than http/json) is reported through `warn` and turns tracing off: telemetry must
 * not stop a deployment.
 */
export function traceSettings(env: NodeJS.ProcessEnv, version: () => string, warn: (message: string) => void): TraceSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_TRACES_EXPORTER !== undefined && !env.OTEL_TRACES_EXPORTER.split(',').map((s) => s.trim()).includes('otlp')) return undefined;
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!tracesEndpoint && !endpoint) return undefined;
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim();
  if (protocol !== undefined && protocol !== '' && protocol !== 'http/json') {
    warn(`OpenTelemetry: OTEL_EXPORTER_OTLP_PROTOCOL is ${protocol}; Lockstep sends traces as http/json only (a collector's OTLP/HTTP receiver takes both): no traces are sent`);
    return undefined;
  }
  let url: URL;
  try {
    // The signal-specific endpoint is used as given; the general one gets /v1/traces appended (the specification's rule).
    url = tracesEndpoint ? new URL(tracesEndpoint) : new URL(`${(endpoint ?? '').replace(/\/+$/, '')}/v1/traces`);
  } catch {
    warn(`OpenTelemetry: ${tracesEndpoint ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT'} is not a URL: no traces are sent`);
    return undefined;
  }
  const timeout = Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT);
  return {
    url,
    headers: { ...keyValues(env.OTEL_EXPORTER_OTLP_HEADERS), ...keyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
    resource: {
      serviceName: env.OTEL_SERVICE_NAME?.trim() || 'lockstep',
      attributes: keyValues(env.OTEL_RESOURCE_ATTRIBUTES),
      version: version(),
    },
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS,
  };
}

/** `k1=v1,k2=v2` with percent-encoded values, as the OTEL_* variables write them; a malformed pair is skipped. */
function keyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      // Not percent-decodable: skipped rather than sent mangled.
    }
  }
  return out;
}

/** Where traces go, for messages: never the query or credentials a URL may carry. */
function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Sends the traces of promotions. Each send is bounded by the settings' timeout; `idle` waits for
 * those in flight (a CLI command waits before it exits, so its trace is not lost).
 */
export class TraceExporter {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly settings: TraceSettings,
    private readonly warn: (message: string) => void,
  ) {}

  /** Sends the promotion's trace, reading it from `store`; never rejects. */
  send(store: Store, promotionId: string): void {
    const sending = this.sendNow(store, promotionId).catch((error: unknown) => {
      this.warn(`OpenTelemetry: the trace of promotion ${promotionId.slice(0, 10)} was not sent to ${shown(this.settings.url)}: ${errorMessage(error)}`);
    });
    this.inFlight.add(sending);
    void sending.finally(() => this.inFlight.delete(sending));
  }

  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async sendNow(store: Store, promotionId: string): Promise<void> {
    const promotion = await store.getPromotion(promotionId);
    const steps = await store.listSteps(promotionId);
    const body = JSON.stringify(promotionTrace(promotion, steps, this.settings.resource));
    const response = await fetch(this.settings.url, {
      method: 'POST',
      headers: { ...this.settings.headers, 'Content-Type': 'application/json' },
      body,
      signal: AbortSignal.timeout(this.settings.timeoutMs),
    }).catch((error: unknown) => {
      throw new Error(error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${this.settings.timeoutMs} ms` : fetchFailure(error));
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`the collector answered HTTP ${response.status}`);
  }
}

/**
 * The store with the exporter listening: after a commit that ends a promotion (its
 * `promotion.finished` entry), the promotion's trace is sent; `close` waits for what is in flight
 * first. Every other method is the store's own, bound to it: a Proxy rather than a class that
 * forwards each method, so a method the port gains needs nothing here.
 */
export function tracedStore(store: Store, exporter: TraceExporter): Store {
  const commit = async (change: StoreChange): Promise<AuditEntry[]> => {
    const entries = await store.commit(change);
    for (const entry of entries)
      if (entry.kind === 'promotion.finished' && entry.promotionId !== undefined) exporter.send(store, entry.promotionId);
    return entries;
  };
  const close = async (): Promise<void> => {
    await exporter.idle();
    await store.close();
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'commit') return commit;
      if (property === 'close') return close;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
