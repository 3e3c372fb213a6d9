// The maintenance window: pure functions over luxon, which carries the IANA time-zone database, so
// "Tue-Thu 22:00-02:00 America/New_York" means the same thing on every machine, across DST changes.
import { DateTime, IANAZone } from "luxon";

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A weekly maintenance window. A window whose end is not after its start runs past midnight. */
export interface MaintenanceWindow {
  /** Days on which the window opens (a window past midnight belongs to the day it opens). */
  readonly days: readonly Weekday[];
  /** Opening time, `HH:MM`, in `timeZone`. */
  readonly start: string;
  /** Closing time, `HH:MM`, in `timeZone`. */
  readonly end: string;
  /** IANA time zone, e.g. `America/New_York`. */
  readonly timeZone: string;
}

/** Where `now` falls relative to the window. */
export interface WindowVerdict {
  readonly open: boolean;
  /** The window `now` is in (when open) or the next one (when closed), as ISO times in the zone. */
  readonly opensAt: string;
  readonly closesAt: string;
  /** Minutes left in the window when open; minutes until it opens when closed. */
  readonly minutes: number;
  /** One sentence for logs and the report. */
  readonly summary: string;
}

function parseClock(value: string, field: string): { hour: number; minute: number } {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value);
  if (!match)
    throw new Error(
      `maintenance window ${field} ${JSON.stringify(value)} is not a time; use HH:MM, e.g. "22:00"`,
    );
  return { hour: Number(match[1]), minute: Number(match[2]) };
}

/** One problem with a window definition: the field and a message naming the value and the fix. */
export interface WindowIssue {
  readonly field: keyof MaintenanceWindow;
  readonly message: string;
}

/** Problems with a window definition, by field. */
export function windowIssues(window: MaintenanceWindow): WindowIssue[] {
  const issues: WindowIssue[] = [];
  if (!IANAZone.isValidZone(window.timeZone)) {
    issues.push({
      field: "timeZone",
      message: `timeZone ${JSON.stringify(window.timeZone)} is not an IANA time zone; use a name such as "America/New_York" or "Asia/Bangkok"`,
    });
  }
  for (const field of ["start", "end"] as const) {
    try {
      parseClock(window[field], field);
    } catch (err) {
      issues.push({ field, message: (err as Error).message });
    }
  }
  if (window.days.length === 0) {
    issues.push({
      field: "days",
      message: `days is empty; list the weekdays the window opens, e.g. ["tue", "wed"]`,
    });
  }
  if (window.start === window.end) {
    issues.push({ field: "end", message: `start and end are both ${window.start}; a window needs a length` });
  }
  return issues;
}

/** Problems with a window definition, each naming the field, the value and the fix. */
export function windowProblems(window: MaintenanceWindow): string[] {
  return windowIssues(window).map((issue) => issue.message);
}

/** Opening and closing times of the window that opens on the day of `day` (in the zone). */
function windowOn(day: DateTime, window: MaintenanceWindow): { opens: DateTime; closes: DateTime } {
  const start = parseClock(window.start, "start");
  const end = parseClock(window.end, "end");
  const opens = day.set({ hour: start.hour, minute: start.minute, second: 0, millisecond: 0 });
  let closes = day.set({ hour: end.hour, minute: end.minute, second: 0, millisecond: 0 });
  if (closes <= opens) closes = closes.plus({ days: 1 });
  return { opens, closes };
}

/** Is `now` inside the window? Also tells when the current or next window opens and closes. */
export function evaluateWindow(window: MaintenanceWindow, now: Date): WindowVerdict {
  const problems = windowProblems(window);
  if (problems.length > 0) throw new Error(`invalid maintenance window: ${problems.join("; ")}`);
  const local = DateTime.fromJSDate(now, { zone: window.timeZone });
  const days = new Set(window.days);
  const fmt = (t: DateTime) => t.toISO({ suppressMilliseconds: true })!;
  const describe = `${window.days.join(",")} ${window.start}-${window.end} ${window.timeZone}`;
  // Yesterday's window may still be open past midnight; otherwise look ahead up to a week.
  for (let offset = -1; offset <= 7; offset++) {
    const day = local.startOf("day").plus({ days: offset });
    if (!days.has(WEEKDAYS[day.weekday - 1])) continue;
    const { opens, closes } = windowOn(day, window);
    if (local >= opens && local < closes) {
      const minutes = Math.floor(closes.diff(local, "minutes").minutes);
      return {
        open: true,
        opensAt: fmt(opens),
        closesAt: fmt(closes),
        minutes,
        summary: `inside the maintenance window (${describe}); it closes at ${fmt(closes)}, in ${minutes} min`,
      };
    }
    if (opens > local) {
      const minutes = Math.ceil(opens.diff(local, "minutes").minutes);
      return {
        open: false,
        opensAt: fmt(opens),
        closesAt: fmt(closes),
        minutes,
        summary:
          `outside the maintenance window (${describe}): it is now ${fmt(local)}; ` +
          `the next window opens at ${fmt(opens)}, in ${minutes} min`,
      };
    }
  }
  // Unreachable with a non-empty day list: some listed day opens within the next 7 days.
  throw new Error(`no maintenance window found within a week for ${describe}`);
}
