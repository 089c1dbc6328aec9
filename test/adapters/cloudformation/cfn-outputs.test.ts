import { describe, expect, it } from 'vitest';
import { planOutputs, type DeployedStack, type OutputsBasis } from '../../../src/adapters/cloudformation/cfn-outputs.js';
import { parseTemplate, type CfnTemplate } from '../../../src/adapters/cloudformation/cfn-template.js';
import { knownAfter } from '../../../src/core/plan.js';

// Pure functions: the rules that decide which outputs a change set leaves known. The adapter tests
// drive them through the SDK against the fake API; these cover the cases the fake does not model.

describe('parseTemplate', () => {
  it('reads YAML short forms as the long forms of a JSON template', () => {
    const yaml = parseTemplate(`
Parameters:
  Env: { Type: String }
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Topic: { Type: AWS::SNS::Topic }
Outputs:
  Arn: { Value: !GetAtt Topic.TopicArn }
  Label: { Value: !Sub "\${Topic}-\${Env}" }
  Both: { Value: !Join [",", [!Ref Topic, !ImportValue shared-vpc]] }
  Maybe: { Value: !If [IsProd, !Ref Topic, !Ref "AWS::NoValue"], Condition: IsProd }
`);
    const json = parseTemplate(
      JSON.stringify({
        Parameters: { Env: { Type: 'String' } },
        Conditions: { IsProd: { 'Fn::Equals': [{ Ref: 'Env' }, 'prod'] } },
        Resources: { Topic: { Type: 'AWS::SNS::Topic' } },
        Outputs: {
          Arn: { Value: { 'Fn::GetAtt': ['Topic', 'TopicArn'] } },
          Label: { Value: { 'Fn::Sub': '${Topic}-${Env}' } },
          Both: { Value: { 'Fn::Join': [',', [{ Ref: 'Topic' }, { 'Fn::ImportValue': 'shared-vpc' }]] } },
          Maybe: { Value: { 'Fn::If': ['IsProd', { Ref: 'Topic' }, { Ref: 'AWS::NoValue' }] }, Condition: 'IsProd' },
        },
      }),
    );
    expect(yaml).toEqual(json);
    // As in CloudFormation, a date-like scalar is text.
    expect(parseTemplate('AWSTemplateFormatVersion: 2010-09-09\n')).toEqual({ AWSTemplateFormatVersion: '2010-09-09' });
  });

  it('names the line of a syntax error without quoting the template', () => {
    expect(() => parseTemplate('Resources:\n  Topic: [unclosed\n')).toThrow(/^the template is neither JSON nor YAML Lockstep can read \(line \d+: [^\n]*\)$/);
  });
});

/** A stack deployed with `before`, updated to `after`: `changed` resources in the change set. */
function basis(
  before: CfnTemplate,
  after: CfnTemplate,
  options: { changed?: string[]; parameters?: Record<string, string>; deployedParameters?: Record<string, string>; outputs?: Record<string, string> } = {},
): OutputsBasis {
  const deployed: DeployedStack = {
    template: before,
    parameters: options.deployedParameters ?? {},
    outputs: options.outputs ?? {},
    changed: new Set(options.changed ?? []),
  };
  return { stackName: 'net', region: undefined, template: after, parameters: options.parameters ?? {}, deployed };
}

const TOPIC = { Topic: { Type: 'AWS::SNS::Topic' }, Queue: { Type: 'AWS::SQS::Queue' } };

