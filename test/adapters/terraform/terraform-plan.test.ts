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
