// One state store interface for every backend (memory, SQLite, later Redis). Its limit operation
// is atomic: the check and the reservation happen as one step, so concurrent calls — and, for
// shared backends, several gateway replicas — can never admit more than the limit.

export interface WindowSpec {
  /** sliding: any interval of `windowMs`; calendar: fixed windows aligned to the epoch (UTC). */
  algorithm: 'sliding' | 'calendar';
  windowMs: number;
  max: number;
  cost: number;
}

export type ReserveResult =
  | { ok: true; token: string }
  | { ok: false; retryAfterMs: number; used: number };

export interface Reservation {
  key: string;
  token: string;
}

export interface StateStore {
  readonly kind: string;
  reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult>;
  /** Gives a reservation back (the upstream call failed). Unknown tokens are ignored. */
  release(reservation: Reservation): Promise<void>;
  /** Whether the store answers; a store that does not blocks calls that need it. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Where the window being checked starts. */
export function windowStart(spec: WindowSpec, now: number): number {
  return spec.algorithm === 'calendar' ? Math.floor(now / spec.windowMs) * spec.windowMs : now - spec.windowMs;
}

/**
 * How long until enough of the window's usage expires to admit `cost` more, given the entries
 * in the window (oldest first).
 */
export function retryAfter(spec: WindowSpec, now: number, entries: { ts: number; cost: number }[], used: number): number {
  if (spec.cost > spec.max) return spec.windowMs;
  if (spec.algorithm === 'calendar') return windowStart(spec, now) + spec.windowMs - now;
  let toFree = used + spec.cost - spec.max;
  for (const e of entries) {
    toFree -= e.cost;
    if (toFree <= 0) return Math.max(1, e.ts + spec.windowMs - now + 1);
  }
  return spec.windowMs;
}
