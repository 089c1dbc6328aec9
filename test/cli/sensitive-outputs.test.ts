import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { lockstep, type CliResult } from '../helpers/cli.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { expectRealTerraform } from '../helpers/terraform.js';

// Issue 12, part 2, through the built CLI with REAL Terraform (1.11, on PATH; the built-in
// `terraform_data` resource needs no provider download) and a `command` producer that prints what it
// produces. Each secret is searched for, as written and JSON-escaped, in every byte of the state
// database, in the output of every command, and in the step logs.

/** Marked sensitive by Terraform only (`sensitive = true`); lockstep.yaml does not repeat it. */
const TF_MARKED = 'tf-marked-"pw\\-1';
/** Declared sensitive in lockstep.yaml only: Terraform prints it under `Outputs:` when it applies. */
const TF_DECLARED = 'tf-declared-tok-"q\\b';
/** Written to $LOCKSTEP_OUTPUTS by a script that also prints it, plain and as JSON. */
const CMD_TOKEN = 'cmd-secret-"q\\b-1';
/** A multi-line sensitive value, printed line by line. */
const CMD_CERT = '-----BEGIN TEST-----\ncert-line-one-4f9a\ncert-line-two-77c1\n-----END TEST-----';

/** Parts of the values above that nothing but a leak can contain. */
const MARKERS = ['tf-marked-', 'tf-declared-tok', 'cmd-secret-', 'cert-line-'];

function forms(value: string): string[] {
  return [value, JSON.stringify(value).slice(1, -1), ...value.split('\n').filter((l) => l.length >= 6)];
}
const SECRETS = [TF_MARKED, TF_DECLARED, CMD_TOKEN, CMD_CERT];

const MODULE = `variable "app_version" { type = string }

resource "terraform_data" "db" {
  input = "tf-marked-\\"pw\\\\-\${var.app_version}"
}

output "db_password" {
  value     = terraform_data.db.output
  sensitive = true
}

output "api_token" {
  value = "tf-declared-tok-\\"q\\\\b"
}

output "endpoint" {
  value = "https://db.example.com/\${var.app_version}"
}
`;

const KEYS = `#!${process.execPath}
const { writeFileSync } = require('node:fs');
const token = 'cmd-secret-"q\\\\b-' + process.argv[2];
const cert = ${JSON.stringify(CMD_CERT)};
console.log('generated token ' + token);
console.log(JSON.stringify({ token }));
for (const line of cert.split('\\n')) console.log('cert: ' + line);
writeFileSync(process.env.LOCKSTEP_OUTPUTS, JSON.stringify({ token, cert }));
`;

const USE = `#!/bin/sh
set -eu
printf '%s' "$1" > "received-$LOCKSTEP_COMPONENT-1"
printf '%s' "$2" > "received-$LOCKSTEP_COMPONENT-2"
echo "applied $LOCKSTEP_COMPONENT $LOCKSTEP_VERSION"
`;

const CONFIG = `project: vault
environments:
  prod: {}
components:
  infra:
    type: terraform
    with:
      dir: infra
      workspace: "\${{ env.name }}"
      versionVariable: app_version
    outputs:
      db_password: { type: string }
      api_token: { type: string, sensitive: true }
      endpoint: { type: string }
  keys:
    type: command
    with:
      apply: ["./keys.js", "\${{ version }}"]
    outputs:
      token: { type: string, sensitive: true }
      cert: { type: string, sensitive: true }
  app:
    type: command
    with:
      apply: ["./use.sh", "\${{ components.infra.outputs.db_password }}", "\${{ components.infra.outputs.api_token }}"]
  worker:
    type: command
    with:
      apply: ["./use.sh", "\${{ components.keys.outputs.token }}", "\${{ components.keys.outputs.cert }}"]
`;

let project: TestProject;

beforeAll(expectRealTerraform);

afterEach(() => {
  project?.cleanup();
});

