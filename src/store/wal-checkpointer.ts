// Copies a SQLite file's write-ahead log back into the file (a checkpoint) on a worker thread.
// SQLite does it itself in the connection whose commit makes the log long enough (1,000 pages by
// default), synchronously: with NORMAL sync, that commit also flushes the log and the file to disk
// (two fsyncs). On the gateway's thread that held every call for 3 to 5 ms every few hundred calls
// (the limit's reservation and the audit log's batches each add pages), and the flushes are most
// of a checkpoint's cost. Here a connection of the worker's own does it; the gateway's connection
// keeps SQLite's own checkpoint, at a higher mark, as a fallback.
//
// The log starts again from its beginning only when a write begins while all of it is copied. Under
// steady writes the worker's checkpoints seldom end in such a moment, so the log grows to the
// fallback's mark and the gateway's connection checkpoints it there, on its thread, with its two
// flushes: once every 4,000 pages instead of every 1,000, and with only what the worker has not
// copied yet (the pages of up to 128 writes) left to copy.
//
// A checkpoint by another connection is one SQLite is built for (several processes share a file):
// PASSIVE takes no lock a writer needs, and skips what a reader still uses. The worker opens the
// file for each checkpoint and closes it before it answers. (SQLite keeps the closed descriptor
// for its next open while the gateway's connection holds its lock on the file: one more
// descriptor on it, not one per checkpoint.) The worker must load the same better-sqlite3 as the
// gateway: one SQLite in the process keeps track of its connections' locks on a file, and a
// second copy closing the file would drop the locks of the first.
//
// When the gateway's connection closes with no checkpoint running, the thread ends at once and
// the gateway's connection closes last, as before: SQLite copies the rest of the log and removes
// it. A checkpoint still running finishes first, and the thread's connection then closes last
// and does the same; a process that exits before then leaves the log, which SQLite recovers on
// the next open and copies in at its next checkpoint or close. A checkpoint asked for just before
// the close, of a thread still starting, runs after it: it opens the file (which must still exist)
// once more, then ends.
//
// The worker starts on the first request and ends after a while without one, so an idle gateway
// pays no thread for it.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Writes (statements and transactions run through SqliteConnection.whenFree, reads not counted) between two checkpoints. */
export const WRITES_PER_CHECKPOINT = 128;
/**
 * The gateway's own connection checkpoints (on its thread, as SQLite does by default) only once
 * the log holds this many pages. SQLite's default is 1,000. Under steady writes the log reaches it
 * (see above), but the worker has copied all of it by then except the last writes' pages.
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 4000;
/** How long the worker stays after its last checkpoint. */
const IDLE_MS = 30_000;

