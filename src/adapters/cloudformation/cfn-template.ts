import { CORE_SCHEMA, load, Type, YAMLException } from 'js-yaml';

/** The parts of a CloudFormation template the planned outputs are worked out from. */
export interface CfnTemplate {
  Transform?: unknown;
  Parameters?: Record<string, CfnParameter>;
  Mappings?: Record<string, unknown>;
  Conditions?: Record<string, unknown>;
  Resources?: Record<string, { Type?: unknown }>;
  Outputs?: Record<string, { Value?: unknown; Condition?: unknown }>;
}

export interface CfnParameter {
  Type?: unknown;
  Default?: unknown;
  NoEcho?: unknown;
}

/**
 * The intrinsic functions a YAML template may write in short form (`!Sub`), each in the scalar,
 * sequence and mapping form YAML allows: `!Ref X` is `{"Ref": "X"}`, `!Join [a, b]` is
 * `{"Fn::Join": [a, b]}`. CloudFormation itself does nothing else with them.
 */
const SHORT_FORMS = [
  'Ref',
  'Condition',
  'GetAtt',
  'Sub',
  'Join',
  'Select',
  'Split',
  'FindInMap',
  'If',
  'Equals',
  'And',
  'Or',
  'Not',
  'Base64',
  'Cidr',
  'GetAZs',
  'ImportValue',
  'Length',
  'ToJsonString',
  'Transform',
] as const;

const longForm = (name: string): string => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`);

// CloudFormation's YAML has no timestamps and no merge keys: the core schema reads `2010-09-09` as text, as it does.
const CFN_SCHEMA = CORE_SCHEMA.extend(
  SHORT_FORMS.flatMap((name) =>
    (['scalar', 'sequence', 'mapping'] as const).map(
      (kind) => new Type(`!${name}`, { kind, construct: (data: unknown) => ({ [longForm(name)]: data ?? '' }) }),
    ),
  ),
);

/**
 * A template body as CloudFormation holds it, JSON or YAML (with the short forms), as plain data in
 * the long form, so that a template written in YAML compares equal to the same one in JSON. Throws an
 * Error naming the line, never quoting the template.
 */
export function parseTemplate(body: string): CfnTemplate {
  let parsed: unknown;
  try {
    parsed = body.trimStart().startsWith('{') ? JSON.parse(body) : load(body, { schema: CFN_SCHEMA });
  } catch (error) {
    // js-yaml's message quotes the lines around the error; the reason and line are enough here.
    const where = error instanceof YAMLException ? `line ${error.mark.line + 1}: ${error.reason}` : error instanceof Error ? error.message : String(error);
    throw new Error(`the template is neither JSON nor YAML Lockstep can read (${where})`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the template is not a mapping');
  return normalise(parsed) as CfnTemplate;
}

/** `Fn::GetAtt: "Res.Attr"` (how `!GetAtt Res.Attr` reads) as the list form, recursively. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const [only] = entries;
  if (entries.length === 1 && only !== undefined && only[0] === 'Fn::GetAtt' && typeof only[1] === 'string') {
    const dot = only[1].indexOf('.');
    // The attribute may hold dots itself (a nested stack's `Outputs.Name`): the resource ends at the first.
    return { 'Fn::GetAtt': dot < 0 ? [only[1]] : [only[1].slice(0, dot), only[1].slice(dot + 1)] };
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, normalise(v)]));
}
