import type { DriftReport, DriftState } from '../core/drift.js';
import { z } from '@hono/zod-openapi';
import type { AuditCheck } from '../engine/audit-verify.js';
import {
  PROMOTION_STATES,
  type PromotionState,
  type PromotionPlan,
  type PromotionRecord,
  type ReleaseRecord,
  type StepRecord,
} from '../core/model.js';
import type { EnvironmentStatus } from '../engine/status.js';
import type { StepLogLine } from '../store/store.js';
import type { TokenView } from '../core/tokens.js';
import { ROLES } from '../core/access.js';

// The request schemas validate what arrives (a failure is a 400 naming the field) and, with the
// response schemas, generate /api/v1/openapi.json. Records the engine returns are described, not
// re-validated: their TypeScript types in core/model.ts are the contract.

const NAME = z.string().min(1).max(200);

export const ProjectParams = z.object({
  project: NAME.openapi({
    param: { name: 'project', in: 'path' },
    description: "the config's `project:` name",
    example: 'checkout',
  }),
});

export const ReleaseParams = ProjectParams.extend({
  release: NAME.openapi({
    param: { name: 'release', in: 'path' },
    description: 'release id or a unique prefix (≥ 7 characters)',
    example: '3f2a1c9',
  }),
});

export const PromotionParams = ProjectParams.extend({
  promotion: NAME.openapi({
    param: { name: 'promotion', in: 'path' },
    description: 'promotion id or a unique prefix (≥ 7 characters)',
    example: '9c1e2f3',
  }),
});

export const EnvironmentParams = ProjectParams.extend({
  environment: NAME.openapi({ param: { name: 'environment', in: 'path' }, example: 'prod' }),
});

export const Limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(1000)
  .default(20)
  .openapi({ description: 'how many, newest first', example: 20 });

/** `?state=running,interrupted`: promotions in any of these states (`lockstep resume` finds the unfinished ones so). */
export const PromotionStates = z
  .string()
  .regex(
    new RegExp(`^(${PROMOTION_STATES.join('|')})(,(${PROMOTION_STATES.join('|')}))*$`),
    `a comma-separated list of ${PROMOTION_STATES.join(', ')}`,
  )
  .transform((text) => text.split(',') as PromotionState[])
  .openapi({
    type: 'string',
    description: `only promotions in these states, comma-separated (${PROMOTION_STATES.join(', ')})`,
    example: 'running,interrupted',
  });

export const CreateReleaseBody = z
  .strictObject({
    set: z
      .array(z.string().max(1000))
      .max(1000)
      .default([])
      .openapi({ description: 'COMPONENT=VERSION, as `release create --set`', example: ['api=1.4.2'] }),
    from: NAME.optional().openapi({ description: 'take versions not given in `set` from what this environment runs' }),
    message: z.string().max(10_000).optional(),
    labels: z
      .record(z.string(), z.string())
      .optional()
      .openapi({
        description: 'fixed with the release; policies read them as release.labels',
        example: { risk: 'high' },
      }),
  })
  .openapi('CreateRelease');

const Concurrency = z.number().int().min(1).max(1000).optional().openapi({ description: 'steps at once (default 8)' });

/** The CLI's `--override-window --reason`: needs `override-window` (admin), and the actor in the gates' `overrideBy`. */
export const OverrideWindow = z
  .strictObject({
    reason: z.string().min(1).max(10_000).openapi({ description: 'why this cannot wait for the change window' }),
  })
  .openapi('OverrideWindow', {
    description:
      'run outside the change windows; needs the override-window permission and the actor in gates.overrideBy',
  });

export const CreatePromotionBody = z
  .strictObject({
    release: NAME.optional().openapi({
      description: 'release id or a unique prefix; may be left out with `reapply`: the release the environment runs now',
      example: '3f2a1c9',
    }),
    to: NAME.openapi({ description: 'target environment', example: 'staging' }),
    concurrency: Concurrency,
    overrideWindow: OverrideWindow.optional(),
    reapply: z
      .array(NAME)
      .min(1)
      .max(1000)
      .optional()
      .openapi({ description: 'components to apply again at the version they run, to correct drift (`promote --reapply`)', example: ['billing'] }),
  })
  .refine((b) => b.release !== undefined || b.reapply !== undefined, { message: 'release is required (unless reapply names components)', path: ['release'] })
  .openapi('CreatePromotion');

export const ApproveBody = z
  .strictObject({ comment: z.string().max(10_000).optional(), overrideWindow: OverrideWindow.optional() })
  .openapi('Approve');
const Decision = z.object({
  allowed: z.boolean(),
  reason: z.string().optional().openapi({ description: 'why not, when not allowed (the words a refusal would give)' }),
});

export const Decisions = z
  .object({
    approve: Decision,
    reject: Decision,
    cancel: Decision.openapi({ description: 'cancel it (`lockstep cancel`): a pending or running promotion; the cancel permission' }),
    retry: Decision.openapi({ description: 'apply interrupted steps again (`resume --retry-step`): the resume permission' }),
    markDone: Decision.openapi({ description: 'mark interrupted steps done (`resume --mark-done`): the mark-done permission' }),
    interruptedSteps: z.array(z.string()).openapi({ description: 'the steps an interrupted promotion waits on a decision for' }),
    rollback: Decision.openapi({
      description: "roll the promotion's environment back to the release it ran before (`lockstep rollback`): the rollback permission",
    }),
    rollbackTo: z.string().optional().openapi({ description: 'the release a rollback of the environment would promote' }),
  })
  .openapi('Decisions', {
    description:
      'what the caller may decide on a promotion now, and why not: their role in its environment, then the gate (approvals.from, separation of duties, one approval per person) or the state (what cancel, resume and rollback would refuse)',
  });

