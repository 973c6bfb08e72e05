// `--since 1h`, `since=2026-03-02T10:00:00Z`: a point in time written either as how long ago (any
// duration the policy file accepts) or as an ISO 8601 date, for the CLI and the admin API alike.
import { durationSeconds } from '../config/duration.js';

export const TIME_BOUND_HELP =
  'expected a duration ago like 90s, 10m, 1h, 7d, or an ISO 8601 time like 2026-03-02T10:00:00Z';

/** Milliseconds since the epoch, or undefined when the text is neither form. */
export function parseTimeBound(text: string, now: number): number | undefined {
  const trimmed = text.trim();
  const seconds = durationSeconds(/^\d+$/.test(trimmed) ? Number(trimmed) : trimmed);
  if (seconds !== undefined) return now - seconds * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed)) return undefined;
  const time = Date.parse(trimmed);
  return Number.isNaN(time) ? undefined : time;
}
