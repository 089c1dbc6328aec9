import { z } from 'zod';
import { parseDuration } from '../duration.js';
import { DEFAULT_OIDC_SCOPES, DEFAULT_SESSION_LIFETIME } from '../oidc.js';

/**
 * `server.oidc`: signing people in with an OpenID provider (docs/oidc.md). What the values must be
 * beyond their shape (https, a secret, `openid` among the scopes) is oidc-rules.ts's to say, with
 * every problem at once.
 */
export const oidcSchema = z.strictObject({
  issuer: z
    .string()
    .min(1)
    .describe("The provider's issuer URL, as its discovery document names it: https (http only on loopback)."),
  clientId: z.string().min(1).describe('The client Lockstep is registered as, for browser sign-in.'),
  clientSecret: z
    .string()
    .optional()
    .describe("The web client's secret, as ${{ secrets.NAME }}; leave out for a public client (PKCE only)."),
  cliClientId: z
    .string()
    .min(1)
    .optional()
    .describe('A public client for `lockstep login` (device flow or loopback redirect); default clientId.'),
  audience: z
    .array(z.string().min(1))
    .default([])
    .describe("Further aud values a bearer token may carry (an API audience of the provider's access tokens)."),
  scopes: z
    .array(z.string().min(1))
    .default([...DEFAULT_OIDC_SCOPES])
    .describe('Scopes asked for at sign-in (add groups, or offline_access, as the provider needs).'),
  groupsClaim: z.string().min(1).default('groups').describe("The claim that lists a person's groups."),
  emailClaim: z
    .string()
    .min(1)
    .default('email')
    .describe('The claim that names a person (their email): what access: and gates list.'),
  sessionLifetime: z
    .string()
    .refine((v) => parseDuration(v) !== undefined, { error: 'sessionLifetime must be a duration such as 8h or 30m' })
    .default(DEFAULT_SESSION_LIFETIME)
    .describe('How long a browser session lasts before signing in again.'),
});
