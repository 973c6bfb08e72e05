// While another process holds the SQLite file's write lock (the command line revoking a grant,
// another gateway on the same file, a backup), the gateway's writes wait for it without holding the
// thread: the event loop goes on serving everything else, a write is tried again until the lock is
// let go or its wait runs out, and reservations that arrive meanwhile queue behind the waiting
// ones in their order; a batch that met the lock for all its wait is refused whole, and a store or
// audit log closed meanwhile stops waiting. The lock is held from a worker thread
// (hold-write-lock.ts), so the order of steps here is told by its flags, not by the clock.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../src/audit/open-audit-log.js';
import type { AuditLog } from '../../src/audit/record.js';
import type { AuditWriterOptions } from '../../src/audit/writer.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { isBusy } from '../../src/store/sqlite-connection.js';
import type { ReserveResult, WindowSpec } from '../../src/store/store.js';
import { makeRecord } from '../audit/make-record.js';
import { sleep } from '../helpers/wait.js';
import { holdWriteLock, type HeldLock } from './hold-write-lock.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-lock-wait-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.parse('2026-03-02T10:00:00Z');
const spec = (max: number): WindowSpec => ({ algorithm: 'sliding', max, windowMs: 60_000, cost: 1 });
const busyTimeout = (store: SqliteStore): number =>
  store.connection.db.pragma('busy_timeout', { simple: true }) as number;
/** What each test opened, let go after it whatever its outcome: locks first, then stores. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** A state store on a fresh file `state.db` in the folder `name` (`writeWaitMs`: its wait for a lock). */
function storeIn(name: string, writeWaitMs?: number): { folder: string; file: string; store: SqliteStore } {
  const folder = path.join(dir, name);
  mkdirSync(folder);
  const file = path.join(folder, 'state.db');
  const store = new SqliteStore(file, writeWaitMs);
  cleanups.push(() => store.close());
  return { folder, file, store };
}

/** Another process's write lock on `file`, held from now for `holdMs` or until the test lets it go. */
async function lockOf(file: string, holdMs: number): Promise<HeldLock> {
  const lock = await holdWriteLock(file, holdMs);
  cleanups.push(() => lock.end());
  lock.writing();
  return lock;
}

/** The audit log of a gateway in `folder`, in the state store's file, its events kept in `events`. */
function logIn(
  folder: string,
  store: SqliteStore,
  events: string[],
  spool: 'on' | 'off',
  opts: Partial<AuditWriterOptions>,
): AuditLog {
  return openAuditLog(
    { sink: 'sqlite:./state.db', arguments: 'redacted', retention: 86_400, queue_max: 1000, spool },
    folder,
    { stateFile: store.connection, onEvent: (_level, message) => events.push(message), ...opts },
  );
}

/** What `p` came to: its value, or the error it was rejected with. */
const outcome = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    (v) => v,
    (e: unknown) => e,
  );

