import { describe, expect, it } from 'vitest';
import {
  formatInZone,
  parseWindow,
  windowStatus,
  type ParsedWindow,
  type WindowInput,
  type WindowStatus,
} from '../../../src/core/gates/windows.js';

// Reference calendar used below (worked out by hand, not by the code under test):
// 2026-01-09 and 2026-01-16 are Fridays, 2026-01-12 a Monday. Europe/Berlin is UTC+1 in winter and
// UTC+2 in summer; it springs forward on Sunday 2026-03-29 at 01:00 UTC (02:00 → 03:00 local) and
// falls back on Sunday 2026-10-25 at 01:00 UTC (03:00 → 02:00 local). America/New_York is UTC−5 in
// winter and UTC−4 in summer. 2027-01-01 is a Friday, so 2027-01-05 is a Tuesday and 2027-01-11 a Monday.

function windows(...inputs: WindowInput[]): ParsedWindow[] {
  return inputs.map((input) => {
    const result = parseWindow(input);
    if (!result.ok) throw new Error(`test window did not parse: ${result.message}`);
    return result.window;
  });
}

function statusAt(parsed: readonly ParsedWindow[], iso: string): WindowStatus {
  return windowStatus(parsed, new Date(iso));
}

function iso(date: Date | undefined): string | undefined {
  return date?.toISOString();
}

describe('parseWindow', () => {
  it('reads days, ranges that wrap, full names in any case, and time ranges', () => {
    const result = parseWindow({ allow: 'Mon-Thu 09:00-16:00', timezone: 'Europe/Berlin' });
    expect(result).toEqual({
      ok: true,
      window: {
        kind: 'allow',
        text: 'Mon-Thu 09:00-16:00',
        timezone: 'Europe/Berlin',
        schedule: { form: 'weekly', days: [1, 2, 3, 4], startMinute: 9 * 60, endMinute: 16 * 60 },
      },
    });
    const [lists, wrap, spaced] = windows(
      { allow: 'monday,WED,Fri-sunday' },
      { allow: 'Fri-Mon 22:00-06:00' },
      { allow: 'Mon - Wed 08:00 - 09:30' },
    );
    expect(lists?.schedule).toEqual({ form: 'weekly', days: [1, 3, 5, 6, 7], startMinute: 0, endMinute: 1440 });
    // Crossing midnight: the end is counted from the start day's midnight.
    expect(wrap?.schedule).toEqual({ form: 'weekly', days: [1, 5, 6, 7], startMinute: 1320, endMinute: 1800 });
    expect(spaced?.schedule).toEqual({ form: 'weekly', days: [1, 2, 3], startMinute: 480, endMinute: 570 });
  });

  it('defaults to every day, the whole day and UTC, and keeps the reason', () => {
    const [timeOnly] = windows({ deny: '12:00-13:00', reason: ' lunch ' });
    expect(timeOnly).toMatchObject({ kind: 'deny', timezone: 'UTC', reason: 'lunch' });
    expect(timeOnly?.schedule).toMatchObject({ days: [1, 2, 3, 4, 5, 6, 7], startMinute: 720, endMinute: 780 });
  });

  it('reads absolute ranges: whole days inclusive, date-times with an exclusive end', () => {
    const [days, times] = windows(
      { deny: '2026-12-20 .. 2027-01-04' },
      { deny: '2026-12-20T18:00..2027-01-04T08:30', timezone: 'Europe/Berlin' },
    );
    expect(days?.schedule).toEqual({
      form: 'absolute',
      startWall: Date.UTC(2026, 11, 20),
      endWall: Date.UTC(2027, 0, 5),
    });
    expect(times?.schedule).toEqual({
      form: 'absolute',
      startWall: Date.UTC(2026, 11, 20, 18, 0),
      endWall: Date.UTC(2027, 0, 4, 8, 30),
    });
  });

  it.each([
    [
      { allow: 'Mon-Thr 09:00-16:00' },
      'allow',
      'unknown day "Thr" in "Mon-Thr": use Mon, Tue, Wed, Thu, Fri, Sat, Sun',
    ],
    [{ deny: 'weekends' }, 'deny', 'unknown day "weekends": use Mon'],
    [{ allow: 'Mon-' }, 'allow', 'bad day list "Mon-"'],
    [{ allow: 'Mon 09:00-25:00' }, 'allow', 'bad time "25:00" in "09:00-25:00"'],
    [{ allow: 'Mon 9am-5pm' }, 'allow', 'bad time "9am"'],
    [{ allow: 'Mon 09:60-10:00' }, 'allow', 'bad time "09:60"'],
    [{ allow: 'Mon 24:30-10:00' }, 'allow', 'bad time "24:30"'],
    [{ allow: 'Mon 24:00-06:00' }, 'allow', 'starts at 24:00'],
    [{ allow: 'Mon 09:00' }, 'allow', 'bad time range "09:00": write it as HH:MM-HH:MM'],
    [{ allow: 'Mon 10:00-10:00' }, 'allow', 'time range "10:00-10:00" is empty'],
    [{ allow: 'Mon 09:00-10:00 extra' }, 'allow', 'cannot read "Mon 09:00-10:00 extra"'],
    [{ allow: '' }, 'allow', 'allow needs a window expression'],
    [{ allow: 'Mon', timezone: 'Europe/Berlinn' }, 'timezone', 'unknown time zone "Europe/Berlinn"'],
    [{ allow: 'Mon', timezone: 'CEST+2' }, 'timezone', 'unknown time zone'],
    [{ allow: 'Mon', deny: 'Fri' }, 'window', 'both allow and deny'],
    [{ timezone: 'UTC' }, 'window', 'needs allow or deny'],
    [{ deny: '2027-01-04 .. 2026-12-20' }, 'deny', 'ends before it starts'],
    [{ deny: '2026-12-20T10:00 .. 2026-12-20T09:00' }, 'deny', 'ends before it starts'],
    [{ deny: '2026-12-20T10:00 .. 2026-12-20T10:00' }, 'deny', 'ends before it starts'],
    [{ deny: '2026-12-20 .. 2027-01-04T08:00' }, 'deny', 'mixes a date and a date with time'],
    [{ deny: '2026-02-30 .. 2026-03-02' }, 'deny', '"2026-02-30" is not a calendar date'],
    [{ deny: '2026-12-20T25:00 .. 2026-12-21T01:00' }, 'deny', 'bad time in "2026-12-20T25:00"'],
    [{ deny: '20.12.2026 .. 04.01.2027' }, 'deny', 'bad date "20.12.2026"'],
    [{ deny: '2026-12-20 ..' }, 'deny', 'bad date range'],
    [{ deny: '2026-12-20' }, 'deny', 'is a single date'],
  ] as const)('rejects %j', (input, field, message) => {
    const result = parseWindow(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.field).toBe(field);
    expect(result.message).toContain(message);
  });
});

