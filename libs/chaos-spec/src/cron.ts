import { Cron } from 'croner';
import { parseDuration } from './duration.ts';

/** A parsed Schedule expression: gives the run after a moment. */
export interface CronSchedule {
  readonly expression: string;
  /** The first run strictly after `from`, or undefined when there is none. */
  next(from: Date): Date | undefined;
}

/**
 * Parses a Chaos Mesh schedule (robfig/cron v3 syntax): five fields, or six with seconds first; the
 * descriptors `@yearly @annually @monthly @weekly @daily @midnight @hourly`; `@every <Go duration>`; each
 * optionally after a `CRON_TZ=<zone>` or `TZ=<zone>` prefix.
 * Throws with the reason when it is not valid.
 */
export function parseSchedule(expression: string): CronSchedule {
  let text = expression.trim();
  // robfig/cron v3 (parser.go, Parse): a leading `CRON_TZ=<zone>` or `TZ=<zone>` sets the time zone of the
  // fields; the zone must be an IANA name (time.LoadLocation).
  let timezone: string | undefined;
  const tz = /^(?:CRON_TZ|TZ)=(\S*)(?:\s+|$)/.exec(text);
  if (tz) {
    timezone = tz[1]!;
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      throw new Error(
        `"${expression}": ${JSON.stringify(timezone)} is not a time zone: use an IANA name such as UTC or Europe/Paris`,
      );
    }
    text = text.slice(tz[0].length).trim();
    if (text === '')
      throw new Error(`"${expression}": a schedule must follow the time zone, e.g. CRON_TZ=UTC 0 6 * * *`);
  }
  if (text.startsWith('@every')) {
    const spec = text.slice('@every'.length).trim();
    const ms = parseDuration(spec);
    if (ms === undefined || ms < 1000) {
      throw new Error(`"@every ${spec}": the interval must be a Go duration of at least 1s, such as @every 2m`);
    }
    return { expression: expression.trim(), next: (from) => new Date(from.getTime() + ms) };
  }
  const aliased = text === '@midnight' ? '@daily' : text === '@annually' ? '@yearly' : text;
  const fields = aliased.split(/\s+/).length;
  if (!aliased.startsWith('@') && fields !== 5 && fields !== 6) {
    throw new Error(
      `"${text}" has ${fields} fields; expected 5 (minute hour day-of-month month day-of-week), 6 (with seconds first) or a descriptor such as @hourly or @every 30m`,
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(aliased, { paused: true, legacyMode: true, ...(timezone ? { timezone } : {}) });
  } catch (error) {
    throw new Error(`"${text}" is not a valid cron expression: ${(error as Error).message}`);
  }
  return { expression: expression.trim(), next: (from) => cron.nextRun(from) ?? undefined };
}

/** The next `n` run times after `from`. */
export function nextRuns(expression: string, from: Date, n: number): Date[] {
  const s = parseSchedule(expression);
  const out: Date[] = [];
  let t: Date | undefined = from;
  while (out.length < n && t) {
    t = s.next(t);
    if (t) out.push(t);
  }
  return out;
}
