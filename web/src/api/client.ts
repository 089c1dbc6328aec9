import type {
  ApproveBody,
  AuditVerification,
  CancelBody,
  DriftBody,
  DoraMetrics,
  DriftReport,
  ResumeBody,
  RollbackBody,
  AuthConfig,
  CreatePromotionBody,
  Decisions,
  EnvironmentStatus,
  ErrorBody,
  LogLine,
  Promotion,
  RejectBody,
  RejectReleaseBody,
  Release,
  Session,
  Step,
  WhoAmI,
} from './types.js';

/** An API answer that was not a success: the server's own message and, for a 400, the field. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'lockstep.token';

/**
 * The API token pasted on the sign-in page, kept in this browser's localStorage (local use: a person's
 * own machine). A session cookie from the identity provider needs nothing stored here.
 */
export const storedToken = {
  get: (): string | undefined => localStorage.getItem(TOKEN_KEY) ?? undefined,
  set: (token: string): void => localStorage.setItem(TOKEN_KEY, token),
  clear: (): void => localStorage.removeItem(TOKEN_KEY),
};

const enc = encodeURIComponent;

/**
 * The HTTP API, same origin. Credentials: the session cookie (sent by the browser, with the CSRF
 * token it came with on every request that changes something), or the pasted API token as a bearer.
 */
export class ApiClient {
  /** The session's CSRF token (GET /api/v1/session gives it); a bearer token needs none. */
  csrf: string | undefined;

  headers(): Record<string, string> {
    const token = storedToken.get();
    return {
      Accept: 'application/json',
      ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}),
      ...(this.csrf !== undefined && token === undefined ? { 'X-CSRF-Token': this.csrf } : {}),
    };
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { ...this.headers(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await response.text();
    const parsed: unknown = text === '' ? undefined : safeJson(text);
    if (!response.ok) {
      const error = (parsed as Partial<ErrorBody> | undefined)?.error;
      throw new ApiError(response.status, error?.message ?? `HTTP ${response.status}`, error?.code, error?.field);
    }
    return parsed as T;
  }

  authConfig = (): Promise<AuthConfig> => this.request('GET', '/api/v1/auth/config');
  async session(): Promise<Session> {
    const session = await this.request<Session>('GET', '/api/v1/session');
    this.csrf = session.csrfToken;
    return session;
  }
  signOut = (): Promise<unknown> => this.request('POST', '/auth/logout');
  whoami = (): Promise<WhoAmI> => this.request('GET', '/api/v1/whoami');

  environments = (project: string, signal?: AbortSignal): Promise<EnvironmentStatus[]> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/environments`, undefined, signal);
  environment = (project: string, name: string, signal?: AbortSignal): Promise<EnvironmentStatus> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/environments/${enc(name)}`, undefined, signal);
  releases = (project: string, limit = 50): Promise<Release[]> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/releases?limit=${limit}`);
  /** A release (by id or unique prefix) and every promotion of it, newest first. */
  release = (project: string, id: string): Promise<{ release: Release; promotions: Promotion[] }> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/releases/${enc(id)}`);
  promotions = (project: string, limit = 50): Promise<Promotion[]> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/promotions?limit=${limit}`);
  promotion = (project: string, id: string, signal?: AbortSignal): Promise<{ promotion: Promotion; steps: Step[] }> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/promotions/${enc(id)}`, undefined, signal);
  logs = (project: string, id: string): Promise<LogLine[]> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/promotions/${enc(id)}/logs`);
  promote = (project: string, body: CreatePromotionBody): Promise<{ promotion: Promotion }> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/promotions`, body);
  approve = (project: string, id: string, body: ApproveBody): Promise<{ promotion: Promotion }> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/promotions/${enc(id)}/approve`, body);
  decisions = (project: string, id: string, signal?: AbortSignal): Promise<Decisions> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/promotions/${enc(id)}/decisions`, undefined, signal);
  reject = (project: string, id: string, body: RejectBody): Promise<{ promotion: Promotion }> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/promotions/${enc(id)}/reject`, body);

  /** Resume an interrupted promotion: its interrupted steps applied again (`retryStep`) or taken as done (`markDone`). */
  resume = (project: string, id: string, body: ResumeBody): Promise<{ promotion: Promotion }> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/promotions/${enc(id)}/resume`, body);
  cancel = (project: string, id: string, body: CancelBody): Promise<{ promotion: Promotion }> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/promotions/${enc(id)}/cancel`, body);
  rollback = (project: string, environment: string, body: RollbackBody = {}): Promise<{ promotion: Promotion }> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/environments/${enc(environment)}/rollback`, body);
  checkDrift = (project: string, environment: string, body: DriftBody = {}): Promise<DriftReport> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/environments/${enc(environment)}/drift`, body);

  /** DORA metrics over the window `since` (a duration back from now), per environment. */
  dora = (project: string, since: string, signal?: AbortSignal): Promise<DoraMetrics> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/dora?since=${enc(since)}`, undefined, signal);

  rejectRelease = (project: string, id: string, body: RejectReleaseBody): Promise<{ release: Release; rejectedPromotions: Promotion[] }> =>
    this.request('POST', `/api/v1/projects/${enc(project)}/releases/${enc(id)}/reject`, body);
  verifyAudit = (project: string, signal?: AbortSignal): Promise<AuditVerification> =>
    this.request('GET', `/api/v1/projects/${enc(project)}/audit/verify`, undefined, signal);
  /** The audit export's URL (JSON lines, streamed): a session cookie downloads it with a plain link. */
  auditExportUrl = (project: string): string => `/api/v1/projects/${enc(project)}/audit/export`;
  /** The audit export fetched with this client's credentials (an API token cannot ride on a plain link). */
  async auditExport(project: string): Promise<Blob> {
    const response = await fetch(this.auditExportUrl(project), { credentials: 'same-origin', headers: { ...this.headers(), Accept: 'application/x-ndjson' } });
    if (!response.ok) throw new ApiError(response.status, `the audit export failed: HTTP ${response.status}`);
    return response.blob();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const api = new ApiClient();
