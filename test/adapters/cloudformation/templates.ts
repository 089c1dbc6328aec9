/** Templates for the cloudformation tests, as JSON (the FAKE reads JSON templates only). */

/** One queue whose tag carries the Release parameter; its URL is an output. */
export const QUEUE_TEMPLATE = {
  Parameters: { Release: { Type: 'String' } },
  Resources: {
    Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'orders', Tags: [{ Key: 'release', Value: { Ref: 'Release' } }] } },
  },
  Outputs: { QueueUrl: { Value: { Ref: 'Queue' } } },
};
