import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A FAKE AWS Lambda control plane: a local HTTP server answering the REST-JSON calls the aws-lambda
 * adapter makes, with the request and response shapes of the Lambda API reference (2015-03-31), so the
 * tests drive the real `@aws-sdk/client-lambda` client. It keeps one account's functions in memory.
 *
 *   POST /2015-03-31/functions  {FunctionName, Role, Code, Runtime?, Handler?, PackageType?, MemorySize?,
 *        Timeout?, Layers?, Environment?, Publish?}  → 201 FunctionConfiguration, State Pending for
 *        `updatePolls` reads of $LATEST (updates are refused meanwhile), then Active (CreateFunction)
 *   GET  /2015-03-31/functions/{name}/configuration[?Qualifier=]  → FunctionConfiguration
 *   PUT  /2015-03-31/functions/{name}/configuration  {Environment:{Variables}, MemorySize, Timeout, Role,
 *        Handler, Runtime, Layers}  → FunctionConfiguration (UpdateFunctionConfiguration)
 *   PUT  /2015-03-31/functions/{name}/code  {S3Bucket,S3Key,S3ObjectVersion | ZipFile(base64) | ImageUri}
 *   POST /2015-03-31/functions/{name}/versions  {CodeSha256?, Description?}  → 201 FunctionConfiguration
 *   GET  /2015-03-31/functions/{name}/versions[?Marker=&MaxItems=]  → {Versions, NextMarker?}
 *   POST /2015-03-31/functions/{name}/aliases  {Name, FunctionVersion, Description?, RoutingConfig?}  → 201
 *   GET  /2015-03-31/functions/{name}/aliases/{alias}  → AliasConfiguration
 *   POST /2015-03-31/functions/{name}/invocations?Qualifier=N  (payload)  → the function's response,
 *        with `X-Amz-Function-Error: Unhandled` and {errorType, errorMessage} when `invokeError` is set
 *   PUT  /2015-03-31/functions/{name}/aliases/{alias}  {FunctionVersion?, Description?, RoutingConfig?}
 *
 * Errors are a status code, the `x-amzn-errortype` header and `{"Type","Message"}`, as Lambda sends them:
 * 400 InvalidParameterValueException (environment over 4 KB, quoting it as Lambda does), 404
 * ResourceNotFoundException, 409 ResourceConflictException (an update is in progress), 412
 * PreconditionFailedException (CodeSha256 guard), 429 TooManyRequestsException (throttled; the SDK
 * retries it). After an update, $LATEST reports LastUpdateStatus InProgress for `updatePolls` reads.
 *
 * The code of an S3 object or image is stood in for by its location: its CodeSha256 is the SHA-256 of
 * `s3://bucket/key` (or the image URI); a zip's is the SHA-256 of its bytes, as in Lambda.
 */
/** The configuration fields UpdateFunctionConfiguration sets, as GetFunctionConfiguration reports them. */
export interface FakeSettings {
  MemorySize: number;
  Timeout: number;
  Role: string;
  Handler?: string;
  Runtime?: string;
  Layers: string[];
  PackageType: 'Zip' | 'Image';
}

export const INITIAL_SETTINGS: FakeSettings = {
  MemorySize: 128,
  Timeout: 3,
  Role: 'arn:aws:iam::123456789012:role/initial',
  Handler: 'index.handler',
  Runtime: 'nodejs20.x',
  Layers: [],
  PackageType: 'Zip',
};

export interface FakeVersion {
  Version: string;
  CodeSha256: string;
  Description: string;
  Variables: Record<string, string>;
  settings: FakeSettings;
  State: 'Active' | 'Failed';
  StateReason?: string;
}

export interface FakeAlias {
  FunctionVersion: string;
  Description: string;
  weights: Record<string, number>;
}

