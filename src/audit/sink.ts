// A sink stores batches of records. It may be slow or down: the batching writer (writer.ts) calls
// it off the call path, retries what it refuses, and is the only thing that ever waits for it.
import type { AuditReader } from './query.js';
import type { AuditRecord } from './record.js';
import type { AuditSummary, StatsQuery } from './stats.js';

export interface AuditSink extends AuditReader {
  readonly kind: 'sqlite' | 'postgres' | 'jsonl';
  /** Stores the whole batch, or nothing of it (then throws). */
  insert(records: AuditRecord[]): Promise<void>;
  /** Deletes records older than `before` (ms since the epoch); the count deleted. Absent: the operator rotates. */
  prune?(before: number): Promise<number>;
  close(): Promise<void>;
  /** Calls and decisions over time, top tools and top denials (stats.ts). */
  summarize(q: StatsQuery): Promise<AuditSummary>;
}
