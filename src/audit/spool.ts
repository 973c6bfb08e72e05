// The audit spool: a local JSON Lines file that every record is appended to before its call is
// answered, so that a gateway killed outright (`kill -9`, out of memory) loses none of the records
// still waiting in the writer's memory. Beside it, a small file says how far the spool has been
// shipped to the sink; at the next start whatever lies beyond that is shipped first. A record can be
// shipped twice (the process dies between the sink's insert and the offset's update): records carry
// a unique `uid` and the sinks store each uid once.
//
// One append is one write(2), without fsync: what the kernel has survives the death of the process,
// not a power cut. `fsync` mode adds an fdatasync per append for that, at a real cost per call.
//
// Several gateways may share a folder (replicas on one machine): each takes the first free slot,
// held by a lock the kernel drops when its process dies (spool-slot.ts), and recovers what a dead
// owner left in it.
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { SpoolMode } from './config-schema.js';
import type { AuditRecord } from './record.js';
import { recordJson, unstorable } from './sink.js';
import { takeSlot, type SlotLock } from './spool-slot.js';

/** A spool emptied of shipped records is cut back to nothing once it is this large. */
const REWIND_BYTES = 4 * 1024 * 1024;
/**
 * A spool whose shipped records alone take this much is rewritten with only the rest. Under steady
 * load a sink that stores asynchronously (PostgreSQL) never catches up with the end of the spool,
 * since records are appended while each batch is stored, so the cut back above never comes.
 */
const COMPACT_BYTES = 32 * 1024 * 1024;
/** How much of a spool is read at a time when a gateway starts. */
const READ_CHUNK = 16 * 1024 * 1024;
const MAX_SLOTS = 64;
/**
 * The spool holds whole records, call arguments included: its files and the folder made for them
 * are their owner's only.
 */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Wide enough for any byte offset a spool can reach (Number.MAX_SAFE_INTEGER has 16 digits). */
const MARK_WIDTH = 20;

export class AuditSpool {
  private fd: number;
  /** The shipped mark's file, kept open: see markAt(). */
  private offsetFd: number;
  /** Bytes in the file. */
  private size: number;
  /** How far the file is shipped. */
  private shippedTo = 0;
  /**
   * What was cut from the front of the spool since it opened. append() and shipped() speak in
   * offsets that never go back (the writer holds them for queued records across a compaction); the
   * file's own offsets are those less `base`.
   */
  private base = 0;

  private constructor(
    readonly file: string,
    private readonly mode: Exclude<SpoolMode, 'off'>,
    private readonly slot: SlotLock,
  ) {
    this.fd = openSync(file, 'a+', FILE_MODE);
    this.size = fstatSync(this.fd).size;
    this.offsetFd = openSync(`${file}.shipped`, 'r+');
  }

  /**
   * Overwrites the shipped mark in place, padded to a fixed width so that every write covers the
   * last. Rewriting the file instead (truncate, write, close) made ext4 start writing it back to
   * the disk at every close: a cost on the gateway's thread at every stored batch.
   */
  private markAt(end: number): void {
    writeSync(this.offsetFd, String(end).padEnd(MARK_WIDTH), 0);
  }

  /**
   * Takes a slot for `sink` in `dir` and returns it with the records a previous gateway appended but
   * never shipped, oldest first: the writer queues them before anything new.
   */
  static open(
    dir: string,
    sink: string,
    mode: Exclude<SpoolMode, 'off'>,
  ): { spool: AuditSpool; leftovers: { record: AuditRecord; end: number }[] } {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    // Named after the sink: a spool's records only ever go to the sink they were meant for. Not
    // after its password, which an operator rotates: the records still belong to that sink.
    const base = spoolBase(dir, withoutPassword(sink));
    // Before, the name hashed the whole URL: what such a spool left is taken over, once.
    const named = spoolBase(dir, sink);
    const before = named === base ? undefined : named;
    for (let n = 0; n < MAX_SLOTS; n++) {
      const slot = takeSlot(`${base}-${n}`);
      if (!slot) continue;
      try {
        return AuditSpool.openIn(`${base}-${n}.jsonl`, slot, before, mode);
      } catch (error) {
        slot.release();
        throw error;
      }
    }
    throw new Error(`every audit spool slot in ${dir} is held by a running process (${MAX_SLOTS})`);
  }