// CommonJS, as an eval'd worker is: the same text runs from the sources and from the bundle.
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const checkpoint = () => {
  let db;
  try {
    db = new Database(workerData.file, { fileMustExist: true });
    // Off the gateway's thread, waiting for another process's lock costs no call anything.
    db.pragma('busy_timeout = 1000');
    db.pragma('synchronous = NORMAL');
    let [row] = db.pragma('wal_checkpoint(PASSIVE)');
    // Pages written during the pass leave the log short of copied: one more pass copies just
    // those, so that a write beginning after it may start the log again. (Passes until one found
    // nothing new slowed the gateway's writes more often with their flushes.)
    if (row.busy === 0) [row] = db.pragma('wal_checkpoint(PASSIVE)');
    return { log: row.log };
  } catch (error) {
    // isBusy of sqlite-connection.ts, which code run by eval cannot import.
    const code = String(error && error.code);
    const busy = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
    return { error: String(error && error.message), busy };
  } finally {
    // Closed before the answer: once it has its answer, the gateway may close the file, last.
    if (db) db.close();
  }
};
parentPort.on('message', (message) => {
  // Asked to stop while a checkpoint ran: it has finished and closed its file; nothing follows.
  if (message === 'stop') process.exit(0);
  else parentPort.postMessage(checkpoint());
});
`;

type Reply = { log: number } | { error: string; busy: boolean };

export class WalCheckpointer {
  private worker: Worker | undefined;
  private running = false;
  /** A request came while a checkpoint was running: one more follows it. */
  private again = false;
  private idle: NodeJS.Timeout | undefined;
  private closed = false;
  /** Checkpoints the worker finished, and the most pages the log had at one (for tests and benchmarks). */
  done = 0;
  largestLogPages = 0;
  /** Why the worker was given up, if it was. */
  failure: string | undefined;
  private ending: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    /** Called once if the worker cannot run: the connection goes back to SQLite's own checkpoints. */
    private readonly onFailure: (reason: string) => void,
    private readonly driver = createRequire(import.meta.url).resolve('better-sqlite3'),
    private readonly idleMs = IDLE_MS,
  ) {}

  /** Whether the worker thread is up. */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Asks for a checkpoint; one running already is followed by one more, never by a queue. */
  request(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.idle);
    let worker: Worker;
    try {
      worker = this.start();
    } catch (error) {
      // No thread could be made (a limit on threads, memory): the caller's write has committed
      // and must not fail for this; the connection's own checkpoints take over.
      const reason = error instanceof Error ? error.message : String(error);
      queueMicrotask(() => this.giveUp(reason));
      return;
    }
    this.running = true;
    worker.postMessage(0);
  }

  /**
   * Ends the thread: at once when it is idle (it holds no connection then); after the checkpoint
   * it is running otherwise, which it finishes and closes its connection first.
   */
  close(): void {
    this.closed = true;
    clearTimeout(this.idle);
    this.endThread();
  }

  /** Resolves once the thread that was running (if any) has ended. */
  ended(): Promise<void> {
    return this.ending;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(CHECKPOINTER, {
      eval: true,
      workerData: { driver: this.driver, file: this.file },
      // Plain CommonJS needs none of the process's flags (one such as --input-type=module would
      // even make the code a module).
      execArgv: [],
    });
    worker.on('message', (reply: Reply) => this.answered(reply));
    worker.on('error', (error: unknown) => this.fail(worker, error instanceof Error ? error.message : String(error)));
    worker.on('exit', () => this.fail(worker, 'the checkpoint thread stopped'));
    // A checkpoint on its way must not keep a process alive: SQLite finishes it later if need be.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private answered(reply: Reply): void {
    this.running = false;
    if (!('error' in reply)) {
      this.done++;
      this.largestLogPages = Math.max(this.largestLogPages, reply.log);
    } else if (!reply.busy) {
      // The file is gone or cannot be opened: the connection's own checkpoints take over. (Busy:
      // another process held the file for over a second; the next request tries again.)
      this.giveUp(reply.error);
      return;
    }
    if (this.closed) return;
    if (this.again) {
      this.again = false;
      this.request();
      return;
    }
    this.idle = setTimeout(() => this.endThread(), this.idleMs);
    this.idle.unref();
  }

  /** Lets the thread go (its 'exit' is then no failure): at once when idle, after its checkpoint otherwise. */
  private endThread(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    this.ending = exitOf(worker);
    if (this.running) worker.postMessage('stop');
    else void worker.terminate();
  }

  /** The worker failed or ended on its own (endThread lets it go first). */
  private fail(worker: Worker, reason: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.running = false;
    this.giveUp(reason);
  }

  private giveUp(reason: string): void {
    if (this.closed) return;
    this.failure = reason;
    this.close();
    // Run from a worker's event or a microtask: nothing may escape to crash the process. The
    // connection's own hook only sets a pragma on an open file.
    try {
      this.onFailure(reason);
    } catch {
      // The connection closed meanwhile: there is nothing left to checkpoint.
    }
  }
}

/** Resolves when `worker` has ended, whatever ended it (an 'error' comes before its 'exit'). */
function exitOf(worker: Worker): Promise<void> {
  return new Promise((resolve) => worker.once('exit', () => resolve()));
}
