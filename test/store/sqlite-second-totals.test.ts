// The SQLite store sums an in-order window from per-second totals kept by triggers. This proves
// that the totals agree with the entries: in a file written before they existed (filled in once, at
// open), through releases and pruning; and where fractional costs make a total drift, the entries decide.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { WindowSpec } from '../../src/store/store.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-seconds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sliding = (max: number, cost = 1): WindowSpec => ({ algorithm: 'sliding', windowMs: MINUTE, max, cost });

describe('sqlite per-second totals', () => {
  it('a file written before the totals existed counts its entries after the upgrade', async () => {
    const file = path.join(dir, 'old.db');
    const old = new Database(file);
    old.exec(
      'CREATE TABLE limit_events (token TEXT PRIMARY KEY, key TEXT NOT NULL, ts INTEGER NOT NULL, cost REAL NOT NULL);',
    );
    const insert = old.prepare('INSERT INTO limit_events (token, key, ts, cost) VALUES (?, ?, ?, ?)');
    for (let i = 0; i < 5; i++) insert.run(`old-${i}`, 'k', T0 + i * 1500, 1);
    old.close();
    const store = new SqliteStore(file);
    // 5 entries in the last minute: a max of 6 leaves room for one more call, not two.
    expect((await store.reserve('k', sliding(6), T0 + 10_000)).ok).toBe(true);
    expect((await store.reserve('k', sliding(6), T0 + 10_001)).ok).toBe(false);
    await store.close();
  });

  it('releases and pruning keep the totals in step with the entries', async () => {
    const store = new SqliteStore(path.join(dir, 'steps.db'));
    const tokens: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await store.reserve('k', sliding(10), T0 + i * 700);
      expect(r.ok).toBe(true);
      if (r.ok) tokens.push(r.token);
    }
    expect((await store.reserve('k', sliding(10), T0 + 7_000)).ok).toBe(false);
    await store.release({ key: 'k', token: tokens[3]! });
    await store.release({ key: 'k', token: tokens[7]! });
    expect((await store.reserve('k', sliding(10), T0 + 7_001)).ok).toBe(true);
    expect((await store.reserve('k', sliding(10), T0 + 7_002)).ok).toBe(true);
    expect((await store.reserve('k', sliding(10), T0 + 7_003)).ok).toBe(false);
    // Three windows later everything has left the window and been pruned: the full max again.
    for (let i = 0; i < 10; i++) expect((await store.reserve('k', sliding(10), T0 + 3 * MINUTE + i)).ok).toBe(true);
    expect((await store.reserve('k', sliding(10), T0 + 3 * MINUTE + 10)).ok).toBe(false);
    await store.close();
  });

  it('a fractional total that drifted below its entries does not let a call through', async () => {
    const store = new SqliteStore(path.join(dir, 'fractions.db'));
    const first = await store.reserve('k', sliding(1, 0.3), T0 + 1_000);
    expect((await store.reserve('k', sliding(1, 0.4), T0 + 1_001)).ok).toBe(true);
    expect(first.ok).toBe(true);
    if (first.ok) await store.release({ key: 'k', token: first.token });
    // The second's total is now 0.3 + 0.4 - 0.3 = 0.39999999999999997, its one entry 0.4: a call
    // of cost 0.2 fits under 0.6 by the total, and not by the entries, which decide.
    expect(0.3 + 0.4 - 0.3 + 0.2).toBeLessThanOrEqual(0.6);
    expect(0.4 + 0.2).toBeGreaterThan(0.6);
    expect((await store.reserve('k', sliding(0.6, 0.2), T0 + 10_000)).ok).toBe(false);
    expect((await store.reserve('k', sliding(0.6, 0.1), T0 + 10_001)).ok).toBe(true);
    await store.close();
  });
});