  /** Opens the spool `file` of a slot just taken, with what it (and spools named the earlier way) left. */
  private static openIn(
    file: string,
    slot: SlotLock,
    before: string | undefined,
    mode: Exclude<SpoolMode, 'off'>,
  ): { spool: AuditSpool; leftovers: { record: AuditRecord; end: number }[] } {
    const adopted = before === undefined ? undefined : adoptLeftovers(before);
    try {
      const leftovers = [...unshipped(file, readOffset(`${file}.shipped`)), ...(adopted?.records ?? [])];
      // The leftovers start a fresh spool: its offsets begin at zero, and a line a power cut left
      // half written is gone. Offset first, then the rename: a death between them ships the old
      // spool again from its start, which the sink's uid makes harmless.
      const fresh = `${file}.tmp`;
      const lines = leftovers.map((r) => Buffer.from(JSON.stringify(r) + '\n', 'utf8'));
      // A fresh file each time, so that the mode is this one: a spool an earlier version left
      // world readable becomes private at the rename.
      rmSync(fresh, { force: true });
      writeFileSync(fresh, Buffer.concat(lines), { mode: FILE_MODE });
      if (mode === 'fsync') syncFile(fresh);
      writeFileSync(`${file}.shipped`, '0', { mode: FILE_MODE });
      renameSync(fresh, file);
      // Only now that their records are in this spool.
      adopted?.remove();
      let end = 0;
      const placed = leftovers.map((record, i) => ({ record, end: (end += lines[i]!.length) }));
      return { spool: new AuditSpool(file, mode, slot), leftovers: placed };
    } finally {
      // Their records are in this spool now, or it failed to open: either way they are let go.
      adopted?.release();
    }
  }

  /**
   * Appends one record; returns where it ends in the spool, for shipped(). A record that cannot be
   * serialised throws UnstorableRecordError (no sink could store it either); a failing disk, its own error.
   */
  append(record: AuditRecord): number {
    let line: Buffer;
    try {
      line = Buffer.from(recordJson(record) + '\n', 'utf8');
    } catch (error) {
      throw unstorable(error);
    }
    writeSync(this.fd, line);
    if (this.mode === 'fsync') fdatasyncSync(this.fd);
    this.size += line.length;
    return this.base + this.size;
  }

  /** Everything up to `end` (an offset append() gave) is stored in the sink. */
  shipped(end: number): void {
    const at = end - this.base;
    if (at <= 0) return;
    this.shippedTo = at;
    if (at >= this.size && this.size >= REWIND_BYTES) {
      // Offset first: a death before the truncation ships the old spool again (stored once). On
      // disk before the cut, too: a mark left at the old end after a power cut would skip the
      // records of the new spool up to it.
      this.markAt(0);
      fdatasyncSync(this.offsetFd);
      ftruncateSync(this.fd, 0);
      this.cutFront(at, 0);
      return;
    }
    if (at >= COMPACT_BYTES) {
      try {
        return this.compact(at);
      } catch (error) {
        // The old file is still the spool (the rename is the last step that can fail): its mark
        // goes where it belongs, and the next batch tries again.
        this.markAt(at);
        try {
          rmSync(`${this.file}.tmp`, { force: true });
        } catch {
          // Left for the next try, which removes it first.
        }
        throw error;
      }
    }
    this.markAt(at);
  }

