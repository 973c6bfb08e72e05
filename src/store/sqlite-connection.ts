// One better-sqlite3 connection to a file, shared by the state store and the audit sink when the
// audit log lives in the state file (the default). Two connections to one file each keep a page
// cache, and a commit by one makes the other read its pages again on its next transaction: with
// the audit log's batches landing between reservations, that was three extra reads per call.
// better-sqlite3 runs every statement and transaction synchronously, so two users of one
// connection never interleave inside a transaction.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { FALLBACK_AUTOCHECKPOINT_PAGES, WalCheckpointer, WRITES_PER_CHECKPOINT } from './wal-checkpointer.js';

/** The longest pause between two tries of a write that met another process's lock. */
const MAX_PAUSE_MS = 25;

/** Whether `error` is SQLite saying another connection holds the lock a statement needs. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

export class SqliteConnection {
  readonly db: Database.Database;
  private users = 0;
  /** The busy timeout in force now (withBusyTimeout changes it for a while). */
  private wait: number;
  /** Checkpoints the log off this thread (see wal-checkpointer.ts); none for an in-memory file. */
  readonly checkpointer: WalCheckpointer | undefined;
  /** Writes (whenFree runs that may have written) since the last checkpoint request. */
  private writes = 0;

  /**
   * Opens `file` in WAL mode with NORMAL sync; each user takes its share with use(). `busyTimeoutMs`:
   * how long a write waits for another process's write lock, unless told otherwise.
   */
  constructor(
    readonly file: string,
    readonly busyTimeoutMs: number,
  ) {
    this.wait = busyTimeoutMs;
    if (file !== ':memory:') createPrivately(file);
    this.db = new Database(file);
    // First: switching to WAL also waits for another process's lock.
    this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    this.db.pragma('journal_mode = WAL');
    // WAL with NORMAL sync cannot corrupt the file and survives a process crash; only an OS crash
    // or power loss can drop the last moments of counters and records. Worth it: no fsync on
    // every call.
    this.db.pragma('synchronous = NORMAL');
    if (file !== ':memory:') {
      this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      this.checkpointer = new WalCheckpointer(file, () => {
        // No thread to do it: SQLite's own checkpoints, at its own mark, as before.
        if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
      });
    }
  }

  /**
   * From now on statements do not wait on the thread for another process's lock: writes (and the
   * reads of the gateway's calls) go through whenFree, which waits off the thread. Called once the
   * user's setup (tables, layout) is done; setup that runs later sets its own wait (withBusyTimeout).
   * Switching the busy timeout for each write instead cost a statement's preparation twice a write.
   */
  serve(): void {
    if (this.wait === 0) return;
    this.db.pragma('busy_timeout = 0');
    this.wait = 0;
  }

  /**
   * One user's share of the connection: the connection closes when the last share is released.
   * Releasing a share again does nothing, so a user closed twice never closes it under another.
   */
  use(): () => void {
    this.users++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.users === 0 && this.db.open) {
        this.checkpointer?.close();
        this.db.close();
      }
    };
  }

  /**
   * Runs `fn` with another busy timeout (how long a statement waits, on this thread, for another
   * process's lock), then restores the one before: each user keeps the wait it chose.
   */
  withBusyTimeout<T>(ms: number, fn: () => T): T {
    const before = this.wait;
    if (ms === before) return fn();
    this.db.pragma(`busy_timeout = ${ms}`);
    this.wait = ms;
    try {
      return fn();
    } finally {
      this.db.pragma(`busy_timeout = ${before}`);
      this.wait = before;
    }
  }

  /**
   * Runs `fn`, a write or a read, without holding the thread while another process has the file's lock.
   * SQLite's own wait sleeps on the calling thread, and on the gateway's that stops every call, the
   * health checks and the answers already on their way, for as long as the lock is held. Here a
   * statement that meets the lock is tried again after a pause (1 ms, doubling up to 25 ms), while the
   * event loop serves the rest, until `waitMs` (the connection's own wait unless given) has passed
   * or `stop` says its user has closed; then it fails with SQLite's busy error, as a write that
   * waited it out on the thread did. `fn` is run whole each time: a transaction that met the lock
   * was rolled back by SQLite.
   */
  whenFree<T>(fn: () => T, waitMs = this.busyTimeoutMs, stop?: () => boolean, writes = true): Promise<T> {
    return this.whenFreeBy(fn, performance.now() + waitMs, stop, writes);
  }

  /**
   * whenFree, with the wait ending at `deadline` (on `performance.now()`'s clock, which no one sets
   * back). `writes`: false for a read, which leaves the log as it was and counts for no checkpoint.
   */
  async whenFreeBy<T>(fn: () => T, deadline: number, stop?: () => boolean, writes = true): Promise<T> {
    // A user that closed writes nothing more, even while another user keeps the connection open.
    if (stop?.()) throw new Error(`${this.file} is closed to this user: nothing more is read or written`);
    for (let pause = 1; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
      let result: T;
      try {
        result = this.withBusyTimeout(0, fn);
      } catch (error) {
        const left = deadline - performance.now();
        if (!isBusy(error) || left <= 0 || stop?.()) throw error;
        await sleep(Math.min(pause, left));
        if (stop?.()) throw error;
        continue;
      }
      if (writes) this.wrote();
      return result;
    }
  }

  /** Counts a write; every WRITES_PER_CHECKPOINT, asks the checkpointer for a checkpoint. */
  private wrote(): void {
    if (++this.writes < WRITES_PER_CHECKPOINT) return;
    this.writes = 0;
    // After the write has committed: nothing here may make it look failed to its caller (a
    // reservation reported failed would be run again, and counted twice). request() throws
    // nothing; it gives up on its thread instead.
    this.checkpointer?.request();
  }
}

/**
 * Creates the database file, and any folder it needs, readable by its owner only: it holds call
 * arguments in the audit log and approvals, and the grants, and SQLite would create it world
 * readable (0644). Its -wal and -shm files take its mode. An existing file keeps the mode its
 * operator gave it.
 */
export function createPrivately(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    // `wx`: only a new file is made here; an existing one is left for SQLite to open as it can.
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  closeSync(fd);
}
