// The lock of one audit spool slot (see spool.ts). It is the kernel's: a SQLite write transaction
// held open on a small file beside the spool (`<slot>.held`), whose lock the kernel drops when the
// process dies, however it dies. Lock files naming a process id told a live holder from a
// dead one only within one set of process ids: gateways in containers sharing the folder (each its
// own pid 1) took each other's slots, and taking over a dead one's lock file raced.
//
// Nothing else in the process may open the `.held` file: closing any descriptor of a file drops
// every lock the process holds on it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createPrivately, isBusy } from '../store/sqlite-connection.js';

export interface SlotLock {
  /** Whether this process still holds the slot for its spool: not taken over by a later one here. */
  holds(): boolean;
  /** Lets the slot go; a spool whose slot this process took over since has nothing to let go. */
  release(): void;
}

/** The slot locks this process holds, by file. */
const heldHere = new Map<string, Database.Database>();

/**
 * Takes the lock of the slot whose files start with `prefix` (`<spool base>-<n>`), or returns
 * undefined when another running process holds it.
 */
export function takeSlot(prefix: string): SlotLock | undefined {
  const file = `${prefix}.held`;
  // An earlier spool of this process still holds it: taken over as from a process that died (a
  // gateway restarted within one process, a test standing in for a killed gateway), as before.
  heldHere.get(file)?.close();
  heldHere.delete(file);
  // Made here only when it is not there, so no descriptor of a file this process locks is closed.
  createPrivately(file);
  const db = openLocked(file);
  if (!db) return undefined;
  // A Gatehouse from before these locks holds its slot with `<slot>.lock`, naming its process, and
  // reads only that: the slot is left to it, and this process names itself there too. What this
  // version writes there ends with a newline, which the earlier ones read past: such a lock is
  // never a reason to pass a slot by, so that one a dead holder left (its process id another
  // process's now, or pid 1 seen from outside its container) does not keep the slot forever.
  const legacy = `${prefix}.lock`;
  const before = legacyLock(legacy);
  if (before && !before.ours && isRunning(before.pid)) {
    db.close();
    return undefined;
  }
  try {
    writeFileSync(legacy, `${process.pid}\n`, { mode: 0o600 });
  } catch (error) {
    db.close();
    throw error;
  }
  heldHere.set(file, db);
  return {
    holds: () => heldHere.get(file) === db,
    release: () => {
      if (heldHere.get(file) !== db) return;
      heldHere.delete(file);
      try {
        if (legacyLock(legacy)?.pid === process.pid) rmSync(legacy, { force: true });
      } finally {
        // The file stays: removed, a process that had just opened it would lock a file no longer
        // there while the next one made and locked a new one.
        db.close();
      }
    },
  };
}

/** A connection holding `file`'s write lock; undefined when another process holds it. */
function openLocked(file: string): Database.Database | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: 0 });
    // No journal file: nothing is ever written to this database. IMMEDIATE, not EXCLUSIVE: of two
    // processes trying a free slot at once, one takes its write lock; for EXCLUSIVE each could
    // hold the shared lock the other needed gone, and both would pass the slot by.
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN IMMEDIATE');
    return db;
  } catch (error) {
    db?.close();
    if (isBusy(error)) return undefined;
    throw new Error(
      `the slot lock ${file} could not be taken (${error instanceof Error ? error.message : String(error)}); it must be a file the user running Gatehouse can read and write`,
      { cause: error },
    );
  }
}

/** The process a `.lock` names, and whether this version wrote it. */
function legacyLock(file: string): { pid: number; ours: boolean } | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    return { pid: Number(text.trim()), ours: text.endsWith('\n') };
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  // Our own id in a lock we do not hold is a previous life of this process (pid 1 in a container).
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
