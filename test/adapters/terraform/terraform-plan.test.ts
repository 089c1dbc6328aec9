import { describe, expect, it } from 'vitest';
import {
  ctyMismatch,
  destroys,
  parseOutputs,
  parsePlan,
  summarizePlan,
  TerraformFormatError,
} from '../../../src/adapters/terraform/terraform-plan.js';

// Plan documents written by us from the documented `terraform show -json` format.
function planDoc(
  changes: { address: string; actions: string[]; action_reason?: string }[],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    format_version: '1.2',
    terraform_version: '1.9.0',
    planned_values: {},
    resource_changes: changes.map((c) => ({
      address: c.address,
      mode: 'managed',
      type: c.address.split('.')[0],
      name: c.address.split('.')[1],
      change: { actions: c.actions, before: null, after: null },
      ...(c.action_reason ? { action_reason: c.action_reason } : {}),
    })),
    ...extra,
  });
}

describe('parsePlan', () => {
  it('names creates, updates, replaces (both orders) and deletes by address, with the reason', () => {
    const plan = parsePlan(
      planDoc([
        { address: 'aws_iam_role.app', actions: ['create'] },
        { address: 'aws_iam_policy.p', actions: ['update'] },
        { address: 'aws_instance.a', actions: ['delete', 'create'], action_reason: 'replace_because_cannot_update' },
        { address: 'aws_instance.b', actions: ['create', 'delete'], action_reason: 'replace_by_request' },
        { address: 'aws_s3_bucket.old', actions: ['delete'], action_reason: 'delete_because_no_resource_config' },
        { address: 'data.aws_caller_identity.me', actions: ['read'] },
        { address: 'aws_sqs_queue.q', actions: ['no-op'] },
      ]),
    );
    expect(plan.changes.map((c) => c.kind)).toEqual([
      'create',
      'update',
      'replace',
      'replace',
      'delete',
      'read',
      'no-op',
    ]);
    expect(summarizePlan(plan)).toBe(
      '1 to create (aws_iam_role.app), 1 to update (aws_iam_policy.p), ' +
        '2 to replace (aws_instance.a: replace_because_cannot_update, aws_instance.b: replace_by_request), ' +
        '1 to delete (aws_s3_bucket.old: delete_because_no_resource_config)',
    );
    expect(plan.changes.filter(destroys).map((c) => c.address)).toEqual([
      'aws_instance.a',
      'aws_instance.b',
      'aws_s3_bucket.old',
    ]);
  });

  it('reads forget as a change that destroys nothing', () => {
    const plan = parsePlan(planDoc([{ address: 'aws_s3_bucket.kept', actions: ['forget'] }]));
    expect(plan.changes[0]?.kind).toBe('forget');
    expect(plan.changes.filter(destroys)).toEqual([]);
    expect(summarizePlan(plan)).toBe('1 to forget (aws_s3_bucket.kept)');
  });

  it('accepts format_version majors 0 and 1 and ignores unknown keys', () => {
    expect(parsePlan(planDoc([], { format_version: '0.1', something_new: { x: 1 } })).formatVersion).toBe('0.1');
    expect(summarizePlan(parsePlan(planDoc([])))).toBe('no changes');
  });

  it('refuses an unknown major, an unknown action and a document that is not a plan', () => {
    expect(() => parsePlan(planDoc([], { format_version: '2.0' }))).toThrow(
      /format_version 2.0; Lockstep reads majors 0 and 1/,
    );
    expect(() => parsePlan(planDoc([{ address: 'a.b', actions: ['obliterate'] }]))).toThrow(
      /unknown action "obliterate"/,
    );
    expect(() => parsePlan(JSON.stringify({ format_version: '1.0', values: {} }))).toThrow(/is not a plan/);
    expect(() => parsePlan('{"format_version": "1.0", "variables": {"pw": {"value": "hunter22"}}')).toThrow(
      TerraformFormatError,
    );
    expect(() => parsePlan('{"format_version": "1.0", "variables": {"pw": {"value": "hunter22"}}')).not.toThrow(
      /hunter22/,
    );
  });
});

