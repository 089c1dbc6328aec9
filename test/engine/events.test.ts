import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import {
  eventId,
  eventsAfter,
  parseEventId,
  START,
  type EventCursor,
  type ProjectEvent,
} from '../../src/engine/events.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The order of a project's events, read from a real SQLite store filled by real promotions.
let project: TestProject | undefined;
afterEach(() => project?.cleanup());

describe('engine: a project’s events', () => {
  it('pages through the same events in the same order whatever the page size, each id the position after it', async () => {
    project = testProject(
      `project: shop\nenvironments:\n  dev: {}\ncomponents:\n  api:\n${commandComponent()}\n  web:\n${commandComponent()}\n`,
    );
    const deps = await project.deps();
    for (const v of ['1', '2']) {
      const { release } = await createRelease(deps, { set: [`api=${v}`, `web=${v}`] });
      expect((await promote(deps, release.id, 'dev')).state).toBe('succeeded');
    }
    const whole = await eventsAfter(deps.store, START, 10_000);
    expect(whole.events.filter((e) => e.kind === 'log').length).toBeGreaterThanOrEqual(4);
    expect(whole.events.filter((e) => e.kind === 'audit').length).toBe((await deps.store.auditHead())?.seq);
    expect(whole.cursor).toEqual(parseEventId(whole.events.at(-1)?.id ?? '', 'id'));

    for (const limit of [1, 2, 3, 7]) {
      const paged: ProjectEvent[] = [];
      let cursor: EventCursor = START;
      for (;;) {
        const page = await eventsAfter(deps.store, cursor, limit);
        if (page.events.length === 0) break;
        expect(page.events[0] === undefined ? '' : page.events[0].id).not.toBe(eventId(cursor));
        paged.push(...page.events);
        cursor = page.cursor;
      }
      expect(paged, `pages of ${limit}`).toEqual(whole.events);
    }
  });

  it('reads an event id back, and names the field when it is not one', () => {
    expect(parseEventId(eventId({ auditSeq: 12, logId: 340 }), 'x')).toEqual({ auditSeq: 12, logId: 340 });
    for (const bad of ['a12', '12', '12-', '-1-2', '1.5-2', '1-2-3'])
      expect(() => parseEventId(bad, 'header.last-event-id'), bad).toThrow(
        expect.objectContaining({ constructor: InputError, field: 'header.last-event-id' }) as Error,
      );
  });
});
