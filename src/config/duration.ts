// Durations as users write them in policy files — `minute`, `90`, `"90s"`, `"10m"`, `"2h"`, `"1d"` —
// normalised to a whole number of seconds, the one unit the limits and approvals code works in.
import { z } from 'zod';
import { unlessMissing } from './problems.js';

const NAMED_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86_400 };
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const DURATION_TEXT = /^(second|minute|hour|day|[1-9]\d*[smhd])$/;

export const DURATION_HELP =
  'expected second, minute, hour, day, a whole number of seconds, or a duration like "90s", "10m", "2h", "1d"';

/** Seconds in a duration written in any accepted form, or undefined when the text is not one. */
export function durationSeconds(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (!DURATION_TEXT.test(value)) return undefined;
  const named = NAMED_SECONDS[value];
  if (named !== undefined) return named;
  return Number(value.slice(0, -1)) * UNIT_SECONDS[value.slice(-1)]!;
}

/** A duration in any accepted form; parses to seconds. */
export const DurationSchema = z
  .union(
    [
      z.string().regex(DURATION_TEXT, { error: DURATION_HELP }),
      z
        .number({ error: unlessMissing(DURATION_HELP) })
        .int({ error: DURATION_HELP })
        .positive({ error: DURATION_HELP }),
    ],
    { error: unlessMissing(DURATION_HELP) },
  )
  .transform((value) => durationSeconds(value)!)
  .meta({ description: DURATION_HELP });