describe('SQLite writes while another process holds the write lock', () => {
  it('a reservation waits for the lock without holding the thread, and is taken once the lock goes', async () => {
    const { file, store } = storeIn('reserve');
    // 4 s: inside the store's 5 s wait, and far longer than the steps below take.
    const lock = await lockOf(file, 4000);
    const reservation = store.reserve('echo', spec(5), NOW);
    // A timer of the gateway's thread fires while the reservation waits: the thread is free.
    await sleep(50);
    expect(lock.released()).toBe(false);
    await lock.end();
    expect((await reservation).ok).toBe(true);
    expect(await store.usage('echo', spec(5), NOW + 1)).toBe(1);
  });

  it('reservations that arrive while others wait for the lock are decided after them, in arrival order', async () => {
    const { file, store } = storeIn('order');
    const lock = await lockOf(file, 4000);
    // Room for three: the first two arrive together and wait as one batch; two more come later.
    const first = [store.reserve('k', spec(3), NOW), store.reserve('k', spec(3), NOW)];
    await sleep(30);
    expect(lock.released()).toBe(false);
    const later = [store.reserve('k', spec(3), NOW + 1), store.reserve('k', spec(3), NOW + 2)];
    await sleep(30);
    await lock.end();
    const results: ReserveResult[] = await Promise.all([...first, ...later]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
  });

  it('a write that meets a lock held past its wait fails with SQLite busy error while the lock is still held', async () => {
    const { file, store } = storeIn('gives-up');
    const lock = await lockOf(file, 10_000);
    let tries = 0;
    const error = await outcome(
      store.connection.whenFree(() => {
        tries++;
        store.connection.db.prepare('INSERT INTO limit_keys (key, retain_ms) VALUES (?, ?)').run('x', 1);
      }, 300),
    );
    expect(isBusy(error)).toBe(true);
    expect(lock.released()).toBe(false);
    // Tried again between pauses, not once only.
    expect(tries).toBeGreaterThan(1);
    // No statement waits on the thread while the store serves: the waits are all whenFree's.
    expect(busyTimeout(store)).toBe(0);
  });

  it('a write that fails for another reason than the lock is not tried again', async () => {
    const { store } = storeIn('other');
    let tries = 0;
    const insert = store.connection.db.prepare('INSERT INTO limit_keys (key, retain_ms) VALUES (?, ?)');
    insert.run('dup', 1);
    await expect(
      store.connection.whenFree(() => {
        tries++;
        insert.run('dup', 1);
      }),
    ).rejects.toThrow(/UNIQUE/);
    expect(tries).toBe(1);
  });

  it('a batch of reservations that met the lock for all its wait is refused whole, and nothing is counted', async () => {
    // A wait of 300 ms instead of 5 s, so that it runs out while the lock is held.
    const { file, store } = storeIn('batch-refused', 300);
    const lock = await lockOf(file, 10_000);
    const batch = [store.reserve('b', spec(5), NOW), store.reserve('b', spec(5), NOW)];
    const errors = await Promise.all(batch.map(outcome));
    expect(errors.map(isBusy)).toEqual([true, true]);
    expect(lock.released()).toBe(false);
    await lock.end();
    expect(await store.usage('b', spec(5), NOW + 1)).toBe(0);
    // The lock gone, the next reservation is taken: the refused ones left nothing behind.
    expect((await store.reserve('b', spec(5), NOW + 2)).ok).toBe(true);
  });

  it('a reservation waiting for the lock fails as soon as the store closes, the lock still held', async () => {
    const { file, store } = storeIn('closed');
    const lock = await lockOf(file, 10_000);
    const waiting = outcome(store.reserve('c', spec(5), NOW));
    await sleep(30);
    await store.close();
    expect(isBusy(await waiting)).toBe(true);
    expect(lock.released()).toBe(false);
  });

  it('an audit log closed while its batch waits for the lock leaves the record in the spool and touches nothing after', async () => {
    // The state store keeps the shared connection open after the log closes.
    const { folder, file, store } = storeIn('closing-log');
    const events: string[] = [];
    const log = logIn(folder, store, events, 'on', { closeTimeoutMs: 200, intervalMs: 0 });
    // Held until let go below, after close has given up on the batch.
    const lock = await lockOf(file, 10_000);
    log.write(makeRecord({ ts: Date.now(), request_id: 'at-close' }));
    await log.close();
    expect(lock.released()).toBe(false);
    const atClose = events.length;
    await lock.end();
    // Longer than a try of the insert after the lock went.
    await sleep(200);
    // Nothing was written or reported once the log had closed.
    expect(events.slice(atClose)).toEqual([]);
    expect((store.connection.db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n).toBe(0);
    // The record stays in the spool, for the next start to store.
    const spool = readdirSync(folder).find((f) => /^audit-spool-.*\.jsonl$/.test(f))!;
    expect(readFileSync(path.join(folder, spool), 'utf8')).toContain('"at-close"');
  });

  it('a prune of old audit records waiting for the lock when the log closes stops without reporting a failure', async () => {
    const { folder, file, store } = storeIn('closing-prune');
    const events: string[] = [];
    const log = logIn(folder, store, events, 'off', { pruneEveryMs: 20 });
    const lock = await lockOf(file, 10_000);
    // A few prunes start meanwhile, each waiting for the lock (up to 1 s).
    await sleep(100);
    await log.close();
    await lock.end();
    await sleep(100);
    expect(events.filter((e) => e.includes('deleting old audit records failed'))).toEqual([]);
  });
});