describe('planOutputs keeps an output known only when nothing it depends on changes', () => {
  it('follows conditions: unchanged ones keep the value, a changed one makes it unknown', () => {
    const t = (prodName: string): CfnTemplate => ({
      Parameters: { Env: { Type: 'String' } },
      Conditions: { IsProd: { 'Fn::Equals': [{ Ref: 'Env' }, prodName] } },
      Resources: TOPIC,
      Outputs: { Arn: { Value: { 'Fn::If': ['IsProd', { Ref: 'Topic' }, 'none'] }, Condition: 'IsProd' } },
    });
    const options = { changed: ['Queue'], parameters: { Env: 'prod' }, deployedParameters: { Env: 'prod' }, outputs: { Arn: 'arn:topic' } };
    expect(planOutputs(basis(t('prod'), t('prod'), options))).toEqual({ known: { Arn: 'arn:topic' }, unknown: [] });
    expect(planOutputs(basis(t('prod'), t('production'), options))).toEqual({ known: {}, unknown: ['Arn'] });
    expect(planOutputs(basis(t('prod'), t('prod'), { ...options, parameters: { Env: 'staging' } }))).toEqual({ known: {}, unknown: ['Arn'] });
  });

  it('follows a parameter that names the attribute of Fn::GetAtt', () => {
    const t: CfnTemplate = {
      Parameters: { Attr: { Type: 'String' } },
      Resources: TOPIC,
      Outputs: { Value: { Value: { 'Fn::GetAtt': ['Topic', { Ref: 'Attr' }] } } },
    };
    const options = { deployedParameters: { Attr: 'TopicArn' }, outputs: { Value: 'arn:topic' } };
    expect(planOutputs(basis(t, t, { ...options, parameters: { Attr: 'TopicArn' } })).known).toEqual({ Value: 'arn:topic' });
    expect(planOutputs(basis(t, t, { ...options, parameters: { Attr: 'TopicName' } })).unknown).toEqual(['Value']);
  });

  it('compares the mappings an output reads', () => {
    const t = (size: string): CfnTemplate => ({
      Mappings: { Sizes: { prod: { Size: size } } },
      Resources: TOPIC,
      Outputs: { Size: { Value: { 'Fn::Join': ['-', [{ Ref: 'Topic' }, { 'Fn::FindInMap': ['Sizes', 'prod', 'Size'] }]] } } },
    });
    const options = { outputs: { Size: 'topic-large' } };
    expect(planOutputs(basis(t('large'), t('large'), options)).known).toEqual({ Size: 'topic-large' });
    expect(planOutputs(basis(t('large'), t('small'), options)).unknown).toEqual(['Size']);
  });

  it('leaves unknown what CloudFormation resolves anew or the change set does not show', () => {
    const t: CfnTemplate = {
      Parameters: { Ami: { Type: 'AWS::SSM::Parameter::Value<String>' }, Secret: { Type: 'String', NoEcho: true } },
      Resources: { ...TOPIC, Child: { Type: 'AWS::CloudFormation::Stack' } },
      Outputs: {
        Image: { Value: { 'Fn::Sub': '${Topic}:${Ami}' } },
        Resolved: { Value: { 'Fn::Sub': '${Topic}:{{resolve:ssm:/app/colour}}' } },
        Joined: { Value: { 'Fn::Join': [':', [{ Ref: 'Topic' }, '{{resolve:ssm:/app/colour}}']] } },
        Nested: { Value: { 'Fn::GetAtt': ['Child', 'Outputs.Url'] } },
        Hidden: { Value: { 'Fn::Join': [':', [{ Ref: 'Topic' }, { Ref: 'Secret' }]] } },
        Transformed: { Value: { 'Fn::Transform': { Name: 'Upper', Parameters: { Of: { Ref: 'Topic' } } } } },
        Plain: { Value: { Ref: 'Topic' } },
      },
    };
    const planned = planOutputs(
      basis(t, t, {
        parameters: { Ami: '/images/app', Secret: 's3cret-value' },
        deployedParameters: { Ami: '/images/app', Secret: '*****' },
        outputs: { Image: 'a', Resolved: 'b', Joined: 'b', Nested: 'c', Hidden: 'd', Transformed: 'e', Plain: 'f' },
      }),
    );
    expect(planned).toEqual({ known: { Plain: 'f' }, unknown: ['Image', 'Resolved', 'Joined', 'Nested', 'Hidden', 'Transformed'], sensitive: ['Hidden'] });
    // A macro rewrites the template where it runs: nothing read here is sure.
    expect(planOutputs(basis(t, { ...t, Transform: 'AWS::Serverless-2016-10-31' }, { outputs: { Plain: 'f' } })).known).toEqual({});
  });

  it('does not work out a value from a parameter known only after its producer applies', () => {
    const t: CfnTemplate = { Parameters: { VpcId: { Type: 'String' } }, Resources: TOPIC, Outputs: { Vpc: { Value: { Ref: 'VpcId' } } } };
    const later = knownAfter('infra');
    const planned = planOutputs(basis(t, t, { parameters: { VpcId: later }, deployedParameters: { VpcId: 'vpc-1' }, outputs: { Vpc: 'vpc-1' } }));
    expect(planned).toEqual({ known: {}, unknown: ['Vpc'] });
  });

  it('works out Fn::Sub over parameters, with ${!Literal} and its own variables', () => {
    const t: CfnTemplate = {
      Parameters: { Env: { Type: 'String', Default: 'prod' }, Size: { Type: 'Number', Default: 3 } },
      Outputs: {
        Url: { Value: { 'Fn::Sub': ['https://${Host}/${!path}', { Host: { 'Fn::Sub': '${AWS::StackName}.${Env}.example.com' } }] } },
        // A Number parameter's Ref is not worked out: its text is CloudFormation's to give.
        Size: { Value: { Ref: 'Size' } },
      },
    };
    expect(planOutputs({ stackName: 'net', region: undefined, template: t, parameters: {} })).toEqual({
      known: { Url: 'https://net.prod.example.com/${path}' },
      unknown: ['Size'],
    });
  });
});
