// A state file written by an earlier Gatehouse keeps its counters when the entries move to the
// table keyed by (key, ts, token), and a process still running the earlier code on the same file
// keeps reserving and releasing through its own statements.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { WindowSpec } from '../../src/store/store.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sliding = (max: number): WindowSpec => ({ algorithm: 'sliding', windowMs: MINUTE, max, cost: 1 });

/** The layout an earlier Gatehouse wrote: a rowid table, two indexes, per-second totals by trigger. */
function writeEarlierLayout(file: string, entries: number): void {
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  old.exec(`
    CREATE TABLE limit_events (token TEXT PRIMARY KEY, key TEXT NOT NULL, ts INTEGER NOT NULL, cost REAL NOT NULL);
    CREATE INDEX limit_events_key_ts ON limit_events (key, ts);
    CREATE TABLE limit_seconds (key TEXT NOT NULL, second INTEGER NOT NULL, cost REAL NOT NULL, PRIMARY KEY (key, second)) WITHOUT ROWID;
    CREATE TRIGGER limit_events_added AFTER INSERT ON limit_events BEGIN
      INSERT INTO limit_seconds (key, second, cost) VALUES (new.key, CAST(new.ts / 1000 AS INTEGER), new.cost)
        ON CONFLICT (key, second) DO UPDATE SET cost = cost + excluded.cost;
    END;
    CREATE TRIGGER limit_events_removed AFTER DELETE ON limit_events BEGIN
      UPDATE limit_seconds SET cost = cost - old.cost WHERE key = old.key AND second = CAST(old.ts / 1000 AS INTEGER);
    END;
  `);
  const insert = old.prepare('INSERT INTO limit_events (token, key, ts, cost) VALUES (?, ?, ?, ?)');
  for (let i = 0; i < entries; i++) insert.run(`old-${i}`, 'k', T0 + i * 1500, 1);
  old.close();
}

describe('sqlite limit entries keyed by time', () => {
  it('an earlier file is moved to the keyed table with every entry and total kept', async () => {
    const file = path.join(dir, 'earlier.db');
    writeEarlierLayout(file, 5);
    const store = new SqliteStore(file);
    const check = new Database(file, { readonly: true });
    const sql = (check.prepare("SELECT sql FROM sqlite_master WHERE name = 'limit_events'").get() as { sql: string })
      .sql;
    expect(sql).toMatch(/WITHOUT ROWID/);
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'limit_events_key_ts'").get()).toBeUndefined();
    expect((check.prepare('SELECT count(*) AS n FROM limit_events').get() as { n: number }).n).toBe(5);
    // 5 entries in the last minute: a max of 6 leaves room for one more call, not two.
    expect((await store.reserve('k', sliding(6), T0 + 10_000)).ok).toBe(true);
    expect((await store.reserve('k', sliding(6), T0 + 10_001)).ok).toBe(false);
    // The totals' triggers were made again on the new table: a release frees its second's total.
    const released = await store.reserve('other', sliding(1), T0 + 10_000);
    expect(released.ok).toBe(true);
    if (released.ok) await store.release({ key: 'other', token: released.token });
    expect((check.prepare("SELECT cost FROM limit_seconds WHERE key = 'other'").get() as { cost: number }).cost).toBe(
      0,
    );
    expect((await store.reserve('other', sliding(1), T0 + 10_001)).ok).toBe(true);
    check.close();
    await store.close();
    // Opening the file again leaves the keyed table as it is.
    const again = new SqliteStore(file);
    expect((await again.reserve('k', sliding(7), T0 + 10_002)).ok).toBe(true);
    expect((await again.reserve('k', sliding(7), T0 + 10_003)).ok).toBe(false);
    await again.close();
  });

  it("an earlier Gatehouse's statements still reserve and release on the moved table", async () => {
    const file = path.join(dir, 'mixed.db');
    writeEarlierLayout(file, 0);
    const earlier = new Database(file);
    // Prepared against the earlier table, as a process started before the upgrade has them.
    const insert = earlier.prepare('INSERT INTO limit_events (token, key, ts, cost) VALUES (?, ?, ?, ?)');
    const release = earlier.prepare('DELETE FROM limit_events WHERE key = ? AND token = ?');
    const store = new SqliteStore(file);
    insert.run('earlier-1', 'k', T0, 1);
    insert.run('earlier-2', 'k', T0 + 1, 1);
    expect((await store.reserve('k', sliding(3), T0 + 2)).ok).toBe(true);
    expect((await store.reserve('k', sliding(3), T0 + 3)).ok).toBe(false);
    expect(release.run('k', 'earlier-2').changes).toBe(1);
    expect((await store.reserve('k', sliding(3), T0 + 4)).ok).toBe(true);
    earlier.close();
    await store.close();
  });

  it('a release removes exactly its own entry, also one made in the same millisecond as another', async () => {
    const store = new SqliteStore(path.join(dir, 'release.db'));
    const a = await store.reserve('k', sliding(2), T0);
    const b = await store.reserve('k', sliding(2), T0);
    expect(a.ok && b.ok).toBe(true);
    expect((await store.reserve('k', sliding(2), T0)).ok).toBe(false);
    if (a.ok) await store.release({ key: 'k', token: a.token });
    // One place is free again, not two.
    expect((await store.reserve('k', sliding(2), T0 + 1)).ok).toBe(true);
    expect((await store.reserve('k', sliding(2), T0 + 2)).ok).toBe(false);
    await store.close();
  });

  it('the (key, ts) index an earlier Gatehouse makes again when it restarts is dropped at the next open', async () => {
    const file = path.join(dir, 'restarted.db');
    writeEarlierLayout(file, 0);
    await new SqliteStore(file).close();
    // What an earlier Gatehouse runs when it opens the file.
    const earlier = new Database(file);
    earlier.exec('CREATE INDEX IF NOT EXISTS limit_events_key_ts ON limit_events (key, ts)');
    const hasIndex = () =>
      earlier.prepare("SELECT 1 FROM sqlite_master WHERE name = 'limit_events_key_ts'").get() !== undefined;
    expect(hasIndex()).toBe(true);
    const store = new SqliteStore(file);
    expect(hasIndex()).toBe(false);
    earlier.close();
    await store.close();
  });

  it('a file in the current layout opens while another process holds the write lock', async () => {
    const file = path.join(dir, 'current.db');
    await new SqliteStore(file).close();
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    // Opening took no write lock: it would have waited out the 5 s busy timeout and thrown.
    const store = new SqliteStore(file);
    other.exec('ROLLBACK');
    expect((await store.reserve('k', sliding(1), T0)).ok).toBe(true);
    other.close();
    await store.close();
  });

  it('a reservation token without its time (made by an earlier Gatehouse) is still released', async () => {
    const file = path.join(dir, 'old-token.db');
    const store = new SqliteStore(file);
    const other = new Database(file);
    other
      .prepare('INSERT INTO limit_events (token, key, ts, cost) VALUES (?, ?, ?, ?)')
      .run('earlier-token', 'k', T0, 1);
    expect((await store.reserve('k', sliding(1), T0 + 1)).ok).toBe(false);
    await store.release({ key: 'k', token: 'earlier-token' });
    expect((await store.reserve('k', sliding(1), T0 + 2)).ok).toBe(true);
    other.close();
    await store.close();
  });
});
