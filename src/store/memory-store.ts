// The in-process store: exact and atomic because each operation runs to completion without
// yielding. For one gateway process; state is lost on restart.
import { randomUUID } from 'node:crypto';
import { retryAfter, windowStart, type Reservation, type ReserveResult, type StateStore, type WindowSpec } from './store.js';

interface Entry {
  ts: number;
  cost: number;
  token: string;
}

export class MemoryStore implements StateStore {
  readonly kind = 'memory';
  private readonly windows = new Map<string, { entries: Entry[]; retainMs: number }>();

  async reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult> {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { entries: [], retainMs: spec.windowMs }));
    // Counters shared by limits of different windows keep what the longest one needs.
    w.retainMs = Math.max(w.retainMs, spec.windowMs);
    const horizon = now - w.retainMs;
    let drop = 0;
    while (drop < w.entries.length && w.entries[drop]!.ts <= horizon) drop++;
    if (drop > 0) w.entries.splice(0, drop);
    const since = windowStart(spec, now);
    const inWindow = w.entries.filter((e) => (spec.algorithm === 'calendar' ? e.ts >= since : e.ts > since));
    const used = inWindow.reduce((s, e) => s + e.cost, 0);
    if (used + spec.cost > spec.max) return { ok: false, used, retryAfterMs: retryAfter(spec, now, inWindow, used) };
    const token = randomUUID();
    w.entries.push({ ts: now, cost: spec.cost, token });
    return { ok: true, token };
  }

  async release(r: Reservation): Promise<void> {
    const w = this.windows.get(r.key);
    if (!w) return;
    const i = w.entries.findIndex((e) => e.token === r.token);
    if (i >= 0) w.entries.splice(i, 1);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}
