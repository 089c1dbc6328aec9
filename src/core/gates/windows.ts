/**
 * Change windows for promotion gates (`environments.<env>.gates.windows`): when an environment may be
 * promoted to. Pure: `now` is a parameter, and time-zone math uses only Intl.DateTimeFormat.
 *
 * An environment is open when (there are no allow windows, or `now` is inside one) and `now` is inside
 * no deny window. Every window is wall-clock time in its own zone, so it follows daylight saving time.
 * A local time that a spring-forward skips means the first instant after the gap; a local time that a
 * fall-back repeats means its first occurrence.
 */

export interface WindowInput {
  allow?: string;
  deny?: string;
  timezone?: string;
  reason?: string;
}

/**
 * When a window applies, in local wall time of its zone. Wall times are milliseconds of the local
 * date and time read as if it were UTC, so they are plain numbers and the window stays serialisable.
 */
export type WindowSchedule =
  | {
      form: 'weekly';
      /** ISO weekdays the window starts on: 1 = Monday … 7 = Sunday, ascending. */
      days: number[];
      /** Minutes after local midnight of the start day. */
      startMinute: number;
      /** Minutes after local midnight of the start day; above 1440 when the range crosses midnight. */
      endMinute: number;
    }
  | {
      form: 'absolute';
      startWall: number;
      /** Exclusive. */
      endWall: number;
    };

export interface ParsedWindow {
  kind: 'allow' | 'deny';
  /** The expression as the user wrote it (trimmed). */
  text: string;
  timezone: string;
  reason?: string;
  schedule: WindowSchedule;
}

export type WindowParseResult =
  { ok: true; window: ParsedWindow } | { ok: false; field: 'allow' | 'deny' | 'timezone' | 'window'; message: string };

export interface WindowStatus {
  open: boolean;
  /** One sentence for the terminal, e.g. "inside allow window Mon-Thu 09:00-16:00 (Europe/Berlin)". */
  message: string;
  /** When closed: the next instant it will be open; undefined if not within 400 days. */
  opensAt?: Date;
  /** When open: the next instant it will close; undefined if not within 400 days (e.g. no windows). */
  closesAt?: Date;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const HORIZON_DAYS = 400;
const NEAR_DAYS = 8;

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
const FULL_DAY_NAMES = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
const DAY_HINT = `use ${DAY_NAMES.join(', ')}`;
const EXAMPLES = 'e.g. "Mon-Fri 09:00-16:00" or "2026-12-20 .. 2027-01-04"';

/**
 * Parses one window. Pure; never throws. Errors name the field (`allow`, `deny`, `timezone`, or
 * `window` for the shape of the entry) and say what is wrong in the user's terms.
 */
export function parseWindow(input: WindowInput): WindowParseResult {
  const hasAllow = input.allow !== undefined;
  const hasDeny = input.deny !== undefined;
  if (hasAllow && hasDeny) {
    return { ok: false, field: 'window', message: 'a window has both allow and deny: give exactly one' };
  }
  if (!hasAllow && !hasDeny) {
    return { ok: false, field: 'window', message: 'a window needs allow or deny: give exactly one' };
  }
  const kind = hasAllow ? 'allow' : 'deny';
  const raw: unknown = hasAllow ? input.allow : input.deny;
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { ok: false, field: kind, message: `${kind} needs a window expression, ${EXAMPLES}` };
  }
  const text = raw.trim();

  const zone: unknown = input.timezone ?? 'UTC';
  if (typeof zone !== 'string' || zone.trim() === '') {
    return { ok: false, field: 'timezone', message: 'timezone needs an IANA name such as Europe/Berlin or UTC' };
  }
  const timezone = zone.trim();
  if (!isKnownTimeZone(timezone)) {
    return {
      ok: false,
      field: 'timezone',
      message: `unknown time zone "${timezone}": use an IANA name such as Europe/Berlin or UTC`,
    };
  }

  const schedule = text.includes('..') ? parseAbsolute(text) : parseWeekly(text);
  if (typeof schedule === 'string') return { ok: false, field: kind, message: schedule };

  const window: ParsedWindow = { kind, text, timezone, schedule };
  if (typeof input.reason === 'string' && input.reason.trim() !== '') window.reason = input.reason.trim();
  return { ok: true, window };
}

/**
 * Whether the environment is open at `now`, and until when. Pure. Boundaries are computed from the
 * windows' starts and ends over the next 400 days, not by stepping through time.
 * Throws RangeError for an invalid `now`.
 */
