#!/usr/bin/env node
// A FAKE terraform CLI for tests: it speaks the documented command-line contract (arguments, exit
// codes, saved plan files, the JSON of `show -json` and `output -json`) over a toy "provider".
// No real Terraform runs here.
//
// Configuration: `fake.tf.json` in the working directory:
//   { "resources": { "<address>": { "value": "text with ${var.x}", "forceNew": true? } },
//     "outputs":   { "<name>": { "value": "text with ${var.x} or ${res.<address>}", "type": <cty>, "sensitive": bool } } }
// State: one JSON file per backend, FAKE_TERRAFORM_STATE (default terraform.tfstate.json in cwd):
//   { "workspaces": { "<ws>": { "serial": n, "resources": { addr: value }, "outputs": { name: {value,type,sensitive} } } } }
// TF_DATA_DIR is honoured as Terraform documents it (where init and the selected workspace are kept).
// Knobs (environment): FAKE_TERRAFORM_LOG (append one JSON line of argv per call),
//   FAKE_TERRAFORM_APPLY_DELAY_MS (a slow apply, printing progress), FAKE_TERRAFORM_FAIL_APPLY=1,
//   FAKE_TERRAFORM_FORMAT_VERSION (what `show -json` claims), FAKE_TERRAFORM_OUTPUTS_JSON (printed
//   verbatim by `output -json`).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
const env = process.env;
if (env.FAKE_TERRAFORM_LOG) appendFileSync(env.FAKE_TERRAFORM_LOG, JSON.stringify({ cwd: process.cwd(), argv }) + '\n');

const cwd = process.cwd();
const stateFile = env.FAKE_TERRAFORM_STATE ?? path.join(cwd, 'terraform.tfstate.json');
const dotDir = env.TF_DATA_DIR ?? path.join(cwd, '.terraform');

