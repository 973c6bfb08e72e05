// The lock of one audit spool slot (see spool.ts). It is the kernel's: an exclusive SQLite
// transaction held open on a small file beside the spool (`<slot>.held`), which the kernel drops
// when the process dies, however it dies. Lock files naming a process id told a live holder from a
// dead one only within one set of process ids: gateways in containers sharing the folder (each its
// own pid 1) took each other's slots, and taking over a dead one's lock file raced.
//
// Nothing else in the process may open the `.held` file: closing any descriptor of a file drops
// every lock the process holds on it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createPrivately, isBusy } from '../store/sqlite-connection.js';

export interface SlotLock {
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
  const db = new Database(file, { timeout: 0 });
  try {
    // No journal file: nothing is ever written to this database.
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if (isBusy(error)) return undefined;
    throw error;
  }
  // A Gatehouse from before these locks holds its slot with `<slot>.lock`, naming its process, and
  // reads only that: the slot is left to it, and this process names itself there too.
  const legacy = `${prefix}.lock`;
  if (isRunning(legacyOwner(legacy))) {
    db.close();
    return undefined;
  }
  try {
    writeFileSync(legacy, String(process.pid), { mode: 0o600 });
  } catch (error) {
    db.close();
    throw error;
  }
  heldHere.set(file, db);
  return {
    release: () => {
      if (heldHere.get(file) !== db) return;
      heldHere.delete(file);
      if (legacyOwner(legacy) === process.pid) rmSync(legacy, { force: true });
      // The file stays: removed, a process that had just opened it would lock a file no longer
      // there while the next one made and locked a new one.
      db.close();
    },
  };
}

function legacyOwner(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return 0;
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
