// The audit log as a JSON Lines file: one record per line, appended. Each batch opens the file by
// its path, so an operator's rotation (rename, then a new file; or copy and truncate) takes effect
// at the next batch. Gatehouse never deletes lines: retention is the operator's rotation.
// Reading scans the whole file; a record's id is its line number in the current file.
// A file keeps no index of the records' uids, as the databases do, so a record shipped twice (the
// gateway died between appending a batch and marking it shipped in its spool, spool.ts) is found
// where it can only be: those records are the first that the next start ships, and the file's
// last lines.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import {
  compareIds,
  decodeCursor,
  matchesFilter,
  nextCursor,
  pageSize,
  type AuditFilter,
  type AuditPage,
  type AuditQuery,
  type StoredAuditRecord,
} from './query.js';
import type { AuditRecord } from './record.js';
import { recordJson, unstorable, type AuditSink } from './sink.js';
import { summarize, SummaryFold, type AuditSummary, type StatsQuery } from './stats.js';

/** Read past a batch's own length at the file's end: lines written again may be longer than before. */
const TAIL_SLACK_BYTES = 64 * 1024;

export class JsonlAuditSink implements AuditSink {
  readonly kind = 'jsonl';
  private madeDir = false;
  /**
   * Set while the next append must first look at the file's end: at the first insert, and after an
   * append that failed. Records at the head of the batch that the file's last lines already hold
   * are the ones shipped twice (or appended by the failed try), and are skipped; a last line cut
   * short by a crash is ended first, or it would swallow the first record appended after it. The
   * bytes of whole batches skipped so far widen the look at the file's end for the next one.
   */
  private checking: { skippedBytes: number } | undefined = { skippedBytes: 0 };

  constructor(readonly file: string) {}

  async insert(records: AuditRecord[]): Promise<void> {
    if (!this.madeDir) {
      // Records hold call arguments: a folder or file made here is its owner's only. A file the
      // operator's rotation creates keeps the mode the operator gives it.
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      this.madeDir = true;
    }
    // One write per batch: a crash leaves at most the batch's last line cut short, which readers skip.
    let lines: string[];
    let text: string;
    try {
      lines = records.map((r) => recordJson(r) + '\n');
      text = lines.join('');
    } catch (error) {
      // A record that cannot be serialised, or a batch too long for one string: the batch's fault.
      throw unstorable(error);
    }
    if (this.checking) {
      const bytes = Buffer.byteLength(text);
      const end = await this.fileEnd(bytes + this.checking.skippedBytes + TAIL_SLACK_BYTES);
      let k = 0;
      while (k < records.length && records[k]!.uid !== undefined && end.uids.has(records[k]!.uid!)) k++;
      if (k === records.length) {
        this.checking.skippedBytes += bytes;
        return;
      }
      if (k > 0) text = lines.slice(k).join('');
      if (end.cutShort) text = '\n' + text;
    }
    try {
      await appendFile(this.file, text, { mode: 0o600 });
    } catch (error) {
      // Part of the batch may be in the file: the writer's next try looks at its end again.
      this.checking = { skippedBytes: 0 };
      throw error;
    }
    this.checking = undefined;
  }

  /**
   * The uids of the records whose whole lines are in the last `bytes` of the file, and whether its
   * last line is cut short. Nothing is known of a file that is missing, empty, not a regular file
   * (a pipe would block the read) or not readable (a log the gateway may only append to).
   */
  private async fileEnd(bytes: number): Promise<{ uids: Set<string>; cutShort: boolean }> {
    const uids = new Set<string>();
    const nothing = { uids, cutShort: false };
    let handle;
    let size: number;
    try {
      const info = await stat(this.file);
      if (!info.isFile() || info.size === 0) return nothing;
      size = info.size;
      handle = await open(this.file, 'r');
    } catch {
      return nothing;
    }
    try {
      const from = Math.max(0, size - bytes);
      const tail = Buffer.alloc(size - from);
      const { bytesRead } = await handle.read(tail, 0, tail.length, from);
      // The first line may be cut at `from`, and the last one by a crash: neither parses.
      for (const line of tail.subarray(0, bytesRead).toString('utf8').split('\n')) {
        if (!line.includes('"uid"')) continue;
        try {
          const uid = (JSON.parse(line) as { uid?: unknown }).uid;
          if (typeof uid === 'string') uids.add(uid);
        } catch {
          // not a whole record
        }
      }
      return { uids, cutShort: bytesRead > 0 && tail[bytesRead - 1] !== 0x0a };
    } catch {
      return nothing;
    } finally {
      await handle.close();
    }
  }