export function windowStatus(windows: readonly ParsedWindow[], now: Date): WindowStatus {
  const at = now.getTime();
  if (Number.isNaN(at)) throw new RangeError('windowStatus needs a valid date for now');
  const clocks = new Map<string, ZoneClock>();
  const clockFor = (timezone: string): ZoneClock => {
    let clock = clocks.get(timezone);
    if (clock === undefined) {
      clock = new ZoneClock(timezone);
      clocks.set(timezone, clock);
    }
    return clock;
  };
  // Most answers lie within days, so a short search comes first and the full one only if needed.
  const near = statusWithin(windows, at, NEAR_DAYS, clockFor);
  return near.settled ? near.status : statusWithin(windows, at, HORIZON_DAYS, clockFor).status;
}

/** The status as far as `days` ahead can tell; `settled` when every boundary it reports was found. */
function statusWithin(
  windows: readonly ParsedWindow[],
  at: number,
  days: number,
  clockFor: (timezone: string) => ZoneClock,
): { status: WindowStatus; settled: boolean } {
  const horizon = at + days * DAY;
  const spans = windows.map((window) => ({
    window,
    intervals: occurrences(window, clockFor(window.timezone), at, horizon),
  }));
  const allows = spans.filter((s) => s.window.kind === 'allow');
  const denies = spans.filter((s) => s.window.kind === 'deny');
  const allowed = allows.length === 0 ? [ALWAYS] : union(allows.flatMap((s) => s.intervals));
  const denied = union(denies.flatMap((s) => s.intervals));
  const open = subtract(allowed, denied);
  // Beyond the horizon occurrences were not generated, so a boundary there is not known.
  let settled = true;
  const known = (instant: number): Date | undefined => {
    if (instant <= horizon) return new Date(instant);
    settled = false;
    return undefined;
  };

  const current = open.find((i) => contains(i, at));
  if (current !== undefined) {
    const inside = allows.find((s) => s.intervals.some((i) => contains(i, at)));
    let message: string;
    if (inside !== undefined) message = `inside allow window ${inside.window.text} (${inside.window.timezone})`;
    else if (windows.length === 0) message = 'no change windows apply';
    else message = 'outside every deny window';
    return { status: { open: true, message, closesAt: known(current.end) }, settled };
  }

  const next = open.find((i) => i.start > at);
  const opensAt = known(next?.start ?? Infinity);
  const denying = denies.find((s) => s.intervals.some((i) => contains(i, at)));
  if (denying !== undefined) {
    const { text, timezone, reason } = denying.window;
    const what = reason === undefined ? `inside deny window ${text} (${timezone})` : `${reason} (${text} ${timezone})`;
    // Until the denial lifts, which may be later than this window's end when deny windows touch.
    const lifts = known(denied.find((i) => contains(i, at))?.end ?? Infinity);
    const until = lifts === undefined ? '' : ` until ${formatInZone(lifts, timezone)}`;
    return { status: { open: false, message: `denied: ${what}${until}`, opensAt }, settled };
  }
  const listed = allows.map((s) => `${s.window.text} ${s.window.timezone}`).join('; ');
  return { status: { open: false, message: `outside the allow windows (${listed})`, opensAt }, settled };
}

/**
 * Renders an instant as local wall time in a zone, to the minute: "2026-12-21 09:00 Europe/Berlin".
 * Pure. Throws RangeError for an unknown zone.
 */
export function formatInZone(instant: Date, timezone: string): string {
  const wall = wallTime(instant.getTime(), timezone);
  return `${new Date(wall).toISOString().slice(0, 16).replace('T', ' ')} ${timezone}`;
}

// ---------------------------------------------------------------------------------------------------
// Parsing

function parseWeekly(text: string): WindowSchedule | string {
  // "Mon - Fri 09:00 - 16:00" reads the same as "Mon-Fri 09:00-16:00".
  const parts = text.replace(/\s*([,-])\s*/g, '$1').split(/\s+/);
  let daysPart: string | undefined;
  let timePart: string | undefined;
  if (parts.length === 1 && /^\d{4}-\d{2}-\d{2}/.test(text)) {
    return `"${text}" is a single date: write a range such as "${text} .. ${text}"`;
  }
  if (parts.length === 1 && /^\d/.test(parts[0] ?? '')) timePart = parts[0];
  else if (parts.length === 1) daysPart = parts[0];
  else if (parts.length === 2 && !/^\d/.test(parts[0] ?? '')) [daysPart, timePart] = parts;
  else return `cannot read "${text}": write days and/or a time range, ${EXAMPLES}`;

  let days = [1, 2, 3, 4, 5, 6, 7];
  if (daysPart !== undefined) {
    const parsed = parseDays(daysPart);
    if (typeof parsed === 'string') return parsed;
    days = parsed;
  }
  let range = { startMinute: 0, endMinute: 24 * 60 };
  if (timePart !== undefined) {
    const parsed = parseTimeRange(timePart);
    if (typeof parsed === 'string') return parsed;
    range = parsed;
  }
  return { form: 'weekly', days, ...range };
}

