// The in-process store: exact and atomic because each operation runs to completion without
// yielding. For one gateway process; state is lost on restart.
import { randomUUID } from 'node:crypto';
import type { Approval, ApprovalFilter, ApprovalPatch } from '../approvals/approval.js';
import { matchesApproval } from '../approvals/filter.js';
import type { Pin } from '../catalog/pins.js';
import type { StoredGrant } from '../identity/stored-grant.js';
import {
  admit,
  assertDistinctCounters,
  oneOf,
  PRUNE_EVERY_MS,
  windowsOf,
  relevantSpan,
  retentionFor,
  usedAt,
  type CounterReservation,
  type Reservation,
  type ReserveAllResult,
  type ReserveResult,
  type StateStore,
  type WindowSpec,
} from './store.js';

/**
 * The index of the first entry at or after `ts` (entries sorted by time), or with `after`, the first
 * entry after it; the length if there is none.
 */
function indexByTime(entries: Entry[], ts: number, after = false): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid]!.ts;
    if (e < ts || (after && e === ts)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How often expired single-use claims are dropped. */
const CLAIM_PRUNE_EVERY_MS = 60_000;

interface Entry {
  ts: number;
  cost: number;
  token: string;
}

export class MemoryStore implements StateStore {
  readonly kind = 'memory';
  /**
   * Entries per counter, kept sorted by time, and the cutoff they were last pruned to. Every lookup
   * by time is a binary search: a busy counter (a limit in total, at thousands of calls a minute)
   * holds thousands of entries, and this store runs on the gateway's thread.
   */
  private readonly windows = new Map<string, { entries: Entry[]; retainMs: number; prunedTo: number }>();

  async reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult> {
    return oneOf(await this.reserveAll([{ key, spec }], now));
  }

  async reserveAll(counters: CounterReservation[], now: number): Promise<ReserveAllResult> {
    assertDistinctCounters(counters);
    // Every counter is checked before any takes its entry: nothing runs in between (no await), so
    // the step is atomic, and a refusal leaves every counter as it was.
    const found: Entry[][] = [];
    for (const [index, { key, spec }] of counters.entries()) {
      const checked = this.check(key, spec, now);
      if (!Array.isArray(checked)) return { ok: false, index, ...checked };
      found.push(checked);
    }
    const tokens = counters.map(({ spec }, i) => {
      const entries = found[i]!;
      const token = randomUUID();
      entries.splice(indexByTime(entries, now, true), 0, { ts: now, cost: spec.cost, token });
      return token;
    });
    return { ok: true, tokens };
  }

  /** The counter's entries when an entry of `spec.cost` at `now` fits in every window; else why not. */
  private check(key: string, spec: WindowSpec, now: number): Entry[] | { retryAfterMs: number; used: number } {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { entries: [], retainMs: retentionFor(spec), prunedTo: -Infinity }));
    // Counters shared by limits of different windows keep what the longest one needs.
    w.retainMs = Math.max(w.retainMs, retentionFor(spec));
    const newest = w.entries[w.entries.length - 1]?.ts;
    // Pruned back from the newest entry, not from this call's time: a call this one is later than
    // may still be refused, and a call after it that is within a window of the newest entry must
    // still see everything a window before it (see retention()); at most once per PRUNE_EVERY_MS.
    if (newest !== undefined && newest - w.retainMs - w.prunedTo >= PRUNE_EVERY_MS) {
      w.prunedTo = newest - w.retainMs;
      const drop = indexByTime(w.entries, w.prunedTo, true);
      if (drop > 0) w.entries.splice(0, drop);
    }
    const entries = w.entries;
    // In time order every entry is at or before the call, so its window's span ends with the array.
    const inOrder = newest === undefined || newest <= now;
    for (const window of windowsOf(spec)) {
      const { from, to } = relevantSpan(window, now);
      const start = indexByTime(entries, from);
      if (inOrder && window.cost <= window.max) {
        let used = 0;
        for (let i = start; i < entries.length; i++) used += entries[i]!.cost;
        if (used + window.cost <= window.max) continue;
      }
      // Out of order, or refused: the full rule; see admit().
      const verdict = admit(window, now, entries.slice(start, indexByTime(entries, to)), newest);
      if (!verdict.ok) return { retryAfterMs: verdict.retryAfterMs, used: verdict.used };
    }
    return entries;
  }

  async usage(key: string, spec: WindowSpec, now: number): Promise<number> {
    const { from, to } = relevantSpan(spec, now);
    const entries = this.windows.get(key)?.entries ?? [];
    return usedAt(spec, now, entries.slice(indexByTime(entries, from), indexByTime(entries, to)));
  }

  private readonly pins = new Map<string, Pin>();

  async getPin(server: string, tool: string): Promise<Pin | undefined> {
    return this.pins.get(`${server}\0${tool}`);
  }

  async putPin(pin: Pin): Promise<void> {
    this.pins.set(`${pin.server}\0${pin.tool}`, pin);
  }

  async listPins(server?: string): Promise<Pin[]> {
    return [...this.pins.values()].filter((p) => server === undefined || p.server === server);
  }

  private readonly grants = new Map<string, StoredGrant>();

  async createGrant(g: StoredGrant): Promise<boolean> {
    if (this.grants.has(g.name)) return false;
    this.grants.set(g.name, { ...g });
    return true;
  }

  async grantByTokenHash(hash: string): Promise<StoredGrant | undefined> {
    for (const g of this.grants.values()) if (g.token_hash === hash) return { ...g };
    return undefined;
  }

  async listGrants(): Promise<StoredGrant[]> {
    return [...this.grants.values()].sort((a, b) => a.name.localeCompare(b.name)).map((g) => ({ ...g }));
  }

  async revokeGrant(name: string, at: number): Promise<boolean> {
    const g = this.grants.get(name);
    if (!g || g.revoked !== undefined) return false;
    g.revoked = at;
    return true;
  }

  private readonly approvals = new Map<string, Approval>();
  private readonly approvalListeners = new Set<(a: Approval) => void>();

  async createApproval(a: Approval): Promise<void> {
    this.approvals.set(a.id, { ...a });
    this.announce(a);
  }

  async getApproval(id: string): Promise<Approval | undefined> {
    const a = this.approvals.get(id);
    return a ? { ...a } : undefined;
  }

  async listApprovals(filter: ApprovalFilter = {}): Promise<Approval[]> {
    return [...this.approvals.values()]
      .filter((a) => matchesApproval(a, filter))
      .sort((x, y) => y.created - x.created)
      .slice(0, filter.limit ?? 100)
      .map((a) => ({ ...a }));
  }

  async transitionApproval(
    id: string,
    from: Approval['status'][],
    patch: ApprovalPatch,
  ): Promise<Approval | undefined> {
    const a = this.approvals.get(id);
    if (!a || !from.includes(a.status)) return undefined;
    Object.assign(a, patch);
    this.announce(a);
    return { ...a };
  }

  watchApprovals(listener: (a: Approval) => void): () => void {
    this.approvalListeners.add(listener);
    return () => this.approvalListeners.delete(listener);
  }

  private announce(a: Approval): void {
    const copy = { ...a };
    // After the write has returned to its caller, as a store shared between processes would.
    queueMicrotask(() => {
      for (const l of this.approvalListeners) l(copy);
    });
  }

  async release(r: Reservation): Promise<void> {
    const w = this.windows.get(r.key);
    if (!w) return;
    const i = w.entries.findIndex((e) => e.token === r.token);
    if (i >= 0) w.entries.splice(i, 1);
  }

  /** Claimed ids and when each claim expires, in the order they were claimed. */
  private readonly claims = new Map<string, number>();
  private claimsPrunedAt = 0;

  async claimOnce(id: string, ttlMs: number, now: number): Promise<boolean> {
    // Expired claims are dropped at most once per CLAIM_PRUNE_EVERY_MS (and whenever the clock
    // steps back), so the map holds at most what was claimed within the longest ttl and a bit.
    if (now - this.claimsPrunedAt >= CLAIM_PRUNE_EVERY_MS || now < this.claimsPrunedAt) {
      this.claimsPrunedAt = now;
      for (const [k, expires] of this.claims) if (expires <= now) this.claims.delete(k);
    }
    const expires = this.claims.get(id);
    if (expires !== undefined && expires > now) return false;
    this.claims.delete(id);
    this.claims.set(id, now + ttlMs);
    return true;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.windows.clear();
    this.claims.clear();
    this.approvalListeners.clear();
  }
}