  /**
   * Rewrites the spool with only what lies after `at`, the records not yet stored. The mark goes to
   * 0 first, and is on disk, before the new file takes the old one's place: a death between them
   * ships the old spool again from its start (stored once), never the new one from a mark past
   * records it has not shipped.
   */
  private compact(at: number): void {
    const rest = Buffer.alloc(this.size - at);
    readSync(this.fd, rest, 0, rest.length, at);
    const fresh = `${this.file}.tmp`;
    rmSync(fresh, { force: true });
    writeFileSync(fresh, rest, { mode: FILE_MODE });
    // Opened before the rename: the descriptor follows the file, so nothing can fail after it.
    const fd = openSync(fresh, 'a+', FILE_MODE);
    try {
      if (this.mode === 'fsync') fdatasyncSync(fd);
      this.markAt(0);
      fdatasyncSync(this.offsetFd);
      renameSync(fresh, this.file);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const old = this.fd;
    this.fd = fd;
    this.cutFront(at, rest.length);
    closeSync(old);
  }

  /** The first `at` bytes are gone from the file, which now holds `left`. */
  private cutFront(at: number, left: number): void {
    this.base += at;
    this.size = left;
    this.shippedTo = 0;
  }

  /** Closes the spool and frees its slot; an empty spool is removed. */
  close(): void {
    const empty = this.shippedTo >= this.size;
    closeSync(this.fd);
    closeSync(this.offsetFd);
    // A spool whose slot a later one of this process took over: the files are that one's now.
    if (empty && this.slot.holds()) {
      rmSync(this.file, { force: true });
      rmSync(`${this.file}.shipped`, { force: true });
    }
    this.slot.release();
  }
}

function spoolBase(dir: string, sink: string): string {
  return path.join(dir, `audit-spool-${createHash('sha256').update(sink).digest('hex').slice(0, 12)}`);
}

/** The sink's URL without its password; a URL that does not parse, as it is. */
function withoutPassword(sink: string): string {
  try {
    const url = new URL(sink);
    if (url.password === '') return sink;
    url.password = '';
    return url.toString();
  } catch {
    return sink;
  }
}

/**
 * The unshipped records of the spools at `base` that no running process holds, and how to remove
 * those spools once their records are safe elsewhere.
 */
function adoptLeftovers(base: string): { records: AuditRecord[]; remove(): void; release(): void } {
  const records: AuditRecord[] = [];
  const taken: { file: string; slot: SlotLock }[] = [];
  const release = () => {
    for (const { slot } of taken) slot.release();
  };
  try {
    for (let n = 0; n < MAX_SLOTS; n++) {
      const file = `${base}-${n}.jsonl`;
      if (!existsSync(file)) continue;
      const slot = takeSlot(`${base}-${n}`);
      if (!slot) continue;
      taken.push({ file, slot });
      records.push(...unshipped(file, readOffset(`${file}.shipped`)));
    }
  } catch (error) {
    release();
    throw error;
  }
  return {
    records,
    remove: () => {
      for (const { file } of taken) for (const f of [file, `${file}.shipped`]) rmSync(f, { force: true });
    },
    release,
  };
}

function syncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readOffset(file: string): number {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * The well-formed records after byte `offset`; an offset past the end means the spool was cut back.
 * Read from the offset on, a chunk at a time: what lies before it is stored already, and a file
 * larger than a string or a buffer can hold must not keep the gateway from starting.
 */
function unshipped(file: string, offset: number): AuditRecord[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: AuditRecord[] = [];
  const take = (line: Buffer) => {
    const text = line.toString('utf8');
    if (!text.trim()) return;
    try {
      const value = JSON.parse(text) as AuditRecord;
      if (value && typeof value === 'object' && typeof value.ts === 'number') out.push(value);
    } catch {
      // A line a power cut left half written: nothing of it can be trusted.
    }
  };
  try {
    const size = fstatSync(fd).size;
    let position = offset <= size ? offset : 0;
    let carried = Buffer.alloc(0);
    const chunk = Buffer.alloc(Math.min(READ_CHUNK, Math.max(size - position, 1)));
    while (position < size) {
      const n = readSync(fd, chunk, 0, chunk.length, position);
      if (n <= 0) break;
      position += n;
      let data = Buffer.concat([carried, chunk.subarray(0, n)]);
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10)) {
        take(data.subarray(0, nl));
        data = data.subarray(nl + 1);
      }
      carried = Buffer.from(data);
    }
    take(carried);
  } finally {
    closeSync(fd);
  }
  return out;
}