/** `Mon`, `Mon-Fri`, `Fri-Mon` (wraps), `Mon,Wed,Fri-Sun`; full names too, any case. */
function parseDays(text: string): number[] | string {
  const days = new Set<number>();
  for (const item of text.split(',')) {
    const ends = item.split('-');
    if (ends.length > 2 || ends.some((e) => e === '')) {
      return `bad day list "${text}": write days as Mon, Mon-Fri or Mon,Wed,Fri-Sun`;
    }
    const numbers: number[] = [];
    for (const name of ends) {
      const day = weekdayNumber(name);
      if (day === undefined) {
        const where = name === text ? '' : ` in "${text}"`;
        return `unknown day "${name}"${where}: ${DAY_HINT}`;
      }
      numbers.push(day);
    }
    const [from, to = from] = numbers as [number, number?];
    // A range may wrap past Sunday: Fri-Mon is Fri, Sat, Sun, Mon.
    for (let day = from; ; day = (day % 7) + 1) {
      days.add(day);
      if (day === to) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

function weekdayNumber(name: string): number | undefined {
  const lower = name.toLowerCase();
  const short = DAY_NAMES.findIndex((d) => d.toLowerCase() === lower);
  const index = short >= 0 ? short : FULL_DAY_NAMES.findIndex((d) => d === lower);
  return index >= 0 ? index + 1 : undefined;
}

/** `HH:MM-HH:MM`; an end before the start crosses midnight; `24:00` is allowed as an end. */
function parseTimeRange(text: string): { startMinute: number; endMinute: number } | string {
  const match = /^([^-]+)-([^-]+)$/.exec(text);
  if (match === null) return `bad time range "${text}": write it as HH:MM-HH:MM, e.g. 09:00-16:00`;
  const [, startText = '', endText = ''] = match;
  const start = clockMinutes(startText);
  const end = clockMinutes(endText);
  if (start === undefined) return `bad time "${startText}" in "${text}": use HH:MM from 00:00 to 24:00`;
  if (end === undefined) return `bad time "${endText}" in "${text}": use HH:MM from 00:00 to 24:00`;
  if (start === 24 * 60) return `time range "${text}" starts at 24:00: start at 00:00 instead`;
  if (start === end) return `time range "${text}" is empty: its start and end are the same`;
  return { startMinute: start, endMinute: end > start ? end : end + 24 * 60 };
}

function clockMinutes(text: string): number | undefined {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (match === null) return undefined;
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  if (minutes > 59 || hours > 24 || (hours === 24 && minutes !== 0)) return undefined;
  return hours * 60 + minutes;
}

/** `YYYY-MM-DD .. YYYY-MM-DD` (whole days, inclusive) or `YYYY-MM-DDTHH:MM .. YYYY-MM-DDTHH:MM` (end exclusive). */
function parseAbsolute(text: string): WindowSchedule | string {
  const sides = text.split('..').map((s) => s.trim());
  const [startText = '', endText = ''] = sides;
  if (sides.length !== 2 || startText === '' || endText === '') {
    return `bad date range "${text}": write it as "2026-12-20 .. 2027-01-04" or "2026-12-20T18:00 .. 2027-01-04T08:00"`;
  }
  const start = parseLocalDateTime(startText);
  if (typeof start === 'string') return start;
  const end = parseLocalDateTime(endText);
  if (typeof end === 'string') return end;
  if (start.hasTime !== end.hasTime) {
    return `"${text}" mixes a date and a date with time: use the same form on both sides`;
  }
  if (!start.hasTime) {
    if (end.wall < start.wall) return `"${text}" ends before it starts: the end date ${endText} is before ${startText}`;
    return { form: 'absolute', startWall: start.wall, endWall: end.wall + DAY };
  }
  if (end.wall <= start.wall) return `"${text}" ends before it starts: the end must be after ${startText}`;
  return { form: 'absolute', startWall: start.wall, endWall: end.wall };
}

function parseLocalDateTime(text: string): { wall: number; hasTime: boolean } | string {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?$/.exec(text);
  if (match === null) return `bad date "${text}": use YYYY-MM-DD or YYYY-MM-DDTHH:MM`;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const hasTime = match[4] !== undefined;
  const hours = Number(match[4] ?? 0);
  const minutes = Number(match[5] ?? 0);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return `"${text}" is not a calendar date`;
  }
  if (hours > 23 || minutes > 59) return `bad time in "${text}": use HH:MM from 00:00 to 23:59`;
  return { wall: date.getTime() + (hours * 60 + minutes) * MINUTE, hasTime };
}

function isKnownTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Time-zone math

/** Half-open [start, end) in epoch milliseconds; ±Infinity for unbounded. */
interface Interval {
  start: number;
  end: number;
}

const ALWAYS: Interval = { start: -Infinity, end: Infinity };

// Formatters are costly to build and hold no state, so one per zone is kept for the process.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, formatter);
  }
  return formatter;
}

