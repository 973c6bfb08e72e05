// The write-ahead log of a SQLite state file is copied back into the file by a worker thread, so
// the gateway's thread does not stop for a checkpoint's flushes to disk.
import { copyFileSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteConnection } from '../../src/store/sqlite-connection.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import {
  FALLBACK_AUTOCHECKPOINT_PAGES,
  WalCheckpointer,
  WRITES_PER_CHECKPOINT,
} from '../../src/store/wal-checkpointer.js';
import { sleep, waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A connection with a table, and a write through whenFree as the gateway's writes go. */
function openWithTable(name: string): {
  connection: SqliteConnection;
  release: () => void;
  write: (i: number) => Promise<unknown>;
} {
  const connection = new SqliteConnection(path.join(dir, name), 5000);
  const release = connection.use();
  connection.db.exec('CREATE TABLE t (i INTEGER PRIMARY KEY, pad TEXT NOT NULL)');
  const insert = connection.db.prepare('INSERT INTO t (i, pad) VALUES (?, ?)');
  return { connection, release, write: (i) => connection.whenFree(() => insert.run(i, 'x'.repeat(500))) };
}

/** The rows of table t (0 when there is none yet). */
function rowsOf(db: Database.Database): number {
  const has = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get() as { n: number };
  return has.n === 0 ? 0 : (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
}

/** The rows of a file no connection has open (the log, if any, included). */
function rowsOfClosedFile(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return rowsOf(db);
  } finally {
    db.close();
  }
}

/**
 * The rows of `file` itself, without its log: what a checkpoint has copied into it. A copy taken
 * while a checkpoint writes the file may be torn: it counts as not there yet.
 */
function rowsInFileAlone(file: string, copy: string): number {
  copyFileSync(file, copy);
  try {
    return rowsOfClosedFile(copy);
  } catch {
    return 0;
  }
}

describe('checkpoints of the write-ahead log', () => {
  it("copies the log into the file off the connection's thread, long before SQLite's own mark", async () => {
    const { connection, release, write } = openWithTable('copied.db');
    const file = path.join(dir, 'copied.db');
    for (let i = 0; i < WRITES_PER_CHECKPOINT * 2; i++) await write(i);
    // Far below the connection's own mark (and below SQLite's default of 1,000 pages): only the
    // worker can have copied the rows into the file.
    expect(connection.db.pragma('wal_autocheckpoint', { simple: true })).toBe(FALLBACK_AUTOCHECKPOINT_PAGES);
    await waitUntil(
      () => rowsInFileAlone(file, path.join(dir, 'copied-copy.db')) >= WRITES_PER_CHECKPOINT,
      10_000,
      'the rows to reach the file itself',
    );
    // The rows can be in the file a moment before the thread's answer reaches this one.
    await waitUntil(() => connection.checkpointer!.done >= 1, 10_000, 'the thread to answer');
    release();
  });

  it("counts a state store's reads for no checkpoint", async () => {
    const store = new SqliteStore(path.join(dir, 'reads.db'));
    await store.putPin({ server: 's', tool: 't', hash: 'h', definition: '{}', pinnedAt: 1 });
    for (let i = 0; i < WRITES_PER_CHECKPOINT * 2; i++) expect(await store.getPin('s', 't')).toBeDefined();
    expect(store.connection.checkpointer!.started).toBe(false);
    await store.close();
  });

  it('starts no thread for a connection that has written little', async () => {
    const { connection, release, write } = openWithTable('quiet.db');
    for (let i = 0; i < WRITES_PER_CHECKPOINT - 2; i++) await write(i);
    expect(connection.checkpointer!.started).toBe(false);
    expect(connection.checkpointer!.done).toBe(0);
    release();
  });

  it('ends the thread when the connection closes, which removes the log as before', async () => {
    const file = path.join(dir, 'closed.db');
    const { connection, release, write } = openWithTable('closed.db');
    for (let i = 0; i < WRITES_PER_CHECKPOINT; i++) await write(i);
    await waitUntil(() => connection.checkpointer!.done >= 1, 10_000, "the worker's first checkpoint");
    expect(connection.checkpointer!.started).toBe(true);
    release();
    expect(connection.checkpointer!.started).toBe(false);
    // The thread holds no connection between checkpoints: the gateway's, closing last, copied the
    // rest of the log into the file and removed it, there and then.
    expect(existsSync(`${file}-wal`)).toBe(false);
    await connection.checkpointer!.ended();
    expect(rowsOfClosedFile(file)).toBe(WRITES_PER_CHECKPOINT);
  });

  it('a checkpoint asked for just before the connection closes still runs to its end, and the log is removed', async () => {
    const file = path.join(dir, 'closing.db');
    const { connection, release, write } = openWithTable('closing.db');
    for (let i = 0; i < WRITES_PER_CHECKPOINT; i++) await write(i);
    // The request has just gone to a thread that is still starting: the checkpoint runs after this.
    expect(connection.checkpointer!.done).toBe(0);
    release();
    await connection.checkpointer!.ended();
    // It ran to its end, not cut off: its answer came before the thread ended.
    expect(connection.checkpointer!.done).toBe(1);
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(rowsOfClosedFile(file)).toBe(WRITES_PER_CHECKPOINT);
  });

  it('ends an idle thread, and starts another on the next request', async () => {
    const file = path.join(dir, 'idle.db');
    const { release, write } = openWithTable('idle.db');
    await write(1);
    const checkpointer = new WalCheckpointer(file, () => undefined, undefined, 50);
    checkpointer.request();
    await waitUntil(() => checkpointer.done === 1, 10_000, 'the first checkpoint');
    await waitUntil(() => !checkpointer.started, 5_000, 'the thread to end');
    checkpointer.request();
    expect(checkpointer.started).toBe(true);
    await waitUntil(() => checkpointer.done === 2, 10_000, 'the second checkpoint');
    checkpointer.close();
    release();
  });

  it('gives up for good, once, when the thread cannot load SQLite', async () => {
    const reasons: string[] = [];
    const checkpointer = new WalCheckpointer(
      path.join(dir, 'fallback.db'),
      (reason) => reasons.push(reason),
      path.join(dir, 'no-such-driver.js'),
    );
    checkpointer.request();
    await waitUntil(() => reasons.length > 0, 10_000, 'the checkpointer to give up');
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/no-such-driver/);
    expect(checkpointer.failure).toBe(reasons[0]);
    expect(checkpointer.started).toBe(false);
    // Given up for good: later requests start nothing, and the thread's end, which may come after
    // its error, gives up nothing more.
    checkpointer.request();
    expect(checkpointer.started).toBe(false);
    await sleep(200);
    expect(reasons).toHaveLength(1);
  });

  it("puts the connection back on SQLite's own checkpoints when the thread cannot open the file", async () => {
    const file = path.join(dir, 'moved.db');
    const { connection, release, write } = openWithTable('moved.db');
    // Moved away under the open connection: the thread's own open finds nothing there.
    renameSync(file, path.join(dir, 'moved-away.db'));
    for (let i = 0; i < WRITES_PER_CHECKPOINT; i++) await write(i);
    await waitUntil(() => connection.checkpointer!.failure !== undefined, 10_000, 'the checkpointer to give up');
    expect(connection.checkpointer!.failure).toMatch(/unable to open/i);
    expect(connection.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    // The connection itself goes on writing.
    await write(WRITES_PER_CHECKPOINT);
    expect(rowsOf(connection.db)).toBe(WRITES_PER_CHECKPOINT + 1);
    release();
  });

  it('a write that has committed is not reported failed when no thread can be made', async () => {
    const { connection, release, write } = openWithTable('no-thread.db');
    // As when the process may make no more threads: new Worker throws.
    (connection.checkpointer as unknown as { start: () => never }).start = () => {
      throw new Error('ERR_WORKER_INIT_FAILED: no more threads');
    };
    const results = await Promise.allSettled(Array.from({ length: WRITES_PER_CHECKPOINT * 2 }, (_, i) => write(i)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(rowsOf(connection.db)).toBe(WRITES_PER_CHECKPOINT * 2);
    await waitUntil(() => connection.checkpointer!.failure !== undefined, 5_000, 'the checkpointer to give up');
    expect(connection.checkpointer!.failure).toMatch(/no more threads/);
    expect(connection.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    release();
  });
});
