import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A FAKE AWS CloudFormation API: a local HTTP server speaking the AWS Query protocol the real
 * `@aws-sdk/client-cloudformation` client uses (a form-encoded POST with `Action=…&Version=2010-05-15`,
 * answered with `<ActionResponse><ActionResult>…</ActionResult></ActionResponse>` XML, lists as
 * `<member>` elements, errors as `<ErrorResponse><Error><Code/><Message/></Error></ErrorResponse>`).
 *
 * Actions: DescribeStacks, CreateChangeSet, DescribeChangeSet, DeleteChangeSet, ExecuteChangeSet,
 * DescribeStackEvents, GetTemplate. Templates must be JSON. What the fake models:
 * - resources with `Properties`, where `{"Ref": "Param"}` takes a parameter's value and `{"Ref":
 *   "Resource"}` a resource's physical id (`<stack>-<LogicalId>`); outputs resolved the same way, with
 *   `Fn::GetAtt` (`<physical id>.<Attr>`), `Fn::Join` and `Fn::Sub` (parameters, `AWS::StackName`);
 * - GetTemplate gives the body as submitted, of the stack as deployed or of a change set;
 * - DescribeChangeSet gives `changesPerPage` changes a page, with a NextToken for the next;
 * - actions in `denied` are refused with AccessDenied;
 * - change sets computed by comparing resources: Add, Remove, Modify; a changed `Properties.Name` needs
 *   Replacement True (as named resources in AWS do). A change set with the same template, parameters
 *   and tags FAILS with CloudFormation's "didn't contain changes" reason;
 * - `AWS::IAM::*` resources need CAPABILITY_IAM or CAPABILITY_NAMED_IAM (InsufficientCapabilitiesException);
 * - a resource with `Properties.FailWith: "reason"` fails to create or update: the stack then rolls
 *   back (UPDATE_ROLLBACK_COMPLETE, or ROLLBACK_COMPLETE on creation) with an event carrying the reason;
 * - change sets and executions take `polls` Describe calls to finish (…_IN_PROGRESS until then);
 * - an ExecuteChangeSet repeating a ClientRequestToken already seen for the stack does nothing;
 * - `throttleNext` requests get `400 Throttling` (the SDK retries them).
 */
export interface FakeStack {
  name: string;
  id: string;
  status: string;
  template: Template | undefined;
  /** The template as submitted, for GetTemplate. */
  body: string | undefined;
  parameters: Record<string, string>;
  tags: Record<string, string>;
  resources: Record<string, { type: string; properties: unknown }>;
  outputs: Record<string, string>;
  events: StackEvent[];
  /** ClientRequestTokens of ExecuteChangeSet calls seen. */
  tokens: Set<string>;
  pending?: { changeSet: FakeChangeSet; polls: number };
}

interface StackEvent {
  EventId: string;
  StackName: string;
  LogicalResourceId: string;
  ResourceType: string;
  ResourceStatus: string;
  ResourceStatusReason?: string;
  Timestamp: Date;
}

interface Template {
  Parameters?: Record<string, { Type: string; NoEcho?: boolean; Default?: string | number }>;
  Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  Outputs?: Record<string, { Value: unknown }>;
}

interface FakeChangeSet {
  name: string;
  id: string;
  stack: FakeStack;
  type: string;
  template: Template;
  body: string;
  parameters: Record<string, string>;
  tags: Record<string, string>;
  status: string;
  statusReason?: string;
  executionStatus: string;
  changes: { Action: string; LogicalResourceId: string; ResourceType: string; Replacement?: string }[];
  polls: number;
}

export interface RecordedAction {
  action: string;
  params: Record<string, string>;
}

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

export class FakeCloudFormation {
  readonly stacks = new Map<string, FakeStack>();
  readonly changeSets: FakeChangeSet[] = [];
  readonly requests: RecordedAction[] = [];
  /** Describe calls a change set or an execution stays in progress for. */
  polls = 1;
  throttleNext = 0;
  changesPerPage = Number.POSITIVE_INFINITY;
  /** Actions answered with AccessDenied, as for a role without the permission. */
  readonly denied = new Set<string>();
  /**
   * What DetectStackDrift finds, per stack name: resources changed outside CloudFormation (absent: none).
   * A detection stays DETECTION_IN_PROGRESS for `polls` reads of its status, as CloudFormation's does.
   */
  readonly resourceDrifts = new Map<string, { LogicalResourceId: string; StackResourceDriftStatus: 'MODIFIED' | 'DELETED'; PropertyPath?: string }[]>();
  private readonly detections = new Map<string, { stack: string; polls: number }>();
  endpoint = '';
  private server: Server | undefined;
  private counter = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const action = params.Action ?? '';
    this.requests.push({ action, params });
    try {
      if (this.throttleNext > 0) {
        this.throttleNext -= 1;
        throw new QueryError('Throttling', 'Rate exceeded');
      }
      if (this.denied.has(action)) {
        throw new QueryError('AccessDenied', `User: arn:aws:iam::${ACCOUNT}:user/ci is not authorized to perform: cloudformation:${action}`, 403);
      }
      const result = this.dispatch(action, params);
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<${action}Response xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">` +
          xml(`${action}Result`, result) +
          `<ResponseMetadata><RequestId>req-${++this.counter}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (error) {
      const e = error instanceof QueryError ? error : new QueryError('InternalFailure', String(error));
      res.writeHead(e.status, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>` +
          `<Code>${e.code}</Code><Message>${escape(e.message)}</Message></Error><RequestId>req-${++this.counter}</RequestId></ErrorResponse>`,
      );
    }
  }

  private dispatch(action: string, p: Record<string, string>): unknown {
    switch (action) {
      case 'DescribeStacks':
        return { Stacks: [this.describeStack(this.stack(p.StackName ?? ''))] };
      case 'CreateChangeSet':
        return this.createChangeSet(p);
      case 'DescribeChangeSet': {
        const cs = this.changeSet(p);
        if (cs.status === 'CREATE_IN_PROGRESS' && --cs.polls <= 0) this.finishChangeSet(cs);
        const changes = cs.status === 'CREATE_COMPLETE' ? cs.changes.map((c) => ({ Type: 'Resource', ResourceChange: c })) : [];
        const from = Number(p.NextToken ?? '0');
        const to = from + this.changesPerPage;
        return {
          ChangeSetName: cs.name,
          ChangeSetId: cs.id,
          StackId: cs.stack.id,
          StackName: cs.stack.name,
          Status: cs.status,
          ...(cs.statusReason === undefined ? {} : { StatusReason: cs.statusReason }),
          ExecutionStatus: cs.executionStatus,
          Changes: changes.slice(from, to),
          ...(to < changes.length ? { NextToken: String(to) } : {}),
        };
      }
      case 'DeleteChangeSet': {
        const cs = this.changeSet(p);
        this.changeSets.splice(this.changeSets.indexOf(cs), 1);
        if (cs.stack.status === 'REVIEW_IN_PROGRESS' && !this.changeSets.some((c) => c.stack === cs.stack)) this.stacks.delete(cs.stack.name);
        return {};
      }
      case 'ExecuteChangeSet': {
        const cs = this.changeSet(p);
        if (cs.executionStatus !== 'AVAILABLE') {
          throw new QueryError('InvalidChangeSetStatus', `ChangeSet [${cs.id}] cannot be executed in its current status of [${cs.executionStatus}]`);
        }
        // As CloudFormation: a token it has seen for this stack marks a repeated request, which does nothing.
        const token = p.ClientRequestToken;
        if (token !== undefined && cs.stack.tokens.has(token)) return {};
        if (token !== undefined) cs.stack.tokens.add(token);
        cs.executionStatus = 'EXECUTE_IN_PROGRESS';
        cs.stack.status = cs.type === 'CREATE' ? 'CREATE_IN_PROGRESS' : 'UPDATE_IN_PROGRESS';
        cs.stack.pending = { changeSet: cs, polls: this.polls };
        return {};
      }
      case 'GetTemplate': {
        const body = p.ChangeSetName === undefined ? this.stack(p.StackName ?? '').body : this.changeSet(p).body;
        if (body === undefined) throw new QueryError('ValidationError', `Stack with id ${p.StackName ?? ''} does not exist`);
        return { TemplateBody: body, StagesAvailable: ['Original', 'Processed'] };
      }
      case 'DescribeStackEvents':
        return { StackEvents: [...this.stack(p.StackName ?? '').events].reverse() };
      case 'DetectStackDrift': {
        const stack = this.stack(p.StackName ?? '');
        const id = `drift-${++this.counter}`;
        this.detections.set(id, { stack: stack.name, polls: this.polls });
        return { StackDriftDetectionId: id };
      }
      case 'DescribeStackDriftDetectionStatus': {
        const detection = this.detections.get(p.StackDriftDetectionId ?? '');
        if (detection === undefined) throw new QueryError('ValidationError', `Drift detection ${p.StackDriftDetectionId ?? ''} does not exist`);
        const stack = this.stack(detection.stack);
        if (--detection.polls > 0) return { StackId: stack.id, StackDriftDetectionId: p.StackDriftDetectionId, DetectionStatus: 'DETECTION_IN_PROGRESS', Timestamp: new Date() };
        const drifted = (this.resourceDrifts.get(stack.name) ?? []).length > 0;
        return {
          StackId: stack.id,
          StackDriftDetectionId: p.StackDriftDetectionId,
          StackDriftStatus: drifted ? 'DRIFTED' : 'IN_SYNC',
          DetectionStatus: 'DETECTION_COMPLETE',
          DriftedStackResourceCount: (this.resourceDrifts.get(stack.name) ?? []).length,
          Timestamp: new Date(),
        };
      }
      case 'DescribeStackResourceDrifts': {
        const stack = this.stack(p.StackName ?? '');
        return {
          StackResourceDrifts: (this.resourceDrifts.get(stack.name) ?? []).map((d) => ({
            StackId: stack.id,
            LogicalResourceId: d.LogicalResourceId,
            ResourceType: stack.resources[d.LogicalResourceId]?.type ?? 'AWS::CloudFormation::WaitConditionHandle',
            StackResourceDriftStatus: d.StackResourceDriftStatus,
            PropertyDifferences: d.PropertyPath === undefined ? [] : [{ PropertyPath: d.PropertyPath, ExpectedValue: 'x', ActualValue: 'y', DifferenceType: 'NOT_EQUAL' }],
            Timestamp: new Date(),
          })),
        };
      }
      default:
        throw new QueryError('InvalidAction', `Could not find operation ${action}`);
    }
  }

  private createChangeSet(p: Record<string, string>): unknown {
    const name = p.StackName ?? '';
    const existing = this.stacks.get(name);
    if (p.ChangeSetType === 'CREATE' && existing !== undefined && existing.status !== 'REVIEW_IN_PROGRESS') {
      throw new QueryError('ValidationError', `Stack [${name}] already exists and cannot be created again with the changeSet [${p.ChangeSetName ?? ''}].`);
    }
    if (p.ChangeSetType !== 'CREATE' && existing === undefined) throw new QueryError('ValidationError', `Stack [${name}] does not exist`);
    let template: Template;
    try {
      template = JSON.parse(p.TemplateBody ?? '') as Template;
    } catch {
      throw new QueryError('ValidationError', 'Template format error: JSON not well-formed.');
    }
    const capabilities = members(p, 'Capabilities').map((m) => m[''] ?? '');
    const needsIam = Object.values(template.Resources ?? {}).some((r) => r.Type.startsWith('AWS::IAM::'));
    if (needsIam && !capabilities.some((c) => c === 'CAPABILITY_IAM' || c === 'CAPABILITY_NAMED_IAM')) {
      throw new QueryError('InsufficientCapabilitiesException', 'Requires capabilities : [CAPABILITY_IAM]');
    }
    const stack: FakeStack = existing ?? {
      name,
      id: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${name}/${++this.counter}`,
      status: 'REVIEW_IN_PROGRESS',
      template: undefined,
      body: undefined,
      parameters: {},
      tags: {},
      resources: {},
      outputs: {},
      events: [],
      tokens: new Set(),
    };
    this.stacks.set(name, stack);
    const cs: FakeChangeSet = {
      name: p.ChangeSetName ?? '',
      id: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:changeSet/${p.ChangeSetName ?? ''}/${++this.counter}`,
      stack,
      type: p.ChangeSetType ?? 'UPDATE',
      template,
      body: p.TemplateBody ?? '',
      // As CloudFormation: a parameter left out takes the template's default.
      parameters: {
        ...Object.fromEntries(Object.entries(template.Parameters ?? {}).flatMap(([k, d]) => (d.Default === undefined ? [] : [[k, String(d.Default)]]))),
        ...Object.fromEntries(members(p, 'Parameters').map((m) => [m.ParameterKey ?? '', m.ParameterValue ?? ''])),
      },
      tags: Object.fromEntries(members(p, 'Tags').map((m) => [m.Key ?? '', m.Value ?? ''])),
      status: 'CREATE_IN_PROGRESS',
      executionStatus: 'UNAVAILABLE',
      changes: [],
      polls: this.polls,
    };
    this.changeSets.push(cs);
    return { Id: cs.id, StackId: stack.id };
  }

  private finishChangeSet(cs: FakeChangeSet): void {
    const { stack } = cs;
    if (
      JSON.stringify(cs.template) === JSON.stringify(stack.template) &&
      same(cs.parameters, stack.parameters) &&
      same(cs.tags, stack.tags)
    ) {
      cs.status = 'FAILED';
      cs.statusReason = "The submitted information didn't contain changes. Submit different information to create a change set.";
      return;
    }
    const wanted = resolveResources(stack.name, cs.template, cs.parameters);
    for (const [id, r] of Object.entries(wanted)) {
      const before = stack.resources[id];
      if (before === undefined) cs.changes.push({ Action: 'Add', LogicalResourceId: id, ResourceType: r.type });
      else if (JSON.stringify(before.properties) !== JSON.stringify(r.properties)) {
        const renamed = prop(before.properties, 'Name') !== prop(r.properties, 'Name');
        cs.changes.push({ Action: 'Modify', LogicalResourceId: id, ResourceType: r.type, Replacement: renamed ? 'True' : 'False' });
      }
    }
    for (const [id, r] of Object.entries(stack.resources)) {
      if (!(id in wanted)) cs.changes.push({ Action: 'Remove', LogicalResourceId: id, ResourceType: r.type });
    }
    cs.status = 'CREATE_COMPLETE';
    cs.executionStatus = 'AVAILABLE';
  }

  private describeStack(stack: FakeStack): unknown {
    const pending = stack.pending;
    if (pending !== undefined && --pending.polls <= 0) this.finishExecution(stack, pending.changeSet);
    return {
      StackName: stack.name,
      StackId: stack.id,
      StackStatus: stack.status,
      CreationTime: new Date(0),
      // As CloudFormation does: NoEcho parameters are masked in every description of the stack (not in Outputs).
      Parameters: Object.entries(stack.parameters).map(([ParameterKey, ParameterValue]) => ({
        ParameterKey,
        ParameterValue: stack.template?.Parameters?.[ParameterKey]?.NoEcho === true ? '*****' : ParameterValue,
      })),
      Tags: Object.entries(stack.tags).map(([Key, Value]) => ({ Key, Value })),
      Outputs: Object.entries(stack.outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
    };
  }

  private finishExecution(stack: FakeStack, cs: FakeChangeSet): void {
    stack.pending = undefined;
    const creating = cs.type === 'CREATE';
    const wanted = resolveResources(stack.name, cs.template, cs.parameters);
    const failing = cs.changes.find((c) => c.Action !== 'Remove' && prop(wanted[c.LogicalResourceId]?.properties, 'FailWith') !== undefined);
    this.event(stack, stack.name, 'AWS::CloudFormation::Stack', creating ? 'CREATE_IN_PROGRESS' : 'UPDATE_IN_PROGRESS', 'User Initiated');
    if (failing !== undefined) {
      const verb = failing.Action === 'Add' ? 'CREATE' : 'UPDATE';
      this.event(stack, failing.LogicalResourceId, failing.ResourceType, `${verb}_FAILED`, String(prop(wanted[failing.LogicalResourceId]?.properties, 'FailWith')));
      stack.status = creating ? 'ROLLBACK_COMPLETE' : 'UPDATE_ROLLBACK_COMPLETE';
      cs.executionStatus = 'EXECUTE_FAILED';
      this.event(stack, stack.name, 'AWS::CloudFormation::Stack', stack.status);
      return;
    }
    for (const c of cs.changes) this.event(stack, c.LogicalResourceId, c.ResourceType, c.Action === 'Remove' ? 'DELETE_COMPLETE' : c.Action === 'Add' ? 'CREATE_COMPLETE' : 'UPDATE_COMPLETE');
    stack.template = cs.template;
    stack.body = cs.body;
    stack.parameters = cs.parameters;
    stack.tags = cs.tags;
    stack.resources = wanted;
    stack.outputs = Object.fromEntries(
      Object.entries(cs.template.Outputs ?? {}).map(([k, o]) => [k, String(resolve(o.Value, stack.name, cs.parameters, wanted))]),
    );
    stack.status = creating ? 'CREATE_COMPLETE' : 'UPDATE_COMPLETE';
    cs.executionStatus = 'EXECUTE_COMPLETE';
    for (const other of this.changeSets) if (other !== cs && other.stack === stack) other.executionStatus = 'OBSOLETE';
    this.event(stack, stack.name, 'AWS::CloudFormation::Stack', stack.status);
  }

  private event(stack: FakeStack, id: string, type: string, status: string, reason?: string): void {
    stack.events.push({
      EventId: `ev-${++this.counter}`,
      StackName: stack.name,
      LogicalResourceId: id,
      ResourceType: type,
      ResourceStatus: status,
      ...(reason === undefined ? {} : { ResourceStatusReason: reason }),
      Timestamp: new Date(),
    });
  }

  private stack(nameOrId: string): FakeStack {
    const stack = this.stacks.get(nameOrId) ?? [...this.stacks.values()].find((s) => s.id === nameOrId);
    if (!stack) throw new QueryError('ValidationError', `Stack with id ${nameOrId} does not exist`);
    return stack;
  }

  private changeSet(p: Record<string, string>): FakeChangeSet {
    const key = p.ChangeSetName ?? '';
    const cs = this.changeSets.find((c) => c.name === key || c.id === key);
    if (!cs) throw new QueryError('ChangeSetNotFound', `ChangeSet [${key}] does not exist`, 404);
    return cs;
  }
}

class QueryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** `Prefix.member.N.Field` form fields as one object per N ('' holds `Prefix.member.N` itself). */
function members(p: Record<string, string>, prefix: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const [key, value] of Object.entries(p)) {
    const m = new RegExp(`^${prefix}\\.member\\.(\\d+)(?:\\.(\\w+))?$`).exec(key);
    if (!m) continue;
    const i = Number(m[1]) - 1;
    out[i] = { ...(out[i] ?? {}), [m[2] ?? '']: value };
  }
  return out.filter((m) => m !== undefined);
}

function resolveResources(stack: string, t: Template, params: Record<string, string>): FakeStack['resources'] {
  const resources: FakeStack['resources'] = {};
  for (const [id, r] of Object.entries(t.Resources ?? {})) resources[id] = { type: r.Type, properties: resolve(r.Properties ?? {}, stack, params, {}) };
  return resources;
}

function resolve(value: unknown, stack: string, params: Record<string, string>, resources: FakeStack['resources']): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, stack, params, resources));
  if (typeof value === 'object' && value !== null) {
    const fn = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown; 'Fn::Join'?: unknown; 'Fn::Sub'?: unknown };
    const name = (n: string): string => (n in params ? (params[n] ?? '') : n === 'AWS::StackName' ? stack : `${stack}-${n}`);
    if (typeof fn.Ref === 'string') return name(fn.Ref);
    if (Array.isArray(fn['Fn::GetAtt'])) return `${stack}-${String(fn['Fn::GetAtt'][0])}.${String(fn['Fn::GetAtt'][1])}`;
    if (Array.isArray(fn['Fn::Join'])) {
      const [delimiter, parts] = fn['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => String(resolve(part, stack, params, resources))).join(delimiter);
    }
    if (typeof fn['Fn::Sub'] === 'string') {
      return fn['Fn::Sub'].replace(/\$\{([^}]*)\}/g, (_, inner: string) => {
        const dot = inner.indexOf('.');
        return dot < 0 ? name(inner) : `${stack}-${inner.slice(0, dot)}.${inner.slice(dot + 1)}`;
      });
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, stack, params, resources)]));
  }
  return value;
}

function prop(properties: unknown, name: string): unknown {
  return typeof properties === 'object' && properties !== null ? (properties as Record<string, unknown>)[name] : undefined;
}

function same(a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Query-protocol XML: objects as nested elements, arrays as `<member>` lists, dates in ISO 8601. */
function xml(name: string, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return `<${name}>${value.map((v) => xml('member', v)).join('')}</${name}>`;
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === 'object') return `<${name}>${Object.entries(value).map(([k, v]) => xml(k, v)).join('')}</${name}>`;
  return `<${name}>${escape(typeof value === 'string' ? value : JSON.stringify(value))}</${name}>`;
}