  async query(q: AuditQuery): Promise<AuditPage> {
    const size = pageSize(q.limit);
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    // Only the page is kept while the file is read: a log of millions of lines must not be held
    // in memory to answer for a hundred of them.
    const page = new NewestRecords(size);
    await this.scan((r) => {
      if (!matchesFilter(r, q)) return;
      if (cursor && !(r.ts < cursor.ts || (r.ts === cursor.ts && compareIds(r.id, cursor.id) < 0))) return;
      page.offer(r);
    });
    const records = page.newestFirst();
    return { records, next_cursor: nextCursor(records, size) };
  }

  async after(id: string | undefined, filter: AuditFilter, limit: number): Promise<StoredAuditRecord[]> {
    const found: StoredAuditRecord[] = [];
    // The tail asks every two seconds for what came after the last line it had: the lines up to
    // it are counted, not read as records. (An id that is not a line number is compared with every
    // record's, as before.)
    const skip = id !== undefined && LINE_NUMBER.test(id) ? Number(id) : 0;
    await this.scan((r) => {
      if (found.length < limit && (id === undefined || compareIds(r.id, id) > 0) && matchesFilter(r, filter))
        found.push(r);
    }, skip);
    return found;
  }

  /** A scan of the whole file (no index): its cost grows with the file until the operator rotates it. */
  async summarize(q: StatsQuery): Promise<AuditSummary> {
    const fold = new SummaryFold(q);
    await this.scan((r) => fold.add(r));
    return summarize(q, fold.rows());
  }

  async lastId(): Promise<string | undefined> {
    // The last few lines are read as records; the rest only counted. Should none of them be a
    // record (a run of cut or foreign lines at the end), the whole file is read.
    const { lines, recent } = await lineStarts(this.file, Infinity, LAST_LINES_READ);
    let last: string | undefined;
    if (lines > 0) await this.scan((r) => (last = r.id), recent[0]!.line - 1, recent[0]!.offset);
    if (last === undefined && lines > LAST_LINES_READ) await this.scan((r) => (last = r.id));
    return last;
  }

  async close(): Promise<void> {}

  /**
   * Every well-formed record of the file in order, after its first `skip` lines (which are only
   * counted; `offset`, when known, is where line `skip + 1` starts); a missing file holds none.
   */
  private async scan(each: (record: StoredAuditRecord) => void, skip = 0, offset?: number): Promise<void> {
    const exists = await stat(this.file).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    if (!exists) return;
    let start = 0;
    if (skip > 0) {
      if (offset === undefined) {
        const found = await lineStarts(this.file, skip, 0);
        if (found.lines < skip) return;
        start = found.offset;
      } else start = offset;
    }
    const stream = createReadStream(this.file, { encoding: 'utf8', start });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let line = skip;
    try {
      for await (const text of lines) {
        line++;
        const record = parseLine(text);
        if (record) each({ ...record, id: String(line) });
      }
    } finally {
      lines.close();
      stream.destroy();
    }
  }
}

/** Newest first: by time, then by id. */
function newer(a: StoredAuditRecord, b: StoredAuditRecord): number {
  return b.ts - a.ts || compareIds(b.id, a.id);
}

/**
 * The `size` newest records offered, in a binary heap whose root is the oldest of them: each record
 * is kept or let go in O(log size), whatever order the file holds them in.
 */
class NewestRecords {
  private readonly heap: StoredAuditRecord[] = [];

  constructor(private readonly size: number) {}

  offer(r: StoredAuditRecord): void {
    const heap = this.heap;
    if (heap.length < this.size) {
      heap.push(r);
      this.up(heap.length - 1);
    } else if (newer(r, heap[0]!) < 0) {
      heap[0] = r;
      this.down(0);
    }
  }

  newestFirst(): StoredAuditRecord[] {
    return [...this.heap].sort(newer);
  }

  /** Whether the record at i belongs above the one at j (it is older). */
  private above(i: number, j: number): boolean {
    return newer(this.heap[i]!, this.heap[j]!) > 0;
  }