describe('parsePlan: planned outputs', () => {
  // Shaped as Terraform 1.11 prints them: `after` is left out when the whole value is unknown.
  const outputChanges = {
    region: { actions: ['create'], before: null, after: 'eu-west-1', after_unknown: false, after_sensitive: false },
    role_arn: { actions: ['create'], before: null, after_unknown: true, after_sensitive: false },
    partial: {
      actions: ['create'],
      before: null,
      after: { known: 'k', list: ['a', null] },
      after_unknown: { id: true, list: [false, true] },
      after_sensitive: false,
    },
    all_known_nested: {
      actions: ['update'],
      before: null,
      after: { a: [1, 2] },
      after_unknown: { a: [false, false] },
      after_sensitive: {},
    },
    nothing: { actions: ['no-op'], before: null, after: null, after_unknown: false, after_sensitive: false },
    db_password: {
      actions: ['create'],
      before: null,
      after: 'pw-very-secret-3',
      after_unknown: false,
      after_sensitive: true,
    },
    token_map: {
      actions: ['create'],
      before: null,
      after: { user: 'u', token: 'tok-very-secret-4' },
      after_unknown: false,
      after_sensitive: { token: true },
    },
    old: { actions: ['delete'], before: 'x', after: null, after_unknown: false, after_sensitive: false },
    constructor: { actions: ['create'], before: null, after_unknown: true },
  };

  it('keeps fully known values, names the rest unknown and the sensitive ones sensitive', () => {
    const { outputs } = parsePlan(planDoc([], { output_changes: outputChanges }));
    expect(outputs.known).toEqual({
      region: 'eu-west-1',
      all_known_nested: { a: [1, 2] },
      nothing: null,
      db_password: 'pw-very-secret-3',
      token_map: { user: 'u', token: 'tok-very-secret-4' },
    });
    // Partially unknown counts as unknown; a deleted output will not exist, so it is in neither list.
    expect(outputs.unknown).toEqual(['role_arn', 'partial', 'constructor']);
    expect(outputs.sensitive).toEqual(['db_password', 'token_map']);
  });

  it('names declared outputs that output_changes leaves out unknown, and takes sensitivity from every source', () => {
    // Terraform 0.12 has no after_sensitive: planned_values and the configuration say it.
    const { outputs } = parsePlan(
      planDoc([], {
        output_changes: { foo: { actions: ['create'], before: null, after: 'bar', after_unknown: false } },
        planned_values: { outputs: { foo: { sensitive: true, value: 'bar' }, later: { sensitive: false } } },
        configuration: { root_module: { outputs: { foo: {}, later: {}, key: { sensitive: true } } } },
      }),
    );
    expect(outputs.known).toEqual({ foo: 'bar' });
    expect(outputs.unknown).toEqual(['later', 'key']);
    expect(outputs.sensitive).toEqual(['foo', 'key']);
  });

  it('gives empty lists for a plan without outputs', () => {
    expect(parsePlan(planDoc([])).outputs).toEqual({ known: {}, unknown: [], sensitive: [] });
  });

  it('refuses a marker that is not booleans, naming the field and quoting nothing', () => {
    const doc = planDoc([], {
      output_changes: {
        db_password: { actions: ['create'], after: 'pw-very-secret-5', after_unknown: false, after_sensitive: 'yes' },
      },
    });
    expect(() => parsePlan(doc)).toThrow(
      'the plan (terraform show -json): output_changes.db_password.after_sensitive must be true, false, or objects and arrays of them',
    );
    expect(() => parsePlan(doc)).not.toThrow(/pw-very-secret-5/);
    const nested = planDoc([], {
      output_changes: { cfg: { actions: ['create'], after: { a: 1 }, after_unknown: { a: 0 } } },
    });
    expect(() => parsePlan(nested)).toThrow(/output_changes\.cfg\.after_unknown\.a must be true, false/);
  });
});

describe('parseOutputs', () => {
  it('reads values, sensitivity and checks values against their cty type', () => {
    const outputs = parseOutputs(
      JSON.stringify({
        role_arn: { sensitive: false, type: 'string', value: 'arn:aws:iam::123456789012:role/app' },
        password: { sensitive: true, type: 'string', value: 's3cret-value' },
        subnets: { sensitive: false, type: ['list', 'string'], value: ['a', 'b'] },
        settings: {
          sensitive: false,
          type: ['object', { port: 'number', tls: 'bool' }],
          value: { port: 443, tls: true },
        },
      }),
    );
    expect(outputs.password).toEqual({ value: 's3cret-value', sensitive: true, type: 'string' });
    expect(outputs.subnets?.value).toEqual(['a', 'b']);
  });

  it('refuses a value that contradicts its type, without quoting it', () => {
    const text = JSON.stringify({ password: { sensitive: true, type: 'number', value: 's3cret-value' } });
    expect(() => parseOutputs(text)).toThrow(
      /output password is not the number Terraform says it is \(expected a number, got a string\)/,
    );
    expect(() => parseOutputs(text)).not.toThrow(/s3cret/);
  });

  it('knows the cty type forms', () => {
    expect(ctyMismatch(['map', 'number'], { a: 1, b: 'x' })).toBe('b: expected a number, got a string');
    expect(ctyMismatch(['tuple', ['string', 'bool']], ['a', true])).toBeUndefined();
    expect(ctyMismatch(['set', ['list', 'string']], [['a'], [1]])).toBe('1: 0: expected a string, got a number');
    expect(ctyMismatch('dynamic', { anything: 1 })).toBeUndefined();
  });
});