export interface FakeFunction {
  name: string;
  latest: {
    CodeSha256: string;
    Variables: Record<string, string>;
    settings: FakeSettings;
    /** Reads of $LATEST left before the update in progress is done (0: none in progress). */
    pendingPolls: number;
    /** Set by CreateFunction: the function is Pending (not only its last update) until pendingPolls ends. */
    creating: boolean;
  };
  versions: FakeVersion[];
  aliases: Map<string, FakeAlias>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

export class FakeLambda {
  readonly functions = new Map<string, FakeFunction>();
  readonly requests: RecordedRequest[] = [];
  /** Reads of $LATEST that report InProgress after each update. */
  updatePolls = 1;
  /** The next N requests are answered 429 TooManyRequestsException. */
  throttleNext = 0;
  /** The next update call is answered 409 ResourceConflictException, as if someone else's update ran. */
  conflictNext = 0;
  /** Invocations answer with this function error (`X-Amz-Function-Error: Unhandled`) when set. */
  invokeError: string | undefined;
  /** When an alias first routes weight to a version, that version turns Failed with this reason. */
  failVersionOnRouting: string | undefined;
  private server: Server | undefined;
  endpoint = '';

  /** A function with a first published version 1, holding `code` (a stand-in location) and no alias. */
  addFunction(name: string, code = 's3://artifacts/initial.zip', variables: Record<string, string> = {}): FakeFunction {
    const sha = sha256(code);
    const fn: FakeFunction = {
      name,
      latest: { CodeSha256: sha, Variables: { ...variables }, settings: { ...INITIAL_SETTINGS }, pendingPolls: 0, creating: false },
      versions: [
        { Version: '1', CodeSha256: sha, Description: 'deployed by hand', Variables: { ...variables }, settings: { ...INITIAL_SETTINGS }, State: 'Active' },
      ],
      aliases: new Map(),
    };
    this.functions.set(name, fn);
    return fn;
  }

