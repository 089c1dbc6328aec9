import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';

export const DEFAULT_TIMEOUT = '30m';

/** What CloudFormation accepts for a stack name: a letter, then letters, digits and -, up to 128. */
const STACK_NAME = /^[a-zA-Z][-a-zA-Z0-9]{0,127}$/;
export const CAPABILITIES = ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', 'CAPABILITY_AUTO_EXPAND'] as const;

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });
const asStrings = (record: Record<string, string | number | boolean>): Record<string, string> =>
  Object.fromEntries(Object.entries(record).map(([k, v]) => [k, String(v)]));

/** `with:` of a `cloudformation` component. Templates are rendered by the engine before the adapter sees it. */
export const cfnSpec = z
  .strictObject({
    stack: z.string().regex(STACK_NAME, {
      error: 'expected a stack name: a letter, then letters, digits and -, such as network-prod',
    }),
    /** Leave out to use the SDK's default (AWS_REGION, the profile). */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'expected an AWS region such as eu-west-1' })
      .optional(),
    /** A template file, relative to the project directory. */
    template: z.string().min(1, { error: 'expected a template file such as infra/network.yaml' }).optional(),
    /** A template in S3, as an https URL. */
    templateUrl: z.url({ protocol: /^https?$/, error: 'expected an https URL of a template in S3' }).optional(),
    parameters: z
      .record(z.string().regex(/^[a-zA-Z0-9]+$/, { error: 'a template parameter name: letters and digits' }), scalar)
      .transform(asStrings)
      .default({}),
    capabilities: z
      .array(z.enum(CAPABILITIES, { error: `expected one of ${CAPABILITIES.join(', ')}` }))
      .default([]),
    tags: z
      .record(
        z
          .string()
          .min(1)
          .max(128)
          .refine((key) => key !== 'lockstep:version', { error: 'lockstep:version is set by Lockstep on every stack' }),
        scalar,
      )
      .transform(asStrings)
      .default({}),
    /** The longest a change set may take to create or a stack to settle. */
    timeout: z
      .string()
      .refine((text) => (parseDuration(text) ?? 0) > 0, { error: 'expected a duration such as 30m or 1h' })
      .default(DEFAULT_TIMEOUT),
    /** A CloudFormation-compatible endpoint (LocalStack and the like); leave out for AWS itself. */
    endpoint: z.url({ error: 'expected a URL such as http://localhost:4566' }).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.template === undefined && value.templateUrl === undefined) {
      ctx.addIssue({ code: 'custom', path: ['template'], message: 'expected template (a file) or templateUrl' });
    }
    if (value.template !== undefined && value.templateUrl !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['templateUrl'], message: 'give template or templateUrl, not both' });
    }
  });

export type CfnSpec = z.output<typeof cfnSpec>;
