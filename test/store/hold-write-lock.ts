// Another connection's write lock on an SQLite file, held from a worker thread. better-sqlite3 waits
// for a lock synchronously, so a lock held on this thread could never be let go while a write here
// waits for it; from a worker it can, and the two threads order their steps through shared flags
// instead of the clock.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Indexes into the shared flags.
const WRITING = 0; // set here just before the write that is to meet the lock
const RELEASED = 1; // set by the worker just before it lets go, so a write that got the lock always sees it
const END = 2; // set here to make the worker let go at once

// CommonJS, as an eval'd worker is: it needs no loader for TypeScript.
const HOLDER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const flags = new Int32Array(workerData.flags);
const db = new Database(workerData.file);
db.exec('BEGIN IMMEDIATE');
parentPort.postMessage('locked');
Atomics.wait(flags, ${WRITING}, 0);
Atomics.wait(flags, ${END}, 0, workerData.holdMs);
Atomics.store(flags, ${RELEASED}, 1);
db.exec('ROLLBACK');
db.close();
`;

export interface HeldLock {
  /** Call just before the write that should meet the lock: the hold is counted from here. */
  writing(): void;
  /** Whether the worker has let the lock go (or is letting it go). */
  released(): boolean;
  /** Lets the lock go now (if it is still held) and resolves once the worker has exited. */
  end(): Promise<void>;
}

/** Takes the write lock on `file` and holds it for `holdMs` after `writing()` is called. */
export async function holdWriteLock(file: string, holdMs: number): Promise<HeldLock> {
  const flags = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(HOLDER, { eval: true, workerData: { driver, file, holdMs, flags: flags.buffer } });
  // A worker that failed reports it through the 'message' wait below; end() then only waits for it.
  const exited = once(worker, 'exit').catch(() => undefined);
  // Rejects with the worker's error if it could not take the lock.
  await once(worker, 'message');
  const signal = (index: number): void => {
    Atomics.store(flags, index, 1);
    Atomics.notify(flags, index);
  };
  return {
    writing: () => signal(WRITING),
    released: () => Atomics.load(flags, RELEASED) === 1,
    async end() {
      signal(WRITING);
      signal(END);
      await exited;
    },
  };
}
