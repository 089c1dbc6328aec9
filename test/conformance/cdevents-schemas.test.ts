import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HTTP, type CloudEvent } from 'cloudevents';
import { afterEach, describe, expect, it } from 'vitest';
import { CDEVENT_TYPES, type CDEvent } from '../../src/core/notify/cdevents.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { prepareNotifications } from '../../src/engine/notifications.js';
import { queueNotifications } from '../../src/engine/notify-queue.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { ajv2020, type ValidateLike } from '../helpers/json-schema.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

/*
 * Every CDEvent Lockstep emits, checked against the CDEvents spec's own JSON Schemas (v0.5.1, kept
 * beside the repository in the shared fixtures, never copied in), inside a CloudEvents 1.0 envelope
 * checked by the cloudevents package. The events come from real promotions: a first install, an
 * upgrade, and a broken version that is rolled back, so every type is emitted.
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const schemaDir = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'cdevents', 'schemas');

/** The schema file of each event type: `dev.cdevents.service.rolledback.0.3.0` → servicerolledback.json. */
function schemaFile(type: string): string {
  const [, , subject, predicate] = type.split('.');
  return path.join(schemaDir, `${subject ?? ''}${predicate ?? ''}.json`);
}

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

async function release(deps: EngineDeps, version: string): Promise<string> {
  return (await createRelease(deps, { set: [`api=${version}`, `web=${version.replace('-broken', '')}`] })).release.id;
}

describe('CDEvents conform to the spec’s JSON Schemas', () => {
  if (!existsSync(schemaDir)) {
    it('needs the shared fixtures', () => {
      const message = `${schemaDir} does not exist: the CDEvents conformance checks did not run`;
      console.warn(message);
      // Outside CI a checkout without the shared fixtures may skip them; CI must have them.
      expect(process.env.CI, message).toBeFalsy();
    });
    return;
  }

  const ajv = ajv2020();
  const linkDir = path.join(schemaDir, 'links');
  for (const file of readdirSync(linkDir)) ajv.addSchema(JSON.parse(readFileSync(path.join(linkDir, file), 'utf8')) as object);
  const validators = new Map<string, ValidateLike>(CDEVENT_TYPES.map((type) => [type, ajv.compile(JSON.parse(readFileSync(schemaFile(type), 'utf8')) as object)]));

  it('the spec’s own examples pass the validator (so it can fail only on what we emit)', () => {
    const examples = path.resolve(schemaDir, '..', 'conformance');
    for (const file of readdirSync(examples)) {
      const example = JSON.parse(readFileSync(path.join(examples, file), 'utf8')) as CDEvent;
      const validate = validators.get(example.context.type);
      expect(validate, file).toBeDefined();
      expect(validate?.(example), `${file}: ${JSON.stringify(validate?.errors)}`).toBe(true);
    }
    // And it refuses what the schema forbids: a service event without its artifactId.
    const deployed = JSON.parse(readFileSync(path.join(examples, 'service_deployed.json'), 'utf8')) as CDEvent;
    delete deployed.subject.content.artifactId;
    expect(validators.get('dev.cdevents.service.deployed.0.3.0')?.(deployed)).toBe(false);
  });

  it('every event of a deploy, an upgrade and a rollback validates, in a valid structured CloudEvent, one chainId per release', async () => {
    project = testProject(`project: shop
environments:
  dev: {}
components:
  api:
${commandComponent()}
  web:
${commandComponent({ dependsOn: ['api'] })}
notify:
  - name: bus
    url: https://events.example.com/cdevents
    format: cdevents
`);
    const deps = await project.deps();
    await prepareNotifications(deps);
    const releases = [await release(deps, '1.0.0'), await release(deps, '1.1.0'), await release(deps, '1.2.0-broken')];
    for (const id of releases) await promote(deps, id, 'dev');
    expect((await deps.store.listPromotions({ limit: 1 }))[0]?.state).toBe('failed');
    await queueNotifications(deps);

    const deliveries = (await deps.store.listDeliveries({ limit: 10_000 })).reverse();
    const seen = new Set<string>();
    const chains = new Map<string, Set<string>>();
    for (const d of deliveries) {
      const event = HTTP.toEvent({ headers: { 'content-type': d.contentType }, body: d.body }) as CloudEvent<CDEvent>;
      expect(event.validate()).toBe(true);
      expect(event.specversion).toBe('1.0');
      const cd = event.data as CDEvent;
      expect(event.type).toBe(cd.context.type);
      expect(event.id).toBe(cd.context.id);
      expect(d.cloudEventType).toBe(cd.context.type);
      const validate = validators.get(cd.context.type);
      expect(validate?.(cd), `${cd.context.type}: ${JSON.stringify(validate?.errors)}`).toBe(true);
      seen.add(cd.context.type);
      // The release of the audit entry the event comes from.
      const [entry] = await deps.store.auditPage((d.auditSeq ?? 1) - 1, 1);
      const releaseId = entry?.releaseId ?? '';
      chains.set(releaseId, (chains.get(releaseId) ?? new Set()).add(cd.context.chainId ?? ''));
    }
    expect([...seen].sort()).toStrictEqual([...CDEVENT_TYPES].sort());
    // Every event of a release carries that release's id as its chainId, and only that one.
    expect([...chains.entries()].map(([r, ids]) => [r, [...ids]])).toStrictEqual(releases.map((r) => [r, [r]]));
    // Ids are unique, and the same event always gets the same id (derived, not random).
    const ids = deliveries.map((d) => (JSON.parse(d.body) as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