function fail(message, code = 1) {
  process.stderr.write(`\nError: ${message}\n`);
  process.exit(code);
}
function readState() {
  return existsSync(stateFile)
    ? JSON.parse(readFileSync(stateFile, 'utf8'))
    : { workspaces: { default: { serial: 0, resources: {}, outputs: {} } } };
}
function writeState(state) {
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
}
function currentWorkspace() {
  if (env.TF_WORKSPACE) return env.TF_WORKSPACE;
  const file = path.join(dotDir, 'environment');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : 'default';
}
function requireInit() {
  if (!existsSync(dotDir)) fail('Backend initialization required, please run "terraform init"');
}
function options(args) {
  const flags = new Map();
  const rest = [];
  const varFiles = [];
  const vars = {};
  for (const arg of args) {
    const m = /^-([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) rest.push(arg);
    else if (m[1] === 'var-file') varFiles.push(m[2]);
    else if (m[1] === 'var') {
      const eq = m[2].indexOf('=');
      vars[m[2].slice(0, eq)] = m[2].slice(eq + 1);
    } else flags.set(m[1], m[2] ?? true);
  }
  return { flags, rest, varFiles, vars };
}
function loadVars(varFiles, vars) {
  const out = {};
  for (const file of varFiles) {
    const full = path.resolve(cwd, file);
    if (!existsSync(full)) fail(`Failed to read variables file: Given variables file ${file} does not exist.`);
    if (!file.endsWith('.json')) fail(`the fake reads only .tfvars.json files, got ${file}`);
    Object.assign(out, JSON.parse(readFileSync(full, 'utf8')));
  }
  return { ...out, ...vars };
}
function interpolate(text, vars, resources) {
  return String(text).replace(/\$\{(var|res)\.([^}]+)\}/g, (_, kind, name) => {
    const source = kind === 'var' ? vars : resources;
    if (!(name in source)) fail(`Reference to undeclared ${kind === 'var' ? 'input variable' : 'resource'} "${name}"`);
    const v = source[name];
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}
function desired(vars) {
  const file = path.join(cwd, 'fake.tf.json');
  if (!existsSync(file)) fail('No configuration files (the fake reads fake.tf.json)');
  const config = JSON.parse(readFileSync(file, 'utf8'));
  const resources = {};
  const forceNew = {};
  for (const [addr, r] of Object.entries(config.resources ?? {})) {
    resources[addr] = interpolate(r.value, vars, {});
    forceNew[addr] = r.forceNew === true;
  }
  const outputs = {};
  for (const [name, o] of Object.entries(config.outputs ?? {})) {
    const value = typeof o.value === 'string' ? interpolate(o.value, vars, resources) : o.value;
    outputs[name] = { value, type: o.type ?? 'string', sensitive: o.sensitive === true };
  }
  return { resources, forceNew, outputs };
}
function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

const [command, ...args] = argv;
switch (command) {
  case 'version':
  case '-version':
    console.log('Terraform v1.9.0 (fake)');
    break;

  case 'init': {
    const { flags, rest } = options(args);
    if (flags.get('input') !== 'false') fail('the fake expects -input=false');
    const backend = args.filter((a) => a.startsWith('-backend-config=')).map((a) => a.slice('-backend-config='.length));
    mkdirSync(dotDir, { recursive: true });
    const backendFile = path.join(dotDir, 'backend.json');
    if (
      existsSync(backendFile) &&
      readFileSync(backendFile, 'utf8') !== JSON.stringify(backend) &&
      !flags.has('reconfigure')
    ) {
      // As Terraform does: a data directory initialised for one backend refuses another.
      fail(
        'Backend configuration changed\n\nA change in the backend configuration has been detected, which may require migrating existing state.',
      );
    }
    writeFileSync(backendFile, JSON.stringify(backend));
    if (rest.length > 0) fail(`Too many command line arguments: ${rest.join(' ')}`);
    console.log('Initializing the backend...');
    console.log('Terraform has been successfully initialized!');
    break;
  }

  case 'workspace': {
    requireInit();
    const [sub, ...wsArgs] = args;
    const name = options(wsArgs).rest[0];
    const state = readState();
    if (sub === 'select') {
      if (!state.workspaces[name])
        fail(`Workspace "${name}" doesn't exist.\n\nYou can create this workspace with the "new" subcommand.`);
    } else if (sub === 'new') {
      if (state.workspaces[name]) fail(`Workspace "${name}" already exists`);
      state.workspaces[name] = { serial: 0, resources: {}, outputs: {} };
      writeState(state);
      console.log(`Created and switched to workspace "${name}"!`);
    } else fail(`unknown workspace subcommand ${sub}`);
    writeFileSync(path.join(dotDir, 'environment'), name);
    if (sub === 'select') console.log(`Switched to workspace "${name}".`);
    break;
  }

  case 'plan': {
    requireInit();
    const { flags, varFiles, vars } = options(args);
    if (flags.get('input') !== 'false') fail('the fake expects -input=false');
    const out = flags.get('out');
    const vals = loadVars(varFiles, vars);
    const want = desired(vals);
    const ws = currentWorkspace();
    const state = readState();
    const current = state.workspaces[ws];
    if (!current) fail(`Currently selected workspace "${ws}" does not exist`);
    const changes = [];
    for (const [addr, value] of Object.entries(want.resources)) {
      if (!(addr in current.resources)) changes.push({ addr, actions: ['create'], before: null, after: value });
      else if (current.resources[addr] !== value) {
        changes.push(
          want.forceNew[addr]
            ? {
                addr,
                actions: ['delete', 'create'],
                before: current.resources[addr],
                after: value,
                reason: 'replace_because_cannot_update',
              }
            : { addr, actions: ['update'], before: current.resources[addr], after: value },
        );
      } else changes.push({ addr, actions: ['no-op'], before: value, after: value });
    }
    for (const addr of Object.keys(current.resources)) {
      if (!(addr in want.resources))
        changes.push({
          addr,
          actions: ['delete'],
          before: current.resources[addr],
          after: null,
          reason: 'delete_because_no_resource_config',
        });
    }
    const outputsChange = JSON.stringify(want.outputs) !== JSON.stringify(current.outputs);
    const hasChanges = changes.some((c) => c.actions[0] !== 'no-op') || outputsChange;
    for (const c of changes) if (c.actions[0] !== 'no-op') console.log(`  # ${c.addr} will be ${c.actions.join('/')}d`);
    console.log(
      hasChanges
        ? `Plan: ${changes.filter((c) => c.actions[0] !== 'no-op').length} changes.`
        : 'No changes. Your infrastructure matches the configuration.',
    );
    if (out)
      writeFileSync(
        out,
        JSON.stringify({ fakePlan: true, workspace: ws, serial: current.serial, stateFile, changes, want, vars: vals }),
      );
    if (flags.has('detailed-exitcode')) process.exit(hasChanges ? 2 : 0);
    break;
  }

  case 'show': {
    const { flags, rest } = options(args);
    if (!flags.has('json')) fail('the fake only shows -json');
    const file = rest[0];
    if (!file || !existsSync(file)) fail(`Failed to read the given file as a state or plan file: ${file}`);
    const plan = JSON.parse(readFileSync(file, 'utf8'));
    const doc = {
      format_version: env.FAKE_TERRAFORM_FORMAT_VERSION ?? '1.2',
      terraform_version: '1.9.0',
      // Documented keys the adapter must not depend on, and one no version documents yet.
      variables: Object.fromEntries(Object.entries(plan.vars).map(([k, v]) => [k, { value: v }])),
      planned_values: { root_module: {} },
      resource_changes: plan.changes.map((c) => {
        const [type, name] = c.addr.split('.');
        return {
          address: c.addr,
          mode: 'managed',
          type,
          name,
          provider_name: 'registry.terraform.io/hashicorp/fake',
          change: {
            actions: c.actions,
            before: c.before === null ? null : { value: c.before },
            after: c.after === null ? null : { value: c.after },
            after_unknown: {},
          },
          ...(c.reason ? { action_reason: c.reason } : {}),
        };
      }),
      // The fake does not model which values Terraform could know before applying: every output is
      // unknown (`after` left out, as Terraform does), never a made-up known value.
      output_changes: Object.fromEntries(
        Object.entries(plan.want.outputs).map(([k, o]) => [
          k,
          { actions: ['update'], before: null, after_unknown: true, after_sensitive: o.sensitive === true },
        ]),
      ),
      timestamp: new Date().toISOString(),
      a_key_from_a_future_minor: { anything: true },
    };
    process.stdout.write(JSON.stringify(doc));
    break;
  }

  case 'apply': {
    requireInit();
    const { flags, rest } = options(args);
    if (flags.get('input') !== 'false') fail('the fake expects -input=false');
    const file = rest[0];
    if (!file) fail('the fake applies saved plans only');
    if (!existsSync(file)) fail(`Failed to load "${file}" as a plan file`);
    const plan = JSON.parse(readFileSync(file, 'utf8'));
    const state = readState();
    const current = state.workspaces[plan.workspace];
    if (!current || current.serial !== plan.serial) {
      fail(
        'Saved plan is stale\n\nThe given plan file can no longer be applied because the state was changed by another operation after the plan was created.',
      );
    }
    const delay = Number(env.FAKE_TERRAFORM_APPLY_DELAY_MS ?? 0);
    if (delay > 0) {
      const until = Date.now() + delay;
      while (Date.now() < until) {
        console.log('fake_resource.app: Still creating...');
        await sleep(Math.min(200, delay));
      }
    }
    if (env.FAKE_TERRAFORM_FAIL_APPLY === '1') {
      // Like a provider error halfway: the state is left as it was in the fake.
      fail('creating fake resource: AccessDenied: the fake refused');
    }
    for (const c of plan.changes) {
      if (c.after === null) delete current.resources[c.addr];
      else current.resources[c.addr] = c.after;
    }
    current.outputs = plan.want.outputs;
    current.serial += 1;
    writeState(state);
    console.log(`Apply complete! Resources: ${plan.changes.filter((c) => c.actions[0] !== 'no-op').length} changed.`);
    break;
  }

  case 'output': {
    requireInit();
    const { flags } = options(args);
    if (!flags.has('json')) fail('the fake only prints outputs with -json');
    if (env.FAKE_TERRAFORM_OUTPUTS_JSON) {
      process.stdout.write(env.FAKE_TERRAFORM_OUTPUTS_JSON);
      break;
    }
    const ws = readState().workspaces[currentWorkspace()];
    process.stdout.write(JSON.stringify(ws?.outputs ?? {}));
    break;
  }

  default:
    fail(`the fake does not implement "${command}"`);
}
