import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { createToken, listTokens, revokeToken } from '../../engine/tokens.js';
import { guard } from '../guard.js';
import { CreateTokenBody, ERROR_RESPONSES, json, ProjectParams, Token, TokenParams } from '../schemas.js';
import type { AppOptions, ServerEnv } from '../server-env.js';

const BASE = '/api/v1/projects/{project}';

/**
 * API tokens of the project (as `lockstep token create|list|revoke`): admins only. A new token's
 * text is in the creation's response and nowhere else: not in the log, the audit log or the store.
 */
export function tokenRoutes(app: OpenAPIHono<ServerEnv>, options: AppOptions): void {
  app.openapi(
    createRoute({
      operationId: 'listTokens',
      method: 'get',
      path: `${BASE}/tokens`,
      tags: ['tokens'],
      summary: 'every token with its state (active, expired, revoked), oldest first; never their text',
      middleware: guard('listTokens', options),
      request: { params: ProjectParams },
      responses: { 200: json(z.array(Token), 'the tokens'), ...ERROR_RESPONSES },
    }),
    async (c) => c.json(await listTokens(c.var.deps, c.var.identity), 200),
  );

  app.openapi(
    createRoute({
      operationId: 'createToken',
      method: 'post',
      path: `${BASE}/tokens`,
      tags: ['tokens'],
      summary: 'make a token: its text is in this response once, and stored only as a hash',
      middleware: guard('createToken', options),
      request: {
        params: ProjectParams,
        body: { content: { 'application/json': { schema: CreateTokenBody } }, required: true },
      },
      responses: {
        201: json(
          z.object({ name: z.string(), token: z.string().openapi({ description: 'shown once' }), record: Token }),
          'the token: keep its text, it is not shown again',
        ),
        ...ERROR_RESPONSES,
      },
    }),
    async (c) => {
      const created = await createToken(c.var.deps, c.var.identity, c.req.valid('json'));
      return c.json({ name: created.record.name, token: created.token, record: created.record }, 201);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'revokeToken',
      method: 'delete',
      path: `${BASE}/tokens/{name}`,
      tags: ['tokens'],
      summary: 'revoke a token: it is refused from then on',
      middleware: guard('revokeToken', options),
      request: { params: TokenParams },
      responses: { 200: json(Token, 'the token, revoked'), ...ERROR_RESPONSES },
    }),
    async (c) => c.json(await revokeToken(c.var.deps, c.var.identity, c.req.valid('param').name), 200),
  );
}
