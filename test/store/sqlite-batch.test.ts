// The SQLite store runs the reservations made in one turn of the event loop in one transaction.
// This proves the batch decides exactly as calls made one at a time would: in call order, and a
// reservation that fails fails alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { WindowSpec } from '../../src/store/store.js';

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sliding = (max: number): WindowSpec => ({ algorithm: 'sliding', windowMs: 60_000, max, cost: 1 });

describe('sqlite reservations batched per turn', () => {
  it('of 120 reservations made in one turn against max 50, exactly the first 50 in call order are admitted', async () => {
    const store = new SqliteStore(path.join(dir, 'order.db'));
    const results = await Promise.all(Array.from({ length: 120 }, (_, i) => store.reserve('k', sliding(50), T0 + i)));
    expect(results.map((r) => r.ok)).toEqual(Array.from({ length: 120 }, (_, i) => i < 50));
    expect(await store.usage('k', sliding(50), T0 + 200)).toBe(50);
    await store.close();
  });

  it('one reservation the database refuses fails its own call only; the others of its turn are admitted and stored', async () => {
    const file = path.join(dir, 'failure.db');
    const store = new SqliteStore(file);
    // A key SQLite cannot bind makes the whole batch's transaction throw.
    const bad = { not: 'a key' } as unknown as string;
    const calls = [
      store.reserve('k', sliding(10), T0),
      store.reserve('k', sliding(10), T0 + 1),
      store.reserve(bad, sliding(10), T0 + 2),
      store.reserve('k', sliding(10), T0 + 3),
    ];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    for (const s of settled) if (s.status === 'fulfilled') expect(s.value.ok).toBe(true);
    await store.close();
    // Read back on a connection of its own: the three admitted calls are in the file, once each.
    const db = new Database(file, { readonly: true });
    expect((db.prepare("SELECT count(*) AS n FROM limit_events WHERE key = 'k'").get() as { n: number }).n).toBe(3);
    db.close();
  });

  it('a reservation queued when the store closes fails with an error instead of hanging', async () => {
    const store = new SqliteStore(path.join(dir, 'closing.db'));
    const pending = store.reserve('k', sliding(10), T0);
    await store.close();
    await expect(pending).rejects.toThrow();
  });
});