  /** The version an alias sends all traffic to and its Description (ground truth for tests). */
  aliasVersion(fn: string, alias: string): FakeVersion | undefined {
    const f = this.functions.get(fn);
    const a = f?.aliases.get(alias);
    return a === undefined ? undefined : f?.versions.find((v) => v.Version === a.FunctionVersion);
  }

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
    const text = Buffer.concat(chunks).toString('utf8');
    const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, body });
    try {
      if (this.throttleNext > 0) {
        this.throttleNext -= 1;
        throw new LambdaError(429, 'TooManyRequestsException', 'Rate exceeded');
      }
      const [status, payload, headers] = this.route(method, url, body);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(payload));
    } catch (error) {
      const e = error instanceof LambdaError ? error : new LambdaError(500, 'ServiceException', String(error));
      res.writeHead(e.status, { 'content-type': 'application/json', 'x-amzn-errortype': e.type });
      res.end(JSON.stringify({ Type: 'User', Message: e.message }));
    }
  }

  private route(method: string, url: URL, body: Record<string, unknown>): [number, unknown, Record<string, string>?] {
    if (method === 'POST' && url.pathname === '/2015-03-31/functions') return [201, this.create(body)];
    const match = /^\/2015-03-31\/functions\/([^/]+)\/(configuration|code|versions|aliases|invocations)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match) throw new LambdaError(404, 'UnknownOperationException', `no route ${method} ${url.pathname}`);
    const fn = this.fn(decodeURIComponent(match[1] ?? ''));
    const what = match[2];
    const aliasName = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
    const key = `${method} ${what ?? ''}${aliasName === undefined ? '' : '/{alias}'}`;
    switch (key) {
      case 'GET configuration':
        return [200, this.getConfiguration(fn, url.searchParams.get('Qualifier'))];
      case 'PUT configuration': {
        const variables = (body.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ?? {};
        if (JSON.stringify(variables).length > 4096) {
          // Lambda's own wording, which quotes the variables it refused.
          throw new LambdaError(
            400,
            'InvalidParameterValueException',
            `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${JSON.stringify(variables)}`,
          );
        }
        const settings = this.settingsFrom(body, fn.latest.settings);
        this.startUpdate(fn);
        if (body.Environment !== undefined) fn.latest.Variables = { ...variables };
        fn.latest.settings = settings;
        return [200, this.latestConfig(fn)];
      }
      case 'PUT code':
        this.startUpdate(fn);
        fn.latest.CodeSha256 = codeSha(body);
        return [200, this.latestConfig(fn)];
      case 'POST invocations': {
        this.version(fn, url.searchParams.get('Qualifier') ?? '');
        if (this.invokeError === undefined) return [200, { ok: true }];
        return [200, { errorType: 'Error', errorMessage: this.invokeError }, { 'X-Amz-Function-Error': 'Unhandled' }];
      }
      case 'POST versions':
        return [201, this.publish(fn, body)];
      case 'GET versions':
        return [200, this.listVersions(fn, url.searchParams)];
      case 'POST aliases': {
        const name = str(body.Name);
        if (fn.aliases.has(name)) throw new LambdaError(409, 'ResourceConflictException', `Alias already exists: ${name}`);
        this.version(fn, str(body.FunctionVersion));
        fn.aliases.set(name, { FunctionVersion: str(body.FunctionVersion), Description: str(body.Description), weights: {} });
        this.applyRouting(fn, name, body);
        return [201, this.aliasConfig(fn, name)];
      }
      case 'GET aliases/{alias}':
        return [200, this.aliasConfig(fn, aliasName ?? '')];
      case 'PUT aliases/{alias}': {
        const alias = this.alias(fn, aliasName ?? '');
        if (body.FunctionVersion !== undefined) {
          this.version(fn, str(body.FunctionVersion));
          alias.FunctionVersion = str(body.FunctionVersion);
        }
        if (body.Description !== undefined) alias.Description = str(body.Description);
        this.applyRouting(fn, aliasName ?? '', body);
        return [200, this.aliasConfig(fn, aliasName ?? '')];
      }
      default:
        throw new LambdaError(404, 'UnknownOperationException', `no route ${method} ${url.pathname}`);
    }
  }

  /**
   * CreateFunction: Role and Code are required, and a Zip function needs Runtime and Handler, as the
   * API reference says; the function starts Pending.
   */
  private create(body: Record<string, unknown>): unknown {
    const name = str(body.FunctionName);
    if (this.functions.has(name)) throw new LambdaError(409, 'ResourceConflictException', `Function already exist: ${name}`);
    if (body.Role === undefined) throw new LambdaError(400, 'InvalidParameterValueException', 'Role is required');
    if (typeof body.Code !== 'object' || body.Code === null) throw new LambdaError(400, 'InvalidParameterValueException', 'Code is required');
    const packageType = body.PackageType === 'Image' ? 'Image' : 'Zip';
    if (packageType === 'Zip' && (body.Runtime === undefined || body.Handler === undefined)) {
      throw new LambdaError(400, 'InvalidParameterValueException', 'Runtime and Handler are mandatory parameters for functions created with deployment packages.');
    }
    const settings = this.settingsFrom(body, { ...INITIAL_SETTINGS, Handler: undefined, Runtime: undefined, PackageType: packageType });
    const variables = (body.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ?? {};
    const fn: FakeFunction = {
      name,
      latest: { CodeSha256: codeSha(body.Code as Record<string, unknown>), Variables: { ...variables }, settings, pendingPolls: this.updatePolls, creating: true },
      versions: [],
      aliases: new Map(),
    };
    this.functions.set(name, fn);
    return this.latestConfig(fn);
  }

  /** The settings of an UpdateFunctionConfiguration or CreateFunction body over `base`, checked as Lambda checks them. */
  private settingsFrom(body: Record<string, unknown>, base: FakeSettings): FakeSettings {
    const settings = { ...base };
    if (body.MemorySize !== undefined) {
      const memory = Number(body.MemorySize);
      if (!Number.isInteger(memory) || memory < 128 || memory > 10240) {
        throw new LambdaError(400, 'InvalidParameterValueException', `1 validation error detected: Value '${JSON.stringify(body.MemorySize)}' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240`);
      }
      settings.MemorySize = memory;
    }
    if (body.Timeout !== undefined) {
      const timeout = Number(body.Timeout);
      if (!Number.isInteger(timeout) || timeout < 1 || timeout > 900) {
        throw new LambdaError(400, 'InvalidParameterValueException', `1 validation error detected: Value '${JSON.stringify(body.Timeout)}' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900`);
      }
      settings.Timeout = timeout;
    }
    if (body.Role !== undefined) {
      if (!/^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/.test(str(body.Role))) {
        throw new LambdaError(400, 'ValidationException', `1 validation error detected: Value '${str(body.Role)}' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern`);
      }
      settings.Role = str(body.Role);
    }
    if (body.Handler !== undefined) settings.Handler = str(body.Handler);
    if (body.Runtime !== undefined) settings.Runtime = str(body.Runtime);
    if (Array.isArray(body.Layers)) settings.Layers = body.Layers.map((l) => str(l));
    return settings;
  }

  private startUpdate(fn: FakeFunction): void {
    if (this.conflictNext > 0) {
      this.conflictNext -= 1;
      fn.latest.pendingPolls = this.updatePolls;
    }
    if (fn.latest.pendingPolls > 0 && fn.latest.creating) {
      throw new LambdaError(409, 'ResourceConflictException', `The operation cannot be performed at this time. The function is currently in the following state: Pending`);
    }
    if (fn.latest.pendingPolls > 0) {
      throw new LambdaError(409, 'ResourceConflictException', `The operation cannot be performed at this time. An update is in progress for resource: ${this.arn(fn)}`);
    }
    fn.latest.pendingPolls = this.updatePolls;
  }

  private publish(fn: FakeFunction, body: Record<string, unknown>): Record<string, unknown> {
    if (fn.latest.pendingPolls > 0) {
      throw new LambdaError(409, 'ResourceConflictException', `An update is in progress for resource: ${this.arn(fn)}`);
    }
    if (body.CodeSha256 !== undefined && body.CodeSha256 !== fn.latest.CodeSha256) {
      throw new LambdaError(412, 'PreconditionFailedException', 'CodeSha256 does not match the function code');
    }
    // As Lambda: nothing changed since the last published version → that version is returned.
    const last = fn.versions[fn.versions.length - 1];
    if (
      last &&
      last.CodeSha256 === fn.latest.CodeSha256 &&
      sameVars(last.Variables, fn.latest.Variables) &&
      JSON.stringify(last.settings) === JSON.stringify(fn.latest.settings)
    ) {
      return this.versionConfig(fn, last);
    }
    const version: FakeVersion = {
      Version: String(Number(last?.Version ?? '0') + 1),
      CodeSha256: fn.latest.CodeSha256,
      Description: str(body.Description),
      Variables: { ...fn.latest.Variables },
      settings: { ...fn.latest.settings, Layers: [...fn.latest.settings.Layers] },
      State: 'Active',
    };
    fn.versions.push(version);
    return this.versionConfig(fn, version);
  }

  private applyRouting(fn: FakeFunction, name: string, body: Record<string, unknown>): void {
    const routing = body.RoutingConfig as { AdditionalVersionWeights?: Record<string, number> } | undefined;
    if (routing === undefined) return;
    const alias = this.alias(fn, name);
    alias.weights = { ...(routing.AdditionalVersionWeights ?? {}) };
    for (const v of Object.keys(alias.weights)) {
      const version = this.version(fn, v);
      if (this.failVersionOnRouting !== undefined) {
        version.State = 'Failed';
        version.StateReason = this.failVersionOnRouting;
      }
    }
  }

  private listVersions(fn: FakeFunction, params: URLSearchParams): unknown {
    const all = [this.latestConfig(fn), ...fn.versions.map((v) => this.versionConfig(fn, v))];
    const start = Number(params.get('Marker') ?? '0');
    const size = Number(params.get('MaxItems') ?? '50');
    const page = all.slice(start, start + size);
    return { Versions: page, ...(start + size < all.length ? { NextMarker: String(start + size) } : {}) };
  }

  private getConfiguration(fn: FakeFunction, qualifier: string | null): unknown {
    if (qualifier === null || qualifier === '$LATEST') {
      const config = this.latestConfig(fn);
      if (fn.latest.pendingPolls > 0) fn.latest.pendingPolls -= 1;
      if (fn.latest.pendingPolls === 0) fn.latest.creating = false;
      return config;
    }
    const alias = fn.aliases.get(qualifier);
    return this.versionConfig(fn, this.version(fn, alias?.FunctionVersion ?? qualifier));
  }

  private latestConfig(fn: FakeFunction): Record<string, unknown> {
    return {
      FunctionName: fn.name,
      FunctionArn: `${this.arn(fn)}:$LATEST`,
      Version: '$LATEST',
      CodeSha256: fn.latest.CodeSha256,
      Environment: { Variables: fn.latest.Variables },
      ...settingsConfig(fn.latest.settings),
      // After CreateFunction the function itself is Pending; after an update only the update is InProgress.
      State: fn.latest.creating && fn.latest.pendingPolls > 0 ? 'Pending' : 'Active',
      ...(fn.latest.creating && fn.latest.pendingPolls > 0
        ? { StateReason: 'The function is being created.', StateReasonCode: 'Creating' }
        : { LastUpdateStatus: fn.latest.pendingPolls > 0 ? 'InProgress' : 'Successful' }),
    };
  }

  private versionConfig(fn: FakeFunction, v: FakeVersion): Record<string, unknown> {
    const { settings, ...rest } = v;
    return {
      ...rest,
      ...settingsConfig(settings),
      FunctionName: fn.name,
      FunctionArn: `${this.arn(fn)}:${v.Version}`,
      Environment: { Variables: v.Variables },
      LastUpdateStatus: 'Successful',
    };
  }

  private aliasConfig(fn: FakeFunction, name: string): unknown {
    const alias = this.alias(fn, name);
    return {
      AliasArn: `${this.arn(fn)}:${name}`,
      Name: name,
      FunctionVersion: alias.FunctionVersion,
      Description: alias.Description,
      ...(Object.keys(alias.weights).length > 0 ? { RoutingConfig: { AdditionalVersionWeights: alias.weights } } : {}),
      RevisionId: createHash('sha256').update(JSON.stringify(alias)).digest('hex').slice(0, 32),
    };
  }

  private fn(name: string): FakeFunction {
    const fn = this.functions.get(name);
    if (!fn) throw new LambdaError(404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`);
    return fn;
  }

  private alias(fn: FakeFunction, name: string): FakeAlias {
    const alias = fn.aliases.get(name);
    if (!alias) throw new LambdaError(404, 'ResourceNotFoundException', `Alias not found: ${this.arn(fn)}:${name}`);
    return alias;
  }

  private version(fn: FakeFunction, version: string): FakeVersion {
    const v = fn.versions.find((x) => x.Version === version);
    if (!v) throw new LambdaError(404, 'ResourceNotFoundException', `Function not found: ${this.arn(fn)}:${version}`);
    return v;
  }

  private arn(fn: FakeFunction): string {
    return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${fn.name}`;
  }
}

class LambdaError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('base64');
}

function codeSha(body: Record<string, unknown>): string {
  if (typeof body.ZipFile === 'string') return sha256(Buffer.from(body.ZipFile, 'base64'));
  if (typeof body.ImageUri === 'string') return sha256(body.ImageUri);
  return sha256(`s3://${str(body.S3Bucket)}/${str(body.S3Key)}`);
}

/** Settings as FunctionConfiguration fields: Layers are `{Arn, CodeSize}` objects there. */
function settingsConfig(settings: FakeSettings): Record<string, unknown> {
  return {
    MemorySize: settings.MemorySize,
    Timeout: settings.Timeout,
    Role: settings.Role,
    PackageType: settings.PackageType,
    ...(settings.Handler === undefined ? {} : { Handler: settings.Handler }),
    ...(settings.Runtime === undefined ? {} : { Runtime: settings.Runtime }),
    ...(settings.Layers.length === 0 ? {} : { Layers: settings.Layers.map((Arn) => ({ Arn, CodeSize: 1024 })) }),
  };
}

function sameVars(a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
}

/** A request field as a string ('' when absent or not a string). */
function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
