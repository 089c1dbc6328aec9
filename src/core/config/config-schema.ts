import { z } from 'zod';
import type { Role } from '../access.js';
import type { Adapter } from '../adapter.js';
import { parseDuration } from '../duration.js';
import { ON_FAILURE, VALUE_TYPES } from '../model.js';
import { NOTIFY_FORMATS } from '../notify/notify-events.js';
import { oidcSchema } from './oidc-schema.js';

/** The adapters a config may use, by type (src/adapters/registry.ts builds it). */
export type AdapterSet = ReadonlyMap<string, Adapter<unknown>>;

/** Names of environments and components. */
export const NAME_PATTERN = /^[a-z][a-z0-9-_]*$/;
const NAME_RULE = 'must start with a lower-case letter and hold only a-z, 0-9, - and _';

const name = (what: string) => z.string().regex(NAME_PATTERN, { error: `${what} name ${NAME_RULE}` });

/**
 * `outputs.<name>` of a component. `items` and `pattern` are checked against `type` by a rule
 * (rules.ts), so all problems are reported in one pass.
 */
export const outputSchema = z.strictObject({
  type: z.enum(VALUE_TYPES).describe('The value type; checked before any dependent sees the value.'),
  pattern: z.string().optional().describe('For strings: a regular expression the value must match.'),
  enum: z.array(z.unknown()).optional().describe('The allowed values.'),
  items: z.enum(VALUE_TYPES).optional().describe('For arrays: the type of the elements.'),
  sensitive: z
    .boolean()
    .default(false)
    .describe('A secret: redacted everywhere, never stored in clear, passed on only to inputs.'),
  description: z.string().optional(),
});

const duration = (what: string) =>
  z.string().refine((v) => parseDuration(v) !== undefined, {
    error: `${what} must be a duration such as 30s, 10m, 1h30m or 2d`,
  });

const people = z.array(z.string().min(1, { error: 'a name must not be empty' }));

export const approvalsSchema = z.strictObject({
  count: z.int().min(1, { error: 'count must be at least 1' }).describe('How many different people must approve.'),
  from: people
    .min(1, { error: 'from needs at least one person or group:<name>' })
    .describe('Who may approve: people (alice@example.com) and groups (group:sre).'),
  separationOfDuties: z
    .boolean()
    .default(true)
    .describe("The requester and the release's author cannot approve (default true)."),
  expires: duration('expires').optional().describe('How long an approval counts, e.g. 24h.'),
});

export const windowSchema = z
  .strictObject({
    allow: z.string().optional().describe('When promotions may run: "Mon-Thu 09:00-16:00" or "2026-12-01 .. 2026-12-03".'),
    deny: z.string().optional().describe('When they may not (beats allow): "2026-12-20 .. 2027-01-04", "Fri 15:00-24:00".'),
    timezone: z.string().optional().describe('An IANA time zone such as Europe/Berlin (default UTC); DST is handled.'),
    reason: z.string().optional().describe('Shown when the window holds a promotion back.'),
  })
  .describe('A change window: allow or deny.');

export const policySchema = z.strictObject({
  expr: z.string().min(1, { error: 'expr must not be empty' }).describe('A CEL expression of type bool over release, plan, env, approvals and now.'),
  message: z.string().optional().describe('Shown when the expression is false.'),
});

export const verifySchema = z.strictObject({
  http: z
    .strictObject({
      url: z.string().min(1).describe('May use ${{ env.* }}, ${{ release.* }} and ${{ secrets.NAME }}.'),
      method: z.string().default('GET'),
      headers: z.record(z.string(), z.string()).default({}),
      body: z.string().optional(),
      expect: z.string().optional().describe('A CEL expression over response.status, response.headers and response.body; default: a 2xx status.'),
      timeout: duration('timeout').default('10s'),
    })
    .optional(),
  command: z
    .strictObject({ run: z.array(z.string()).min(1, { error: 'run needs the program and its arguments' }).describe('Program and arguments, no shell; exit 0 passes.') })
    .optional(),
  interval: duration('interval').default('10s').describe('Between two measurements.'),
  count: z.int().min(1).default(1).describe('How many measurements to take.'),
  failureLimit: z.int().min(0).default(0).describe('Failed measurements tolerated; one more fails the promotion.'),
  initialDelay: duration('initialDelay').default('0s').describe('Wait before the first measurement.'),
});

export const gatesSchema = z.strictObject({
  approvals: approvalsSchema.optional(),
  soak: duration('soak').optional().describe('Every `after` environment ran this release, verified, at least this long.'),
  windows: z.array(windowSchema).default([]).describe('Change windows; deny beats allow.'),
  policy: z.array(policySchema).default([]).describe('CEL policies that must all be true.'),
  verify: z.array(verifySchema).default([]).describe('Checks run on the environment after a promotion.'),
  auto: z.boolean().default(false).describe('Promote automatically (lockstep tick) once every gate passes.'),
  overrideBy: people.default([]).describe('Who may promote outside the change windows with --override-window --reason.'),
});

