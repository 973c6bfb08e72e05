// One state store interface for every backend (memory, SQLite, later Redis). Its limit operation
// is atomic: the check and the reservation happen as one step, so concurrent calls — and, for
// shared backends, several gateway replicas — can never admit more than the limit.

import type { Approval, ApprovalFilter, ApprovalPatch } from '../approvals/approval.js';
import type { Pin } from '../catalog/pins.js';
import type { StoredGrant } from '../identity/stored-grant.js';

export interface WindowSpec {
  /** sliding: any interval of `windowMs`; calendar: fixed windows aligned to the epoch (UTC). */
  algorithm: 'sliding' | 'calendar';
  windowMs: number;
  max: number;
  cost: number;
  /**
   * The longest window of any limit that counts on this counter (limits naming the same counter
   * share it): the counter keeps entries that long, even before that limit's first call, so a
   * short window does not prune what a long one must still see.
   */
  longestWindowMs?: number;
  /**
   * The windows of the call's other limits that name the same counter: one entry of `cost` is
   * taken only if it fits in every one of them too, all in the same atomic step. Checked one after
   * another, each call's entry would already be in the counter when the next limit looked, and a
   * burst over the tightest max would see every call refused.
   */
  also?: WindowCheck[];
}

/** A further window an entry must fit in (see WindowSpec.also). */
export type WindowCheck = Pick<WindowSpec, 'algorithm' | 'windowMs' | 'max'>;

/** The windows a reservation must fit in: its own and those it carries, each with its cost. */
export function windowsOf(spec: WindowSpec): WindowSpec[] {
  return [spec, ...(spec.also ?? []).map((w) => ({ ...w, cost: spec.cost }))];
}

export type ReserveResult = { ok: true; token: string } | { ok: false; retryAfterMs: number; used: number };

/** One counter of a reservation that takes several at once (StateStore.reserveAll). */
export interface CounterReservation {
  key: string;
  spec: WindowSpec;
}

/**
 * What reserveAll answers: a token per counter, in the order given; or which counter refused the
 * call (its index), with that counter's answer, and nothing taken on any of them.
 */
export type ReserveAllResult =
  { ok: true; tokens: string[] } | { ok: false; index: number; retryAfterMs: number; used: number };

export interface Reservation {
  key: string;
  token: string;
}

