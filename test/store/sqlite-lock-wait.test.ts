// While another process holds the SQLite file's write lock (the command line revoking a grant,
// another gateway on the same file, a backup), the gateway's writes wait for it without holding the
// thread: the event loop goes on serving everything else, a write is tried again until the lock is
// let go or its wait runs out, and reservations that arrive meanwhile queue behind the waiting
// ones in their order. The lock is held from a worker thread (hold-write-lock.ts), so the order of
// steps here is told by its flags, not by the clock.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { isBusy } from '../../src/store/sqlite-connection.js';
import type { ReserveResult, WindowSpec } from '../../src/store/store.js';
import { sleep } from '../helpers/wait.js';
import { holdWriteLock } from './hold-write-lock.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-lock-wait-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.parse('2026-03-02T10:00:00Z');
const spec = (max: number): WindowSpec => ({ algorithm: 'sliding', max, windowMs: 60_000, cost: 1 });

describe('SQLite writes while another process holds the write lock', () => {
  it('a reservation waits for the lock without holding the thread, and is taken once the lock goes', async () => {
    const file = path.join(dir, 'reserve.db');
    const store = new SqliteStore(file);
    // 4 s: inside the store's 5 s wait, and far longer than the steps below take.
    const lock = await holdWriteLock(file, 4000);
    try {
      lock.writing();
      const reservation = store.reserve('echo', spec(5), NOW);
      // A timer of the gateway's thread fires while the reservation waits: the thread is free.
      await sleep(50);
      expect(lock.released()).toBe(false);
      await lock.end();
      expect((await reservation).ok).toBe(true);
      expect(await store.usage('echo', spec(5), NOW + 1)).toBe(1);
    } finally {
      await lock.end();
      await store.close();
    }
  });

  it('reservations that arrive while others wait for the lock are decided after them, in arrival order', async () => {
    const file = path.join(dir, 'order.db');
    const store = new SqliteStore(file);
    const lock = await holdWriteLock(file, 4000);
    try {
      lock.writing();
      // Room for three: the first two arrive together and wait as one batch; two more come later.
      const first = [store.reserve('k', spec(3), NOW), store.reserve('k', spec(3), NOW)];
      await sleep(30);
      expect(lock.released()).toBe(false);
      const later = [store.reserve('k', spec(3), NOW + 1), store.reserve('k', spec(3), NOW + 2)];
      await sleep(30);
      await lock.end();
      const results: ReserveResult[] = await Promise.all([...first, ...later]);
      expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
    } finally {
      await lock.end();
      await store.close();
    }
  });

  it('a write that meets a lock held past its wait fails with SQLite busy error while the lock is still held', async () => {
    const file = path.join(dir, 'gives-up.db');
    const store = new SqliteStore(file);
    const lock = await holdWriteLock(file, 10_000);
    let tries = 0;
    try {
      lock.writing();
      const write = store.connection.whenFree(() => {
        tries++;
        store.connection.db.prepare('INSERT INTO limit_keys (key, retain_ms) VALUES (?, ?)').run('x', 1);
      }, 300);
      const error = await write.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBusy(error)).toBe(true);
      expect(lock.released()).toBe(false);
      // Tried again between pauses, not once only.
      expect(tries).toBeGreaterThan(1);
    } finally {
      await lock.end();
      await store.close();
    }
  });

  it('a write that fails for another reason than the lock is not tried again', async () => {
    const store = new SqliteStore(path.join(dir, 'other.db'));
    let tries = 0;
    try {
      const insert = store.connection.db.prepare('INSERT INTO limit_keys (key, retain_ms) VALUES (?, ?)');
      insert.run('dup', 1);
      await expect(
        store.connection.whenFree(() => {
          tries++;
          insert.run('dup', 1);
        }),
      ).rejects.toThrow(/UNIQUE/);
      expect(tries).toBe(1);
    } finally {
      await store.close();
    }
  });
});