export const RejectBody = z
  .strictObject({ comment: z.string().min(1).max(10_000).openapi({ description: 'why: required' }) })
  .openapi('Reject');

const COMPONENTS = z.array(NAME).max(1000).default([]);

export const ResumeBody = z
  .strictObject({
    retryStep: COMPONENTS.openapi({ description: 'interrupted: apply these steps again (`--retry-step`)' }),
    markDone: COMPONENTS.openapi({
      description: 'interrupted: you checked, these finished; carry on (`--mark-done`; needs the mark-done permission)',
    }),
    stopRunning: z
      .boolean()
      .optional()
      .openapi({ description: 'stop step commands still running from before a crash instead of waiting for them' }),
    overrideWindow: OverrideWindow.optional(),
  })
  .openapi('Resume');

export const CancelBody = z
  .strictObject({ reason: z.string().max(10_000).optional().openapi({ description: 'why (recorded)' }) })
  .openapi('Cancel');

export const RollbackBody = z
  .strictObject({ concurrency: Concurrency, overrideWindow: OverrideWindow.optional() })
  .openapi('Rollback');

export const DriftBody = z
  .strictObject({
    component: NAME.optional().openapi({ description: 'one component; absent: every component', example: 'api' }),
  })
  .openapi('DriftCheck');

export const RejectReleaseBody = z
  .strictObject({
    reason: z.string().min(1).max(10_000).openapi({ description: 'what is wrong with it (recorded in the audit log)' }),
  })
  .openapi('RejectRelease');

export const CreateTokenBody = z
  .strictObject({
    name: NAME.openapi({ description: 'the token’s name (what the audit log records)', example: 'alice-laptop' }),
    for: NAME.optional().openapi({ description: 'whom it acts for (default: the name)', example: 'alice@example.com' }),
    role: NAME.optional().openapi({ description: 'narrows what its identity may do', example: 'releaser' }),
    environments: z.array(NAME).min(1).max(1000).optional().openapi({ description: 'only these environments' }),
    expires: NAME.optional().openapi({ description: 'a duration from now', example: '90d' }),
  })
  .openapi('CreateToken');

export const TokenParams = ProjectParams.extend({
  name: NAME.openapi({ param: { name: 'name', in: 'path' }, example: 'alice-laptop' }),
});

/** A record described in the document, typed by its TypeScript interface. */
export function record<T>(name: string, description: string) {
  return z.custom<T>(() => true).openapi(name, { type: 'object', description });
}

export const Release = record<ReleaseRecord>(
  'Release',
  'an immutable release: one version per component; its id is the SHA-256 of its canonical JSON',
);
export const Promotion = record<PromotionRecord>(
  'Promotion',
  'one release moving into one environment: plan, gates, state',
);
export const Step = record<StepRecord>('Step', "one component's work in a promotion");
export const Plan = record<PromotionPlan>(
  'Plan',
  'per component: current → target version, what the adapter will change; and the gates',
);
export const Environment = record<EnvironmentStatus>(
  'EnvironmentStatus',
  'what runs in one environment, its last and active promotion, pending ones with their gates',
);
export const Drift = record<DriftReport>(
  'DriftReport',
  'one environment’s drift check: per component its state (clean, drifted, cannot-observe, not-deployed, error) and each finding (field, expected, found; secrets shown as changed only)',
);
export const DriftStates = z.array(
  record<DriftState>('DriftState', 'a component’s last drift check in an environment, with when it ran'),
);
export const LogLine = record<StepLogLine>('LogLine', 'one line a step printed (secrets redacted)');
export const AuditVerification = record<AuditCheck>(
  'AuditVerification',
  'the hash chain checked from the first entry: ok, or where it broke',
);

export const Token = record<TokenView>(
  'Token',
  'an API token as stored, without its text or hash: name, identity, role, environments, times, state',
);

const RoleList = z.array(z.enum(ROLES));

export const WhoAmI = z
  .object({
    actor: z
      .string()
      .openapi({ description: 'whom the token stands for: the actor of what it does', example: 'alice@example.com' }),
    via: z.enum(['token', 'oidc', 'claimed']).openapi({ description: 'how the identity was proven' }),
    token: z.string().optional().openapi({ description: "the token's name (never its text)", example: 'alice-ci' }),
    projects: z.array(
      z.object({
        project: z.string(),
        roles: RoleList.openapi({ description: 'roles held project-wide, implied ones included' }),
        environments: z
          .record(z.string(), RoleList)
          .openapi({ description: 'environments where the roles differ', example: { prod: ['viewer'] } }),
      }),
    ),
  })
  .openapi('WhoAmI');

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'not-found' }),
      message: z.string().openapi({ description: 'the message the CLI prints' }),
      field: z.string().optional().openapi({ description: 'the request field at fault (400)', example: 'body.to' }),
      waiting: z.boolean().optional().openapi({ description: '422: a person or time can still satisfy the gate' }),
    }),
  })
  .openapi('Error');

export const error = (description: string) => ({ content: { 'application/json': { schema: ErrorBody } }, description });

/** The error responses every guarded route may give. */
export const ERROR_RESPONSES = {
  400: error('a request field is invalid (`field` names it)'),
  401: error('no token, or one that is not valid'),
  403: error('the identity may not do this (the reason says why)'),
  404: error('no such project, release or promotion'),
  413: error('the request body is too large'),
} as const;

export function json<S extends z.ZodType>(schema: S, description: string) {
  return { content: { 'application/json': { schema } }, description };
}