function run(args: string[], status = 0): CliResult {
  const r = lockstep(project.dir, args, { TF_CLI_CONFIG_FILE: '/dev/null' });
  expect(r.status, `lockstep ${args.join(' ')}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(status);
  return r;
}

function release(versions: Record<string, string>): string {
  const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
  return (JSON.parse(run(['release', 'create', ...set, '--output', 'json']).stdout) as { release: ReleaseRecord }).release.id;
}

function received(component: string, n: number): string {
  return readFileSync(join(project.dir, `received-${component}-${n}`), 'utf8');
}

/** The state database's bytes: the file, its write-ahead log and shared memory, read raw. */
function databaseBytes(): string {
  return ['state.db', 'state.db-wal', 'state.db-shm']
    .map((f) => join(project.dir, '.lockstep', f))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f).toString('latin1'))
    .join('');
}

/** Every place a user or an auditor can read; each must hold no form of any secret. */
function expectNowhere(where: Record<string, string>): void {
  for (const [name, text] of Object.entries(where)) {
    for (const secret of SECRETS) for (const form of forms(secret)) expect(text, `${name} holds ${JSON.stringify(form)}`).not.toContain(form);
    for (const marker of MARKERS) expect(text, `${name} holds a part of a secret (${marker})`).not.toContain(marker);
  }
}

function readEverything(promotions: string[], releases: string[]): Record<string, string> {
  const where: Record<string, string> = {
    'state.db (+wal)': databaseBytes(),
    'status -o json': run(['status', '--output', 'json']).stdout,
    'history -o json': run(['history', '--output', 'json']).stdout,
    'audit export': run(['audit', 'export']).stdout,
  };
  for (const id of promotions) {
    where[`logs ${id}`] = run(['logs', id]).stdout;
    where[`logs ${id} -o json`] = run(['logs', id, '--output', 'json']).stdout;
  }
  for (const id of releases) where[`release show ${id}`] = run(['release', 'show', id, '--output', 'json']).stdout;
  return where;
}

describe('sensitive outputs appear nowhere (real Terraform, command producer printing its outputs, built CLI)', () => {
  it('whichever side marks them, values printed before they were known included; an unchanged producer is read back from its system', () => {
    project = testProject(CONFIG);
    project.write('infra/main.tf', MODULE);
    project.write('keys.js', KEYS, true);
    project.write('use.sh', USE, true);

    // First promotion: everything applies; consumers get the values from this run.
    const first = release({ infra: '1', keys: '1', app: '1', worker: '1' });
    const promoted = run(['promote', first, '--to', 'prod']);
    expect(received('app', 1)).toBe(TF_MARKED);
    expect(received('app', 2)).toBe(TF_DECLARED);
    expect(received('worker', 1)).toBe(CMD_TOKEN);
    expect(received('worker', 2)).toBe(CMD_CERT);
    const firstId = (JSON.parse(run(['history', '--output', 'json']).stdout) as PromotionRecord[])[0]?.id ?? '';

    // The held lines were released, redacted, not dropped: what the script and Terraform printed is there.
    const logs = run(['logs', firstId]).stdout;
    expect(logs).toMatch(/keys +\| generated token \*\*\*/);
    expect(logs).toMatch(/keys +\| \{"token":"\*\*\*"\}/);
    expect(logs).toMatch(/keys +\| cert: \*\*\*/);
    expect(logs).toMatch(/infra +\| api_token = "\*\*\*"/);
    expect(logs).toMatch(/infra +\| outputs marked sensitive by Terraform \(never stored\): db_password/);
    // The output Terraform alone marks is redacted in the step record and the audit log like a declared one.
    const history = JSON.parse(run(['history', '--output', 'json']).stdout) as (PromotionRecord & { steps: { component: string; outputs?: Record<string, unknown>; sensitiveOutputs?: string[] }[] })[];
    const infra = history[0]?.steps.find((s) => s.component === 'infra');
    expect(infra?.outputs).toEqual({ db_password: '***', api_token: '***', endpoint: 'https://db.example.com/1' });
    expect(infra?.sensitiveOutputs).toEqual(['api_token', 'db_password']);

    // Second promotion: only app changes. infra is unchanged, so its sensitive outputs are read back
    // from Terraform (terraform output -json), never from the store.
    const second = release({ infra: '1', keys: '1', app: '2', worker: '1' });
    const plan = run(['plan', second, '--to', 'prod']).stdout;
    const promotedAgain = run(['promote', second, '--to', 'prod']);
    expect(received('app', 1)).toBe(TF_MARKED);
    expect(received('app', 2)).toBe(TF_DECLARED);
    const secondId = (JSON.parse(run(['history', '--output', 'json']).stdout) as PromotionRecord[])[0]?.id ?? '';
    expect(secondId).not.toBe(firstId);
    expect(run(['logs', secondId]).stdout).toContain('reading infra.outputs.api_token, infra.outputs.db_password back from infra\'s system (sensitive values are never stored)');

    // Third: only worker changes, but keys (a command) cannot read its outputs back: a clear refusal
    // before anything runs, saying what to do.
    const third = release({ infra: '1', keys: '1', app: '2', worker: '2' });
    const refused = run(['promote', third, '--to', 'prod'], 2);
    expect(refused.stderr).toContain(
      'worker needs keys.outputs.cert, keys.outputs.token, sensitive: Lockstep never stores their values, keys was not applied by this process, ' +
        'and the command adapter cannot read outputs back from its system',
    );

    expectNowhere({
      'promote (first)': promoted.stdout + promoted.stderr,
      'plan (second)': plan,
      'promote (second)': promotedAgain.stdout + promotedAgain.stderr,
      'promote (refused)': refused.stdout + refused.stderr,
      ...readEverything([firstId, secondId], [first, second, third]),
    });
    // Three promotions and twenty CLI runs, a dozen of them with real Terraform: minutes on a loaded machine.
  }, 300_000);
});