export const environmentSchema = z.strictObject({
  description: z.string().optional(),
  after: z
    .array(z.string())
    .default([])
    .describe('Environments a release must have succeeded in before it may enter this one.'),
  vars: z
    .record(z.string(), z.unknown())
    .default({})
    .describe(
      'Binds this environment to each system (account, cluster, database). May use ${{ env.name }} and ${{ secrets.NAME }}.',
    ),
  onFailure: z
    .enum(ON_FAILURE)
    .default('rollback')
    .describe('What a failed promotion does: roll back, or halt where it stands.'),
  gates: gatesSchema.optional().describe('What must hold before a promotion into this environment runs, and the checks after it.'),
  drift: z
    .strictObject({
      every: duration('every')
        .refine((v) => (parseDuration(v) ?? 60_000) >= 60_000, { error: 'every must be at least 1m: each check asks every system of the environment' })
        .describe('How often the team server checks this environment for drift, e.g. 15m.'),
    })
    .optional()
    .describe('Drift checks on a schedule, run by `lockstep serve` (see docs/drift.md).'),
});

export const componentSchema = z.strictObject({
  type: z.string().min(1, { error: 'the component type must not be empty' }).describe('The adapter that deploys it.'),
  description: z.string().optional(),
  dependsOn: z
    .array(z.string())
    .default([])
    .describe('Components deployed before this one (references to their outputs add to these).'),
  with: z
    .record(z.string(), z.unknown())
    .default({})
    .describe("The adapter's settings; strings may hold ${{ }} expressions."),
  outputs: z.record(z.string(), outputSchema).default({}).describe('Values this component produces, with their types.'),
});

const ROLE_MEANING = {
  viewer: 'read and plan',
  releaser: 'create and reject releases, promote, resume, cancel, roll back; also viewer',
  approver: "approve and reject promotions, where the gate's from allows them too; also viewer",
  admin: 'tokens, window overrides, markDone; also releaser',
} as const satisfies Record<Role, string>;

const rolePeople = (role: Role) => people.describe(`Who is ${role} (${ROLE_MEANING[role]}): people and group:<name>.`);

/** Per environment: a role listed here replaces the project's list for that role in that environment. */
export const environmentAccessSchema = z.strictObject({
  viewer: rolePeople('viewer').optional(),
  releaser: rolePeople('releaser').optional(),
  approver: rolePeople('approver').optional(),
  admin: rolePeople('admin').optional(),
});

/**
 * `access:`: who may do what through the server (see docs/access.md). Without it, a token holds the
 * role it was created with, and local commands are not checked.
 */
export const accessSchema = z.strictObject({
  viewer: rolePeople('viewer').default([]),
  releaser: rolePeople('releaser').default([]),
  approver: rolePeople('approver').default([]),
  admin: rolePeople('admin').default([]),
  environments: z
    .record(z.string(), environmentAccessSchema)
    .default({})
    .describe("Per environment, lists that replace the project's for a role: prod: { releaser: [group:sre] }."),
});

/**
 * One `notify:` target. Event and environment names, the URL and where its secrets come from are
 * checked by rules (notify-rules.ts), so every problem is reported at once.
 */
export const notifyTargetSchema = z.strictObject({
  name: name('a notify target').describe('How deliveries and `lockstep notify log` name the target.'),
  url: z
    .string()
    .min(1, { error: 'url must not be empty' })
    .describe('Where to POST: an http(s) URL, or a whole ${{ secrets.NAME }} when the URL is itself a secret (a Slack webhook).'),
  format: z.enum(NOTIFY_FORMATS).default('json').describe("json: Lockstep's own event; slack: a Slack message; cdevents: CDEvents v0.5 as CloudEvents."),
  events: z.array(z.string()).optional().describe('What to send (default: the format\'s usual events; see docs/notifications.md).'),
  environments: z.array(z.string()).optional().describe('Only events of these environments (default: all).'),
  secret: z.string().optional().describe('A ${{ secrets.NAME }}: the HMAC-SHA256 key of X-Lockstep-Signature.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers; values may use ${{ secrets.NAME }}.'),
});

/** `server:`: the team server's settings that the config holds. */
export const serverSchema = z.strictObject({
  url: z.string().optional().describe('The public URL of `lockstep serve` (https://lockstep.example.com): links in notifications point there.'),
  oidc: oidcSchema.optional().describe('Sign people in with an OpenID provider (docs/oidc.md).'),
});

/**
 * The whole `lockstep.yaml`. The loader validates with it, and `configJsonSchema` is generated from
 * it, so editors and `lockstep validate` agree. Adapter specs (`with:`) are checked separately,
 * over typed placeholders for the templates (see spec-check.ts).
 */
export const projectSchema = z.strictObject({
  project: z.string().min(1, { error: 'the project name must not be empty' }).describe('The project name.'),
  groups: z
    .record(z.string(), z.array(z.string()))
    .default({})
    .describe('Named lists of people (for approvals: group:<name>).'),
  environments: z
    .record(name('an environment'), environmentSchema)
    .refine((r) => Object.keys(r).length > 0, { error: 'at least one environment is needed' })
    .meta({ minProperties: 1 })
    .describe('The stages a release moves through.'),
  components: z
    .record(name('a component'), componentSchema)
    .refine((r) => Object.keys(r).length > 0, { error: 'at least one component is needed' })
    .meta({ minProperties: 1 })
    .describe('The deployable parts of the system.'),
  access: accessSchema.optional().describe('Roles for the team server: viewer, releaser, approver, admin, per environment.'),
  server: serverSchema.optional().describe('The team server (lockstep serve): its public URL, sign-in.'),
  notify: z.array(notifyTargetSchema).default([]).describe('Webhooks that hear about promotions, approvals and gates (docs/notifications.md).'),
});

