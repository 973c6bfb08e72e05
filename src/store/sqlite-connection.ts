// One better-sqlite3 connection to a file, shared by the state store and the audit sink when the
// audit log lives in the state file (the default). Two connections to one file each keep a page
// cache, and a commit by one makes the other read its pages again on its next transaction: with
// the audit log's batches landing between reservations, that was three extra reads per call.
// better-sqlite3 runs every statement and transaction synchronously, so two users of one
// connection never interleave inside a transaction.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export class SqliteConnection {
  readonly db: Database.Database;
  private users = 0;

  /** Opens `file` in WAL mode with NORMAL sync; each user takes its share with use(). */
  constructor(
    readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {
    if (file !== ':memory:') createPrivately(file);
    this.db = new Database(file);
    // First: switching to WAL also waits for another process's lock.
    this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    this.db.pragma('journal_mode = WAL');
    // WAL with NORMAL sync cannot corrupt the file and survives a process crash; only an OS crash
    // or power loss can drop the last moments of counters and records. Worth it: no fsync on
    // every call.
    this.db.pragma('synchronous = NORMAL');
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
      if (--this.users === 0 && this.db.open) this.db.close();
    };
  }

  /**
   * Runs `fn` with another busy timeout (how long a write waits for another process's write lock),
   * then restores the connection's own: each user keeps the wait it chose.
   */
  withBusyTimeout<T>(ms: number, fn: () => T): T {
    if (ms === this.busyTimeoutMs) return fn();
    this.db.pragma(`busy_timeout = ${ms}`);
    try {
      return fn();
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
  }
}

/**
 * Creates the database file, and any folder it needs, readable by its owner only: it holds call
 * arguments in the audit log and approvals, and the grants, and SQLite would create it world
 * readable (0644). Its -wal and -shm files take its mode. An existing file keeps the mode its
 * operator gave it.
 */
function createPrivately(file: string): void {
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
