import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { promotionEvidence } from '../../engine/evidence.js';
import type { EvidenceRecord } from '../../store/store.js';
import { guard } from '../guard.js';
import { ERROR_RESPONSES, json, PromotionParams, record } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const Evidence = record<EvidenceRecord>(
  'Evidence',
  "a promotion's evidence: `envelope` is the DSSE envelope of an in-toto Statement v1 (docs/evidence.md), `keyid` the signing key's id (absent: unsigned)",
);

/** A promotion's evidence (as `lockstep evidence export`): verifiable offline with the project's public key. */
export function evidenceRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'getPromotionEvidence',
      method: 'get',
      path: '/api/v1/projects/{project}/promotions/{promotion}/evidence',
      tags: ['promotions'],
      summary: "a finished promotion's signed evidence (an in-toto statement in a DSSE envelope)",
      middleware: guard('getPromotionEvidence', options),
      request: { params: PromotionParams },
      responses: { 200: json(Evidence, 'the evidence as stored'), ...ERROR_RESPONSES },
    }),
    async (c) => c.json(await promotionEvidence(c.var.deps.store, c.req.valid('param').promotion), 200),
  );
}
