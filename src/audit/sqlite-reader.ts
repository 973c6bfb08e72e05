// Reads of the SQLite audit log that can take seconds run on a worker thread with a read-only
// connection of their own. better-sqlite3 runs each statement synchronously: the dashboard's
// statistics over a million records held the gateway's thread for two seconds, every call waiting,
// and the overview asks again every 15 s. In WAL mode the reader sees every batch the writer has
// committed and neither waits for the other.
//
// The worker starts on the first read and ends after a while without one, so a gateway whose
// dashboard nobody opens pays no thread for it.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How long the worker stays after its last read. */
const IDLE_MS = 30_000;
/** How long a read may wait for a lock (a checkpoint, a write in another process): off the gateway's thread. */
const BUSY_TIMEOUT_MS = 5_000;
/**
 * The most reads that may wait for the thread at once. Each waiting read holds its request; past
 * this, a read is refused at once (the admin API answers 503 with the reason), so many
 * viewers, or one script, cannot pile up reads without end behind a slow one.
 */
export const MAX_WAITING_READS = 256;

// CommonJS, as an eval'd worker is: the same text runs from the sources under a TypeScript loader
// and from the bundle. Prepared statements are kept by their text (the sink's SQL has a handful of
// shapes; the values travel as parameters), at most 64.
const READER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
const statements = new Map();
const rowsOf = ({ sql, params }) => {
  let statement = statements.get(sql);
  if (!statement) {
    if (statements.size >= 64) statements.clear();
    statement = db.prepare(sql);
    statements.set(sql, statement);
  }
  return statement.all(...params);
};
// Several reads in one transaction see one snapshot of the log.
const together = db.transaction((reads) => reads.map(rowsOf));
parentPort.on('message', ({ id, reads }) => {
  try {
    parentPort.postMessage({ id, rows: reads.length === 1 ? [rowsOf(reads[0])] : together(reads) });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

interface Pending {
  resolve(rows: unknown[][]): void;
  reject(error: Error): void;
}

type Reply = { id: number; rows: unknown[][] } | { id: number; error: { message: string; code?: string } };

export class SqliteReadError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export class SqliteReader {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private idle: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly file: string,
    /** How long the worker stays after its last read. */
    private readonly idleMs = IDLE_MS,
  ) {}

  /** Whether the worker thread is up. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** The rows of one SELECT, run on the reader's thread. */
  async all<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    const [rows] = await this.read([{ sql, params }]);
    return rows as T[];
  }

  /** The rows of each SELECT, all read from one snapshot of the file. */
  read(reads: readonly { sql: string; params: readonly unknown[] }[]): Promise<unknown[][]> {
    if (this.closed) return Promise.reject(new SqliteReadError('the audit log is closed'));
    if (this.pending.size >= MAX_WAITING_READS)
      return Promise.reject(
        new SqliteReadError(`the audit log is busy: ${MAX_WAITING_READS} reads are waiting; try again shortly`, 'busy'),
      );
    const worker = this.started();
    const id = this.nextId++;
    clearTimeout(this.idle);
    // Waiting for an answer keeps the process alive; an idle reader does not.
    if (this.pending.size === 0) worker.ref();
    return new Promise<unknown[][]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, reads });
    });
  }

  /**
   * Fails the reads still running and ends the thread. A statement in the middle of its work ends
   * only when it returns, so closing does not wait for it: an unreferenced thread never holds the
   * process.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idle);
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new SqliteReadError('the audit log was closed while a read was running'));
    if (worker) {
      worker.unref();
      void worker.terminate();
    }
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(READER, {
      eval: true,
      workerData: { driver, file: this.file, busyTimeoutMs: BUSY_TIMEOUT_MS },
      // Plain CommonJS needs none of the process's flags (one such as --input-type=module would
      // even make the code a module).
      execArgv: [],
    });
    worker.on('message', (reply: Reply) => this.answered(reply));
    worker.on('error', (error: unknown) =>
      this.lost(worker, new SqliteReadError(`the audit log's reader failed: ${messageOf(error)}`)),
    );
    worker.on('exit', () => this.lost(worker, new SqliteReadError("the audit log's reader stopped")));
    // Attaching a 'message' listener refs the worker again: it is referenced only while a read waits.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private answered(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if ('error' in reply) waiting.reject(new SqliteReadError(reply.error.message, reply.error.code));
    else waiting.resolve(reply.rows);
    if (this.pending.size === 0) {
      this.worker?.unref();
      this.idleFromNow();
    }
  }

  /** The worker failed or ended: its reads fail, and the next read starts another. */
  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failAll(error);
  }

  private failAll(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const w of waiting) w.reject(error);
  }

  private idleFromNow(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      const worker = this.worker;
      if (!worker || this.pending.size > 0) return;
      this.worker = undefined;
      void worker.terminate();
    }, this.idleMs);
    this.idle.unref();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
