import { expect } from 'vitest';
import type { EngineDeps } from '../../src/engine/deps.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { commandComponent } from './project.js';

/**
 * A project for `diff`: staging and prod bound to different databases (secrets), regions and gates.
 * iam hands api a role (plain) and a token (sensitive) that differs per environment.
 */
export const DIFF_CONFIG = `project: shop
environments:
  staging:
    vars: { db: "\${{ secrets.STAGING_DB }}", region: eu-west-1 }
  prod:
    after: [staging]
    onFailure: halt
    vars: { db: "\${{ secrets.PROD_DB }}", region: eu-central-1 }
    gates:
      soak: 0s
      policy:
        - expr: "true"
components:
  iam:
    type: command
    with:
      apply: ["./iam.sh"]
    outputs:
      role: { type: string }
      token: { type: string, sensitive: true }
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      env:
        DB_URL: "\${{ env.vars.db }}"
        REGION: "\${{ env.vars.region }}"
        SHARED: "\${{ secrets.SHARED_KEY }}"
        ROLE: "\${{ components.iam.outputs.role }}"
        TOKEN: "\${{ components.iam.outputs.token }}"
  web:
${commandComponent()}
`;

export const IAM_SH = `#!/bin/sh
printf '{"role":"arn:aws:iam::123456789012:role/shop-%s","token":"tok-%s-s3cr3t"}' "$LOCKSTEP_ENVIRONMENT" "$LOCKSTEP_ENVIRONMENT" > "$LOCKSTEP_OUTPUTS"
`;

export const SECRETS = { STAGING_DB: 'postgres://app:staging-pw-1@db.staging/app', PROD_DB: 'postgres://app:prod-pw-2@db.prod/app', SHARED_KEY: 'shared-key-value-3' };

/** What no diff may ever hold: the secrets and the sensitive outputs' values. */
export const NEVER_SHOWN = [...Object.values(SECRETS), 'staging-pw-1', 'prod-pw-2', 'tok-staging-s3cr3t', 'tok-prod-s3cr3t'];

/** staging at release 2 (iam 2, api 2), prod at release 1 (iam 1, api 1); web at 1 in both. A sensitive output reaches api only from an iam applied in the same promotion. */
export async function stagingAheadOfProd(deps: EngineDeps): Promise<{ r1: string; r2: string }> {
  const r1 = (await createRelease(deps, { set: ['iam=1', 'api=1', 'web=1'], message: 'first' })).release.id;
  const r2 = (await createRelease(deps, { set: ['iam=2', 'api=2', 'web=1'], labels: { risk: 'high' } })).release.id;
  expect((await promote(deps, r1, 'staging')).state).toBe('succeeded');
  expect((await promote(deps, r1, 'prod')).state).toBe('succeeded');
  expect((await promote(deps, r2, 'staging')).state).toBe('succeeded');
  return { r1, r2 };
}

