// The in-process store: exact and atomic because each operation runs to completion without
// yielding. For one gateway process; state is lost on restart.
import { randomUUID } from 'node:crypto';
import type { Pin } from '../catalog/pins.js';
import {
  admit,
  relevantSpan,
  retention,
  usedAt,
  type Reservation,
  type ReserveResult,
  type StateStore,
  type WindowSpec,
} from './store.js';

interface Entry {
  ts: number;
  cost: number;
  token: string;
}

export class MemoryStore implements StateStore {
  readonly kind = 'memory';
  /** Entries per counter, kept sorted by time. */
  private readonly windows = new Map<string, { entries: Entry[]; retainMs: number }>();

  async reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult> {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { entries: [], retainMs: retention(spec.windowMs) }));
    // Counters shared by limits of different windows keep what the longest one needs.
    w.retainMs = Math.max(w.retainMs, retention(spec.windowMs));
    const newest = w.entries[w.entries.length - 1]?.ts;
    const horizon = Math.max(newest ?? now, now) - w.retainMs;
    let drop = 0;
    while (drop < w.entries.length && w.entries[drop]!.ts <= horizon) drop++;
    if (drop > 0) w.entries.splice(0, drop);
    const { from, to } = relevantSpan(spec, now);
    const inSpan = w.entries.filter((e) => e.ts >= from && e.ts < to);
    // In time order the window (from, now] is all there is to check; see admit() for the rest.
    const inOrder = newest === undefined || newest <= now;
    const quick =
      inOrder && spec.cost <= spec.max && inSpan.reduce((sum, e) => sum + e.cost, 0) + spec.cost <= spec.max;
    if (!quick) {
      const verdict = admit(spec, now, inSpan, newest);
      if (!verdict.ok) return verdict;
    }
    const token = randomUUID();
    const at = w.entries.findIndex((e) => e.ts > now);
    w.entries.splice(at < 0 ? w.entries.length : at, 0, { ts: now, cost: spec.cost, token });
    return { ok: true, token };
  }

  async usage(key: string, spec: WindowSpec, now: number): Promise<number> {
    const { from, to } = relevantSpan(spec, now);
    const entries = this.windows.get(key)?.entries ?? [];
    return usedAt(
      spec,
      now,
      entries.filter((e) => e.ts >= from && e.ts < to),
    );
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