export interface StateStore {
  readonly kind: string;
  reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult>;
  /**
   * One entry on each of several counters (distinct keys), in one atomic step: every counter admits
   * the call and each takes its entry, or none takes anything. Reserved one counter after another,
   * a call refused by a later counter would hold quota on the earlier ones until given back, and
   * other calls (in any process sharing the store) could be refused for it meanwhile.
   */
  reserveAll(counters: CounterReservation[], now: number): Promise<ReserveAllResult>;
  /**
   * What the counter already holds against a call at `now`, without reserving anything (see
   * usedAt); `spec.max` and `spec.cost` are not used. For `policy explain`.
   */
  usage(key: string, spec: WindowSpec, now: number): Promise<number>;
  /** Gives a reservation back (the upstream call failed). Unknown tokens are ignored. */
  release(reservation: Reservation): Promise<void>;
  getPin(server: string, tool: string): Promise<Pin | undefined>;
  /** Creates or replaces a tool's pin. */
  putPin(pin: Pin): Promise<void>;
  listPins(server?: string): Promise<Pin[]>;
  createApproval(approval: Approval): Promise<void>;
  getApproval(id: string): Promise<Approval | undefined>;
  /** Newest first. */
  listApprovals(filter?: ApprovalFilter): Promise<Approval[]>;
  /**
   * Moves an approval to a new status in one atomic step, only if its status is one of `from`;
   * resolves with the updated approval, or undefined when it was not (someone answered first).
   */
  transitionApproval(id: string, from: Approval['status'][], patch: ApprovalPatch): Promise<Approval | undefined>;
  /**
   * Calls back with every approval created or changed — by this process or by any other sharing
   * the store (the CLI, another replica) — so a held call is released wherever it was answered.
   */
  watchApprovals(listener: (approval: Approval) => void): () => void;
  /** Stores a new grant; false when a grant of that name exists (revoked ones included). */
  createGrant(grant: StoredGrant): Promise<boolean>;
  grantByTokenHash(hash: string): Promise<StoredGrant | undefined>;
  listGrants(): Promise<StoredGrant[]>;
  /** Marks a grant revoked; false when there is no such grant, or it was revoked already. */
  revokeGrant(name: string, at: number): Promise<boolean>;
  /**
   * Marks `id` used, once: true the first time, false while an earlier claim of it has not expired
   * (`ttlMs` after it was made). Atomic across every process sharing the store, so of several
   * replicas presenting the same id at once exactly one gets true. For single-use tokens (the
   * gateway's `requestState`).
   */
  claimOnce(id: string, ttlMs: number, now: number): Promise<boolean>;
  /** Whether the store answers; a store that does not blocks calls that need it. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * reserveAll checks every counter before any takes its entry, so a key given twice would be checked
 * without the other entry: the caller merges limits that name one counter (WindowSpec.also) first.
 */
export function assertDistinctCounters(counters: CounterReservation[]): void {
  if (counters.length > 1 && new Set(counters.map((c) => c.key)).size !== counters.length)
    throw new Error('reserveAll: each counter may be given once (merge the limits of one counter with `also`)');
}

/** A single reservation's answer from reserveAll's. */
export function oneOf(r: ReserveAllResult): ReserveResult {
  return r.ok ? { ok: true, token: r.tokens[0]! } : { ok: false, retryAfterMs: r.retryAfterMs, used: r.used };
}

/** Where the window being checked starts (sliding: exclusive; calendar: inclusive). */
export function windowStart(spec: WindowSpec, now: number): number {
  return spec.algorithm === 'calendar' ? Math.floor(now / spec.windowMs) * spec.windowMs : now - spec.windowMs;
}

/** The span of timestamps that can matter for a call at `now`: [from, to). */
export function relevantSpan(spec: WindowSpec, now: number): { from: number; to: number } {
  if (spec.algorithm === 'calendar') {
    const start = windowStart(spec, now);
    return { from: start, to: start + spec.windowMs };
  }
  return { from: now - spec.windowMs + 1, to: now + spec.windowMs };
}

/** How far back entries must be kept, relative to the newest one seen. */
export function retention(windowMs: number): number {
  return 2 * windowMs;
}

/**
 * How often a store drops a counter's entries past its retention: they are outside every span a
 * check reads, and dropping them at every check would rewrite the oldest of them (pages in SQLite,
 * the array in memory) at every call.
 */
export const PRUNE_EVERY_MS = 1000;

/** How long a counter keeps its entries for a check with `spec` (see WindowSpec.longestWindowMs). */
export function retentionFor(spec: WindowSpec): number {
  return retention(Math.max(spec.windowMs, spec.longestWindowMs ?? 0));
}

/**
 * The admission rule every store applies inside its atomic step. `entries` are the counter's
 * entries within `relevantSpan` (oldest first) and `newest` its newest timestamp overall.
 *
 * Calls need not arrive in time order (clocks step back; replicas differ): a call is admitted only
 * if every window of the limit's length that contains it stays within `max` — the windows ending
 * at the call and those ending at each later entry. A call stamped more than one window before the
 * newest entry cannot be checked against what was already pruned, so it is refused (fail closed)
 * until the clock catches up.
 */
export function admit(
  spec: WindowSpec,
  now: number,
  entries: { ts: number; cost: number }[],
  newest: number | undefined,
): { ok: true } | { ok: false; retryAfterMs: number; used: number } {
  if (spec.cost > spec.max) return { ok: false, used: 0, retryAfterMs: spec.windowMs };
  if (newest !== undefined && now < newest - spec.windowMs)
    return { ok: false, used: 0, retryAfterMs: newest - spec.windowMs - now + 1 };
  if (spec.algorithm === 'calendar') {
    const used = entries.reduce((sum, e) => sum + e.cost, 0);
    if (used + spec.cost <= spec.max) return { ok: true };
    return { ok: false, used, retryAfterMs: windowStart(spec, now) + spec.windowMs - now };
  }
  const sumIn = (end: number) =>
    entries.reduce((sum, e) => (e.ts > end - spec.windowMs && e.ts <= end ? sum + e.cost : sum), 0);
  const ends = [now, ...entries.filter((e) => e.ts > now).map((e) => e.ts)];
  let worst = 0;
  for (const end of ends) worst = Math.max(worst, sumIn(end));
  if (worst + spec.cost <= spec.max) return { ok: true };
  // Wait until enough of what precedes the call has left its window.
  const before = entries.filter((e) => e.ts <= now);
  let toFree = worst + spec.cost - spec.max;
  for (const e of before) {
    toFree -= e.cost;
    if (toFree <= 0) return { ok: false, used: worst, retryAfterMs: Math.max(1, e.ts + spec.windowMs - now + 1) };
  }
  return { ok: false, used: worst, retryAfterMs: spec.windowMs };
}

/**
 * The units `admit` weighs a call at `now` against, read-only: for calendar windows what the current
 * window holds; for sliding windows the most that any window of the limit's length containing the
 * call holds (the windows ending at the call and at each later entry). A call of cost `c` is admitted
 * when `usedAt + c <= max` (and `c <= max`, and the call is not stamped a window before the newest).
 */
export function usedAt(spec: WindowSpec, now: number, entries: { ts: number; cost: number }[]): number {
  if (spec.algorithm === 'calendar') return entries.reduce((sum, e) => sum + e.cost, 0);
  const sumIn = (end: number) =>
    entries.reduce((sum, e) => (e.ts > end - spec.windowMs && e.ts <= end ? sum + e.cost : sum), 0);
  return Math.max(0, ...[now, ...entries.filter((e) => e.ts > now).map((e) => e.ts)].map(sumIn));
}