describe('formatInZone', () => {
  it('renders local wall time to the minute with the zone name', () => {
    expect(formatInZone(new Date('2026-12-21T08:00:00Z'), 'Europe/Berlin')).toBe('2026-12-21 09:00 Europe/Berlin');
    expect(formatInZone(new Date('2026-07-01T22:30:59Z'), 'America/New_York')).toBe(
      '2026-07-01 18:30 America/New_York',
    );
    // Midnight is 00:00 of the new day, never 24:00 of the old one.
    expect(formatInZone(new Date('2026-01-10T05:00:00Z'), 'America/New_York')).toBe(
      '2026-01-10 00:00 America/New_York',
    );
    // Both readings of the repeated hour on a fall-back day show the same wall time.
    expect(formatInZone(new Date('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toBe('2026-10-25 02:30 Europe/Berlin');
    expect(formatInZone(new Date('2026-10-25T01:30:00Z'), 'Europe/Berlin')).toBe('2026-10-25 02:30 Europe/Berlin');
  });
});

describe('windowStatus: weekly allow windows', () => {
  const office = windows({ allow: 'Mon-Thu 09:00-16:00', timezone: 'Europe/Berlin' });

  it('is open inside the window and says until when', () => {
    // Monday 2026-01-12 09:00 CET is 08:00 UTC; 16:00 CET is 15:00 UTC.
    const status = statusAt(office, '2026-01-12T08:00:00Z');
    expect(status.open).toBe(true);
    expect(status.message).toBe('inside allow window Mon-Thu 09:00-16:00 (Europe/Berlin)');
    expect(iso(status.closesAt)).toBe('2026-01-12T15:00:00.000Z');
    expect(status.opensAt).toBeUndefined();
    expect(statusAt(office, '2026-01-15T14:59:59Z').open).toBe(true); // Thursday 15:59:59 CET
  });

  it('is closed outside it and says when it opens', () => {
    const before = statusAt(office, '2026-01-12T07:59:00Z');
    expect(before.open).toBe(false);
    expect(before.message).toBe('outside the allow windows (Mon-Thu 09:00-16:00 Europe/Berlin)');
    expect(iso(before.opensAt)).toBe('2026-01-12T08:00:00.000Z');
    expect(before.closesAt).toBeUndefined();

    // The end is exclusive: 16:00 CET on Monday is closed, and Tuesday 09:00 CET opens.
    expect(iso(statusAt(office, '2026-01-12T15:00:00Z').opensAt)).toBe('2026-01-13T08:00:00.000Z');
    // After Thursday's window and over the weekend, the next opening is Monday 2026-01-19.
    expect(iso(statusAt(office, '2026-01-15T15:00:00Z').opensAt)).toBe('2026-01-19T08:00:00.000Z');
    expect(iso(statusAt(office, '2026-01-17T12:00:00Z').opensAt)).toBe('2026-01-19T08:00:00.000Z');
  });

  it('joins whole days that touch into one stretch', () => {
    const weekdays = windows({ allow: 'Mon-Fri' });
    const tuesday = statusAt(weekdays, '2026-01-13T12:00:00Z');
    expect(tuesday.open).toBe(true);
    expect(iso(tuesday.closesAt)).toBe('2026-01-17T00:00:00.000Z'); // Saturday 00:00, not Wednesday 00:00
    expect(iso(statusAt(weekdays, '2026-01-17T00:00:00Z').opensAt)).toBe('2026-01-19T00:00:00.000Z');
  });

  it('opens at the earliest of several allow windows and lists them all when closed', () => {
    const two = windows(
      { allow: 'Mon-Thu 09:00-16:00', timezone: 'Europe/Berlin' },
      { allow: 'Sat 10:00-12:00', timezone: 'America/New_York' },
    );
    // Friday 2026-01-16 12:00 UTC: Saturday 10:00 EST (15:00 UTC) comes before Monday 09:00 CET.
    const friday = statusAt(two, '2026-01-16T12:00:00Z');
    expect(friday.message).toBe(
      'outside the allow windows (Mon-Thu 09:00-16:00 Europe/Berlin; Sat 10:00-12:00 America/New_York)',
    );
    expect(iso(friday.opensAt)).toBe('2026-01-17T15:00:00.000Z');
    const saturday = statusAt(two, '2026-01-17T16:00:00Z');
    expect(saturday.message).toBe('inside allow window Sat 10:00-12:00 (America/New_York)');
    expect(iso(saturday.closesAt)).toBe('2026-01-17T17:00:00.000Z');
  });
});

describe('windowStatus: midnight and 24:00', () => {
  it('runs a range that crosses midnight from the named day into the next', () => {
    const nights = windows({ allow: 'Fri 22:00-06:00' });
    const late = statusAt(nights, '2026-01-09T23:00:00Z'); // Friday 23:00
    expect(late.open).toBe(true);
    expect(iso(late.closesAt)).toBe('2026-01-10T06:00:00.000Z');
    expect(statusAt(nights, '2026-01-10T05:59:00Z').open).toBe(true); // Saturday 05:59
    expect(statusAt(nights, '2026-01-10T06:00:00Z').open).toBe(false);
    expect(iso(statusAt(nights, '2026-01-10T06:00:00Z').opensAt)).toBe('2026-01-16T22:00:00.000Z');
    // Thursday night is not Friday's window, and neither is Saturday night.
    expect(iso(statusAt(nights, '2026-01-08T23:00:00Z').opensAt)).toBe('2026-01-09T22:00:00.000Z');
    expect(statusAt(nights, '2026-01-10T23:00:00Z').open).toBe(false);
  });

  it('runs a time-only range that crosses midnight every night', () => {
    const nights = windows({ allow: '22:00-06:00', timezone: 'Europe/Berlin' });
    // 03:00 UTC on 2026-01-14 is 04:00 CET; the night ends at 06:00 CET = 05:00 UTC.
    const status = statusAt(nights, '2026-01-14T03:00:00Z');
    expect(status.open).toBe(true);
    expect(iso(status.closesAt)).toBe('2026-01-14T05:00:00.000Z');
  });

  it('treats 24:00 as the end of the day, in the window zone, in winter and in summer', () => {
    const noFridays = windows({ deny: 'Fri 15:00-24:00', timezone: 'America/New_York', reason: 'no Friday deploys' });
    // Friday 2026-01-09 15:00 EST is 20:00 UTC; Saturday 00:00 EST is 05:00 UTC.
    const friday = statusAt(noFridays, '2026-01-09T20:00:00Z');
    expect(friday.open).toBe(false);
    expect(friday.message).toBe(
      'denied: no Friday deploys (Fri 15:00-24:00 America/New_York) until 2026-01-10 00:00 America/New_York',
    );
    expect(iso(friday.opensAt)).toBe('2026-01-10T05:00:00.000Z');
    expect(statusAt(noFridays, '2026-01-10T04:59:59Z').open).toBe(false);
    const saturday = statusAt(noFridays, '2026-01-10T05:00:00Z');
    expect(saturday.open).toBe(true);
    expect(saturday.message).toBe('outside every deny window');
    expect(iso(saturday.closesAt)).toBe('2026-01-16T20:00:00.000Z');
    // Friday 2026-07-10 under EDT: 15:00 is 19:00 UTC and midnight is 04:00 UTC.
    expect(statusAt(noFridays, '2026-07-10T18:59:00Z').open).toBe(true);
    expect(iso(statusAt(noFridays, '2026-07-10T19:00:00Z').opensAt)).toBe('2026-07-11T04:00:00.000Z');
  });
});

describe('windowStatus: daylight saving time', () => {
  const weekdays = windows({ allow: 'Mon-Fri 09:00-16:00', timezone: 'Europe/Berlin' });

  it('keeps 09:00 local across the spring change (last Sunday of March 2026)', () => {
    const friday = statusAt(weekdays, '2026-03-27T08:00:00Z'); // 09:00 CET
    expect(friday.open).toBe(true);
    expect(iso(friday.closesAt)).toBe('2026-03-27T15:00:00.000Z');
    expect(statusAt(weekdays, '2026-03-27T07:59:00Z').open).toBe(false);
    // After the change 09:00 CEST is 07:00 UTC.
    expect(iso(statusAt(weekdays, '2026-03-27T15:00:00Z').opensAt)).toBe('2026-03-30T07:00:00.000Z');
    expect(statusAt(weekdays, '2026-03-30T06:59:00Z').open).toBe(false);
    expect(iso(statusAt(weekdays, '2026-03-30T07:00:00Z').closesAt)).toBe('2026-03-30T14:00:00.000Z');
  });

  it('keeps 09:00 local across the autumn change (last Sunday of October 2026)', () => {
    const friday = statusAt(weekdays, '2026-10-23T07:00:00Z'); // 09:00 CEST
    expect(friday.open).toBe(true);
    expect(iso(friday.closesAt)).toBe('2026-10-23T14:00:00.000Z');
    // After the change 09:00 CET is 08:00 UTC.
    expect(iso(statusAt(weekdays, '2026-10-23T14:00:00Z').opensAt)).toBe('2026-10-26T08:00:00.000Z');
    expect(statusAt(weekdays, '2026-10-26T07:30:00Z').open).toBe(false);
    expect(iso(statusAt(weekdays, '2026-10-26T08:00:00Z').closesAt)).toBe('2026-10-26T15:00:00.000Z');
  });

  it('skips Sun 02:00-03:00 on the spring-forward day, when that hour does not exist', () => {
    const skipped = windows({ allow: 'Sun 02:00-03:00', timezone: 'Europe/Berlin' });
    for (const instant of ['2026-03-29T00:30:00Z', '2026-03-29T01:00:00Z', '2026-03-29T01:30:00Z']) {
      expect(statusAt(skipped, instant).open).toBe(false);
    }
    // The next Sunday it runs 02:00-03:00 CEST, which is 00:00-01:00 UTC.
    const saturday = statusAt(skipped, '2026-03-28T12:00:00Z');
    expect(iso(saturday.opensAt)).toBe('2026-04-05T00:00:00.000Z');
    expect(iso(statusAt(skipped, '2026-04-05T00:00:00Z').closesAt)).toBe('2026-04-05T01:00:00.000Z');
  });

  it('starts a window whose start falls in the gap at the first instant after the gap', () => {
    const gap = windows({ allow: 'Sun 02:30-04:00', timezone: 'Europe/Berlin' });
    // 02:30 does not exist on 2026-03-29; 03:00 CEST (01:00 UTC) is the first instant after the gap.
    expect(iso(statusAt(gap, '2026-03-29T00:59:00Z').opensAt)).toBe('2026-03-29T01:00:00.000Z');
    const open = statusAt(gap, '2026-03-29T01:00:00Z');
    expect(open.open).toBe(true);
    expect(iso(open.closesAt)).toBe('2026-03-29T02:00:00.000Z'); // 04:00 CEST
  });

  it('runs Sun 02:00-03:00 for two real hours on the fall-back day, from the first 02:00', () => {
    const repeated = windows({ allow: 'Sun 02:00-03:00', timezone: 'Europe/Berlin' });
    // The first 02:00 is 02:00 CEST = 00:00 UTC; 03:00 comes once, as 03:00 CET = 02:00 UTC.
    expect(iso(statusAt(repeated, '2026-10-24T12:00:00Z').opensAt)).toBe('2026-10-25T00:00:00.000Z');
    const first = statusAt(repeated, '2026-10-25T00:00:00Z');
    expect(first.open).toBe(true);
    expect(iso(first.closesAt)).toBe('2026-10-25T02:00:00.000Z');
    expect(statusAt(repeated, '2026-10-25T01:30:00Z').open).toBe(true); // the second 02:30, CET
    expect(statusAt(repeated, '2026-10-25T02:00:00Z').open).toBe(false);
  });

  it('reads an ambiguous absolute start as its first occurrence', () => {
    const once = windows({ allow: '2026-10-25T02:30 .. 2026-10-25T05:00', timezone: 'Europe/Berlin' });
    const before = statusAt(once, '2026-10-24T00:00:00Z');
    expect(iso(before.opensAt)).toBe('2026-10-25T00:30:00.000Z'); // 02:30 CEST
    expect(iso(statusAt(once, '2026-10-25T00:30:00Z').closesAt)).toBe('2026-10-25T04:00:00.000Z'); // 05:00 CET
  });
});

describe('windowStatus: deny windows', () => {
  const office = { allow: 'Mon-Thu 09:00-16:00', timezone: 'Europe/Berlin' };

  it('lets a freeze beat an allow window, and opens on the next allowed day after it', () => {
    const frozen = windows(office, { deny: '2026-12-20 .. 2027-01-07', reason: 'year-end freeze' });
    // Tuesday 2026-12-22 10:00 CET is inside the allow window, but the freeze wins.
    const status = statusAt(frozen, '2026-12-22T09:00:00Z');
    expect(status.open).toBe(false);
    expect(status.message).toBe('denied: year-end freeze (2026-12-20 .. 2027-01-07 UTC) until 2027-01-08 00:00 UTC');
    // The freeze ends on Friday 2027-01-08; the next allowed day is Monday 2027-01-11, 09:00 CET.
    expect(iso(status.opensAt)).toBe('2027-01-11T08:00:00.000Z');
  });

  it('says when the freeze lifts even when the allow window opens later that day', () => {
    const frozen = windows(office, { deny: '2026-12-20 .. 2027-01-04', reason: 'year-end freeze' });
    const status = statusAt(frozen, '2027-01-04T10:00:00Z'); // Monday, last day of the freeze
    expect(status.message).toBe('denied: year-end freeze (2026-12-20 .. 2027-01-04 UTC) until 2027-01-05 00:00 UTC');
    expect(iso(status.opensAt)).toBe('2027-01-05T08:00:00.000Z'); // Tuesday 09:00 CET
    const after = statusAt(frozen, '2027-01-05T08:00:00Z');
    expect(after.open).toBe(true);
    expect(iso(after.closesAt)).toBe('2027-01-05T15:00:00.000Z');
  });

  it('opens exactly when a freeze ends inside an allow window', () => {
    const migration = windows(office, {
      deny: '2027-01-05T10:00 .. 2027-01-05T11:30',
      timezone: 'Europe/Berlin',
    });
    const status = statusAt(migration, '2027-01-05T09:30:00Z'); // 10:30 CET
    expect(status.open).toBe(false);
    expect(status.message).toBe(
      'denied: inside deny window 2027-01-05T10:00 .. 2027-01-05T11:30 (Europe/Berlin) until 2027-01-05 11:30 Europe/Berlin',
    );
    expect(iso(status.opensAt)).toBe('2027-01-05T10:30:00.000Z');
    // Open before the freeze, closing when it starts.
    expect(iso(statusAt(migration, '2027-01-05T08:00:00Z').closesAt)).toBe('2027-01-05T09:00:00.000Z');
  });

  it('reports the end of touching deny windows as one stretch', () => {
    const weekend = windows({ deny: 'Sat', reason: 'weekend' }, { deny: 'Sun', reason: 'weekend' });
    const saturday = statusAt(weekend, '2026-01-10T12:00:00Z');
    expect(saturday.message).toBe('denied: weekend (Sat UTC) until 2026-01-12 00:00 UTC');
    expect(iso(saturday.opensAt)).toBe('2026-01-12T00:00:00.000Z');
  });
});

describe('windowStatus: no boundary within 400 days', () => {
  it('is open without end when there are no windows', () => {
    const status = windowStatus([], new Date('2026-01-12T08:00:00Z'));
    expect(status).toEqual({ open: true, message: 'no change windows apply', closesAt: undefined });
  });

  it('never opens when every day is denied or the only allow window is past or too far', () => {
    expect(statusAt(windows({ deny: 'Mon-Sun' }), '2026-01-12T08:00:00Z').opensAt).toBeUndefined();
    expect(statusAt(windows({ allow: '2020-01-01 .. 2020-01-02' }), '2026-01-12T08:00:00Z').opensAt).toBeUndefined();
    // 2027-02-20 is 404 days after 2026-01-12; 2027-02-10 is 394 days after.
    expect(statusAt(windows({ allow: '2027-02-20 .. 2027-02-21' }), '2026-01-12T00:00:00Z').opensAt).toBeUndefined();
    expect(iso(statusAt(windows({ allow: '2027-02-10 .. 2027-02-11' }), '2026-01-12T00:00:00Z').opensAt)).toBe(
      '2027-02-10T00:00:00.000Z',
    );
  });

  it('rejects an invalid now', () => {
    expect(() => windowStatus([], new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('windowStatus: boundaries agree with sampled states', () => {
  // Walks a DST week in 10-minute steps and checks that opensAt/closesAt name real state changes:
  // the state holds at every sample before the boundary, flips at it, and held a moment before it.
  const mixed = windows(
    { allow: 'Mon-Fri 09:00-16:00', timezone: 'Europe/Berlin' },
    { allow: 'Sat,Sun 22:00-02:30', timezone: 'America/New_York' },
    { deny: 'Wed 12:00-14:00', timezone: 'Asia/Kolkata', reason: 'standup' },
    { deny: '2026-03-27T15:00 .. 2026-03-30T10:00', timezone: 'Europe/Berlin', reason: 'release' },
  );

  it('holds for every sample from 2026-03-23 to 2026-03-31', () => {
    const step = 10 * 60_000;
    const start = Date.parse('2026-03-23T00:00:00Z');
    const end = Date.parse('2026-03-31T00:00:00Z');
    const samples: { at: number; status: WindowStatus }[] = [];
    for (let at = start; at <= end; at += step) samples.push({ at, status: windowStatus(mixed, new Date(at)) });
    for (const [index, { at, status }] of samples.entries()) {
      const boundary = (status.open ? status.closesAt : status.opensAt)?.getTime();
      expect(boundary).toBeDefined();
      if (boundary === undefined) continue;
      expect(boundary).toBeGreaterThan(at);
      for (const later of samples.slice(index + 1)) {
        if (later.at >= boundary) break;
        expect(later.status.open).toBe(status.open);
      }
      expect(windowStatus(mixed, new Date(boundary)).open).toBe(!status.open);
      expect(windowStatus(mixed, new Date(boundary - 1000)).open).toBe(status.open);
    }
  });

  it('reports no opening when deny windows cover every day of the 400-day horizon', () => {
    const never = windows(
      { allow: 'Mon-Sun 00:00-12:00', timezone: 'Europe/Berlin' },
      { allow: '12:00-24:00', timezone: 'America/New_York' },
      { deny: 'Mon-Sun', timezone: 'Australia/Sydney' },
    );
    const status = windowStatus(never, new Date('2026-01-12T08:00:00Z'));
    expect(status.open).toBe(false);
    expect(status.opensAt).toBeUndefined();
  });
});