  private swap(i: number, j: number): void {
    [this.heap[i], this.heap[j]] = [this.heap[j]!, this.heap[i]!];
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let top = i;
      if (l < this.heap.length && this.above(l, top)) top = l;
      if (r < this.heap.length && this.above(r, top)) top = r;
      if (top === i) return;
      this.swap(i, top);
      i = top;
    }
  }
}

/** An id as the file's own records have it: a line number. */
const LINE_NUMBER = /^[1-9][0-9]{0,14}$/;
/** How many of the file's last lines lastId() reads as records. */
const LAST_LINES_READ = 16;

/** How much of the file lineStarts() reads at a time. */
export const READ_BYTES = 1 << 20;

const LF = 10;
const CR = 13;

/**
 * Counts the file's lines as readline splits them (at `\n`, `\r\n` and a lone `\r`), reading
 * bytes and never text, until `upTo` lines have ended. Answers how many lines it counted (the
 * last one counts even without a line break), the byte at which the line after them starts, and
 * the line numbers and starts of the last `keep` lines.
 */
async function lineStarts(
  file: string,
  upTo: number,
  keep: number,
): Promise<{ lines: number; offset: number; recent: { line: number; offset: number }[] }> {
  let breaks = 0;
  let lineStart = 0;
  let position = 0;
  // A `\r` at the end of a chunk: a `\n` first in the next one belongs to the same break.
  let afterCr = false;
  const recent: { line: number; offset: number }[] = keep > 0 ? [{ line: 1, offset: 0 }] : [];
  const ended = (next: number): boolean => {
    breaks++;
    lineStart = next;
    if (keep > 0) {
      recent.push({ line: breaks + 1, offset: next });
      if (recent.length > keep + 1) recent.shift();
    }
    return breaks >= upTo;
  };
  const stream = createReadStream(file, { highWaterMark: READ_BYTES });
  try {
    // A missing file has no lines (a log not written yet, or rotated away a moment ago).
    await once(stream, 'open').catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      stream.destroy();
    });
    if (stream.destroyed) return { lines: 0, offset: 0, recent: [] };
    outer: for await (const chunk of stream as AsyncIterable<Buffer>) {
      let i = 0;
      if (afterCr) {
        afterCr = false;
        if (chunk[0] === LF) {
          lineStart = position + 1;
          if (keep > 0) recent[recent.length - 1]!.offset = lineStart;
          if (breaks >= upTo) break;
          i = 1;
        } else if (breaks >= upTo) break;
      }
      // The next `\n` and `\r` at or after i, searched again only once i has passed them: a
      // search that finds none scans to the chunk's end, and must not do so at every line.
      let lf = chunk.indexOf(LF, i);
      let cr = chunk.indexOf(CR, i);
      while (i < chunk.length) {
        if (lf !== -1 && lf < i) lf = chunk.indexOf(LF, i);
        if (cr !== -1 && cr < i) cr = chunk.indexOf(CR, i);
        const at = cr !== -1 && (lf === -1 || cr < lf) ? cr : lf;
        if (at === -1) break;
        if (chunk[at] === CR) {
          if (at + 1 === chunk.length) {
            afterCr = true;
            // Counted now; the `\n` that may follow moves the next line's start past itself.
            ended(position + at + 1);
            i = chunk.length;
            continue;
          }
          const next = chunk[at + 1] === LF ? at + 2 : at + 1;
          if (ended(position + next)) break outer;
          i = next;
        } else {
          if (ended(position + at + 1)) break outer;
          i = at + 1;
        }
      }
      position += chunk.length;
    }
  } finally {
    stream.destroy();
  }
  const size = Math.max(position, lineStart);
  const lines = breaks >= upTo ? breaks : breaks + (lineStart < size ? 1 : 0);
  // The line after the last break exists only when it has bytes.
  if (keep > 0 && recent.length > 0 && recent[recent.length - 1]!.offset >= size) recent.pop();
  // Fewer lines than asked for: what follows them is the end of the file.
  return { lines, offset: breaks >= upTo ? lineStart : size, recent: recent.slice(-keep) };
}

function parseLine(text: string): AuditRecord | undefined {
  if (!text.trim()) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && typeof (value as AuditRecord).ts === 'number')
      return value as AuditRecord;
  } catch {
    // A line cut short by a crash or a concurrent rotation; the rest of the file is still readable.
  }
  return undefined;
}
