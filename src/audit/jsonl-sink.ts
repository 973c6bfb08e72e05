// The audit log as a JSON Lines file: one record per line, appended. Each batch opens the file by
// its path, so an operator's rotation (rename, then a new file; or copy and truncate) takes effect
// at the next batch. Gatehouse never deletes lines: retention is the operator's rotation.
// Reading scans the whole file; a record's id is its line number in the current file.
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, stat } from 'node:fs/promises';
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

export class JsonlAuditSink implements AuditSink {
  readonly kind = 'jsonl';
  private madeDir = false;

  constructor(readonly file: string) {}

  async insert(records: AuditRecord[]): Promise<void> {
    if (!this.madeDir) {
      // Records hold call arguments: a folder or file made here is its owner's only. A file the
      // operator's rotation creates keeps the mode the operator gives it.
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      this.madeDir = true;
    }
    // One write per batch: a crash leaves at most the batch's last line cut short, which readers skip.
    let text: string;
    try {
      text = records.map((r) => recordJson(r) + '\n').join('');
    } catch (error) {
      // A record that cannot be serialised, or a batch too long for one string: the batch's fault.
      throw unstorable(error);
    }
    await appendFile(this.file, text, { mode: 0o600 });
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
    await this.scan((r) => {
      if (found.length < limit && (id === undefined || compareIds(r.id, id) > 0) && matchesFilter(r, filter))
        found.push(r);
    });
    return found;
  }

  /** A scan of the whole file (no index): its cost grows with the file until the operator rotates it. */
  async summarize(q: StatsQuery): Promise<AuditSummary> {
    const fold = new SummaryFold(q);
    await this.scan((r) => fold.add(r));
    return summarize(q, fold.rows());
  }

  async lastId(): Promise<string | undefined> {
    let last: string | undefined;
    await this.scan((r) => (last = r.id));
    return last;
  }

  async close(): Promise<void> {}

  /** Every well-formed record of the file in order; a missing file holds none. */
  private async scan(each: (record: StoredAuditRecord) => void): Promise<void> {
    const exists = await stat(this.file).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    if (!exists) return;
    const stream = createReadStream(this.file, { encoding: 'utf8' });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let line = 0;
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
