import type { OperationId } from '../../src/server/permissions.js';

/** A request as the API tests send it: `body` is JSON-encoded by the caller. */
export interface SampleRequest {
  method: string;
  path: string;
  body?: unknown;
}

/**
 * One valid request per API operation, on project `shop` of the API tests' scratch project: the
 * permission matrix (api.test.ts) and the malformed-request tests (malformed.test.ts) start from
 * these, so a new route added to the permission table needs a sample here (the Record's type says so).
 */
export function sampleRequests(
  base: string,
  ids: { release: string; promotion: string },
): Record<OperationId, SampleRequest> {
  const P = base;
  return {
    listReleases: { method: 'GET', path: `${P}/releases` },
    getRelease: { method: 'GET', path: `${P}/releases/${ids.release}` },
    createRelease: { method: 'POST', path: `${P}/releases`, body: { set: ['api=9', 'web=9'] } },
    planRelease: { method: 'GET', path: `${P}/releases/${ids.release}/plan?to=dev` },
    listEnvironments: { method: 'GET', path: `${P}/environments` },
    getEnvironment: { method: 'GET', path: `${P}/environments/dev` },
    getDiff: { method: 'GET', path: `${P}/diff?left=dev&right=staging` },
    getDoraMetrics: { method: 'GET', path: `${P}/dora?env=dev&since=7d` },
    listPromotions: { method: 'GET', path: `${P}/promotions` },
    getPromotion: { method: 'GET', path: `${P}/promotions/${ids.promotion}` },
    getPromotionLogs: { method: 'GET', path: `${P}/promotions/${ids.promotion}/logs` },
    getPromotionEvidence: { method: 'GET', path: `${P}/promotions/${ids.promotion}/evidence` },
    createPromotion: { method: 'POST', path: `${P}/promotions`, body: { release: ids.release, to: 'dev' } },
    approvePromotion: { method: 'POST', path: `${P}/promotions/${ids.promotion}/approve`, body: { comment: 'ok' } },
    rejectPromotion: { method: 'POST', path: `${P}/promotions/${ids.promotion}/reject`, body: { comment: 'no' } },
    getPromotionDecisions: { method: 'GET', path: `${P}/promotions/${ids.promotion}/decisions` },
    resumePromotion: { method: 'POST', path: `${P}/promotions/${ids.promotion}/resume`, body: {} },
    cancelPromotion: { method: 'POST', path: `${P}/promotions/${ids.promotion}/cancel`, body: {} },
    rollbackEnvironment: { method: 'POST', path: `${P}/environments/dev/rollback`, body: {} },
    getDrift: { method: 'GET', path: `${P}/environments/dev/drift` },
    checkDrift: { method: 'POST', path: `${P}/environments/dev/drift`, body: {} },
    rejectRelease: { method: 'POST', path: `${P}/releases/${ids.release}/reject`, body: { reason: 'bad' } },
    stepHistory: { method: 'GET', path: `${P}/history?environment=dev&component=api` },
    verifyAudit: { method: 'GET', path: `${P}/audit/verify` },
    getConfig: { method: 'GET', path: `${P}/config` },
    exportAudit: { method: 'GET', path: `${P}/audit/export` },
    listTokens: { method: 'GET', path: `${P}/tokens` },
    createToken: { method: 'POST', path: `${P}/tokens`, body: { name: 'ci-bot' } },
    revokeToken: { method: 'DELETE', path: `${P}/tokens/ci-bot` },
    streamEvents: { method: 'GET', path: `${P}/events?kinds=audit` },
    metrics: { method: 'GET', path: '/metrics' },
    listDeliveries: { method: 'GET', path: `${P}/notify/deliveries?status=pending` },
    // Not under a project: a token's projects are what it answers.
    whoami: { method: 'GET', path: '/api/v1/whoami' },
    getSession: { method: 'GET', path: '/api/v1/session' },
    signOut: { method: 'POST', path: '/auth/logout' },
  };
}