export type ProjectInput = z.input<typeof projectSchema>;
export type ProjectOutput = z.output<typeof projectSchema>;

/** Matches a string that is one whole `${{ }}`: such a string may stand for a value of any type. */
const WHOLE_TEMPLATE = '^\\s*\\$\\{\\{[\\s\\S]*\\}\\}\\s*$';

/**
 * The JSON Schema (draft 2020-12) of `lockstep.yaml`, for editors: generated from `projectSchema`,
 * with each component's `with` checked by its adapter's spec (if/then on `type`). Since a field of
 * any type may hold a whole `${{ }}`, every non-string schema inside `with` also accepts one. Pure.
 */
export function configJsonSchema(adapters: AdapterSet): Record<string, unknown> {
  const schema = z.toJSONSchema(projectSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  const defs: Record<string, unknown> = { template: { type: 'string', pattern: WHOLE_TEMPLATE } };
  const component = componentJsonSchema(schema);
  const types = [...adapters.keys()].sort();
  if (component && types.length > 0) {
    const properties = component.properties as Record<string, Record<string, unknown>>;
    properties.type = { ...properties.type, enum: types };
    component.allOf = types.map((type) => {
      const adapter = adapters.get(type) as Adapter<unknown>;
      const spec = z.toJSONSchema(adapter.spec, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' });
      const withSchema = allowTemplates(hoistDefinitions(spec, type, defs), false) as Record<string, unknown>;
      return {
        if: { properties: { type: { const: type } }, required: ['type'] },
        then: { properties: { with: { ...withSchema, description: adapter.description } } },
      };
    });
  }
  return {
    ...schema,
    $id: 'https://lockstep.dev/schema/lockstep.json',
    title: 'lockstep.yaml',
    $defs: { ...(schema.$defs ?? {}), ...defs },
  };
}

function componentJsonSchema(schema: Record<string, unknown>): Record<string, unknown> | undefined {
  const properties = schema.properties as Record<string, Record<string, unknown>> | undefined;
  const component = properties?.components?.additionalProperties;
  return component !== null && typeof component === 'object' ? (component as Record<string, unknown>) : undefined;
}

/** Moves a sub-schema's `$defs` to the root under `<type>.<name>`, rewriting its `$ref`s to match. */
function hoistDefinitions(spec: Record<string, unknown>, type: string, defs: Record<string, unknown>): unknown {
  const { $schema: _schema, $defs: local, ...rest } = spec;
  if (local === null || typeof local !== 'object') return rest;
  const rename = (ref: string): string => ref.replace(/^#\/\$defs\//, `#/$defs/${type}.`);
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? rename(v) : rewrite(v)]),
    );
  };
  for (const [key, value] of Object.entries(local)) defs[`${type}.${key}`] = rewrite(value);
  return rewrite(rest);
}

// Not `if`, `not` or `propertyNames`: those test a value's shape rather than describe a field.
const SUBSCHEMA_KEYS = ['additionalProperties', 'items', 'then', 'else'];

/**
 * Lets every typed, non-string schema below `value` also be a whole `${{ }}` string. `wrap` is false
 * for `with` itself (it must be a mapping), for the branches of a `oneOf` (a template would match
 * several) and for the branches of an `anyOf` that takes strings already.
 */
function allowTemplates(value: unknown, wrap: boolean): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const node: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (node.properties !== null && typeof node.properties === 'object') {
    node.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, allowTemplates(v, true)]));
  }
  for (const key of SUBSCHEMA_KEYS) if (key in node) node[key] = allowTemplates(node[key], true);
  if (Array.isArray(node.prefixItems)) node.prefixItems = node.prefixItems.map((v) => allowTemplates(v, true));
  if (Array.isArray(node.allOf)) node.allOf = node.allOf.map((v) => allowTemplates(v, wrap));
  if (Array.isArray(node.oneOf)) node.oneOf = node.oneOf.map((v) => allowTemplates(v, false));
  if (Array.isArray(node.anyOf)) {
    const takesStrings = node.anyOf.some((v) => typesOf(v).includes('string'));
    node.anyOf = node.anyOf.map((v) => allowTemplates(v, wrap && !takesStrings));
  }
  const types = typesOf(node);
  if (!wrap || types.length === 0 || types.includes('string')) return node;
  return { anyOf: [node, { $ref: '#/$defs/template' }] };
}

function typesOf(schema: unknown): unknown[] {
  if (schema === null || typeof schema !== 'object') return [];
  const type = (schema as Record<string, unknown>).type;
  return Array.isArray(type) ? type : type === undefined ? [] : [type];
}
