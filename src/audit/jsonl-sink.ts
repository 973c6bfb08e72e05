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
      await mkdir(dirname(this.file), { recursive: true });
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
    await appendFile(this.file, text);
  }

  async query(q: AuditQuery): Promise<AuditPage> {
    const size = pageSize(q.limit);
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const found: StoredAuditRecord[] = [];
    await this.scan((r) => {
      if (!matchesFilter(r, q)) return;
      if (cursor && !(r.ts < cursor.ts || (r.ts === cursor.ts && compareIds(r.id, cursor.id) < 0))) return;
      found.push(r);
    });
    found.sort((a, b) => b.ts - a.ts || compareIds(b.id, a.id));
    const records = found.slice(0, size);
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