/** The local wall time of an instant in a zone, to the second, read as UTC milliseconds. */
function wallTime(instant: number, timezone: string): number {
  const field: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const part of formatterFor(timezone).formatToParts(instant)) {
    if (part.type !== 'literal') field[part.type] = Number(part.value);
  }
  const { year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = field;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

/**
 * Converts between instants and wall times of one zone. Built per windowStatus call: it caches one
 * offset per day, which makes converting 400 days of window boundaries cost about one Intl call a day.
 * Assumes offset changes are at least three days apart, which holds for every zone's future rules.
 */
class ZoneClock {
  private readonly dayOffsets = new Map<number, number>();

  constructor(readonly timezone: string) {}

  /** Milliseconds to add to an instant to get its wall time. */
  offsetAt(instant: number): number {
    const second = Math.floor(instant / 1000) * 1000;
    return wallTime(second, this.timezone) - second;
  }

  /** The local date of an instant, as days since 1970-01-01. */
  localDay(instant: number): number {
    return Math.floor((instant + this.offsetAt(instant)) / DAY);
  }

  /**
   * The instant a wall time names. An ambiguous wall time (fall-back) gives its first occurrence; a
   * wall time inside a spring-forward gap gives the first instant after the gap.
   */
  toInstant(wall: number): number {
    const day = Math.floor(wall / DAY);
    // Every reading of `wall` lies between these two instants, whatever the offset (−12 h … +14 h).
    const before = this.offsetOnDay(day - 1);
    const after = this.offsetOnDay(day + 2);
    if (before === after) return wall - before;

    const readings = [wall - before, wall - after].sort((a, b) => a - b);
    for (const instant of readings) {
      if (instant + this.offsetAt(instant) === wall) return instant;
    }
    if (after < before) return wall - before; // not reached: a fall-back repeats times, it skips none
    // In the gap: the transition itself is the first instant after it. Search it to the second
    // between a reading with the old offset (before the transition) and one with the new (after).
    let low = wall - after;
    let high = wall - before;
    while (high - low > 1000) {
      const middle = low + Math.floor((high - low) / 2000) * 1000;
      if (this.offsetAt(middle) === before) low = middle;
      else high = middle;
    }
    return high;
  }

  private offsetOnDay(day: number): number {
    let offset = this.dayOffsets.get(day);
    if (offset === undefined) {
      offset = this.offsetAt(day * DAY);
      this.dayOffsets.set(day, offset);
    }
    return offset;
  }
}

/** 1 = Monday … 7 = Sunday, for a local date given as days since 1970-01-01 (a Thursday). */
function isoWeekday(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

/** The window's intervals that can matter between `from` and `to`, in time order. */
function occurrences(window: ParsedWindow, clock: ZoneClock, from: number, to: number): Interval[] {
  const schedule = window.schedule;
  if (schedule.form === 'absolute') {
    const interval = { start: clock.toInstant(schedule.startWall), end: clock.toInstant(schedule.endWall) };
    return interval.end > interval.start ? [interval] : [];
  }
  const intervals: Interval[] = [];
  // From the day before `from`: an occurrence that started yesterday may cross midnight into today.
  const last = clock.localDay(to) + 1;
  for (let day = clock.localDay(from) - 1; day <= last; day++) {
    if (!schedule.days.includes(isoWeekday(day))) continue;
    const start = clock.toInstant(day * DAY + schedule.startMinute * MINUTE);
    const end = clock.toInstant(day * DAY + schedule.endMinute * MINUTE);
    // A range that lies wholly in a spring-forward gap is empty that day.
    if (end > start) intervals.push({ start, end });
  }
  return intervals;
}

function contains(interval: Interval, instant: number): boolean {
  return interval.start <= instant && instant < interval.end;
}

/** Sorted, disjoint intervals covering the same instants; touching intervals are joined. */
function union(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const merged: Interval[] = [];
  for (const interval of sorted) {
    const previous = merged.at(-1);
    if (previous !== undefined && interval.start <= previous.end) previous.end = Math.max(previous.end, interval.end);
    else merged.push({ ...interval });
  }
  return merged;
}

/** `base` minus `cuts`; both sorted and disjoint. */
function subtract(base: readonly Interval[], cuts: readonly Interval[]): Interval[] {
  const result: Interval[] = [];
  let first = 0;
  for (const interval of base) {
    let start = interval.start;
    while (first < cuts.length && (cuts[first]?.end ?? Infinity) <= start) first++;
    for (let k = first; k < cuts.length; k++) {
      const cut = cuts[k];
      if (cut === undefined || cut.start >= interval.end) break;
      if (cut.start > start) result.push({ start, end: cut.start });
      start = Math.max(start, cut.end);
    }
    if (start < interval.end) result.push({ start, end: interval.end });
  }
  return result;
}
