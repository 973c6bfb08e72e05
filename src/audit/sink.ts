// A sink stores batches of records. It may be slow or down: the batching writer (writer.ts) calls
// it off the call path, retries what it refuses, and is the only thing that ever waits for it.
import type { AuditReader } from './query.js';
import type { AuditRecord } from './record.js';
import type { AuditSummary, StatsQuery } from './stats.js';

export interface AuditSink extends AuditReader {
  readonly kind: 'sqlite' | 'postgres' | 'jsonl';
  /**
   * Stores the whole batch, or nothing of it (then throws). Throws UnstorableRecordError when the
   * batch itself is at fault, any other error when the sink is (down, busy, full).
   */
  insert(records: AuditRecord[]): Promise<void>;
  /** Deletes records older than `before` (ms since the epoch); the count deleted. Absent: the operator rotates. */
  prune?(before: number): Promise<number>;
  close(): Promise<void>;
  /** Calls and decisions over time, top tools and top denials (stats.ts). */
  summarize(q: StatsQuery): Promise<AuditSummary>;
}

/**
 * A batch that can never be stored as it is, however often it is tried: a record that cannot be
 * serialised (nested too deep for the stack, too long for a string), or that the database refuses
 * as data. A sink that is down throws anything else. The writer retries the latter unchanged, and
 * splits the former to store what can be stored (writer.ts).
 */
export class UnstorableRecordError extends Error {
  override readonly name = 'UnstorableRecordError';
}

/** The record as JSON text; UnstorableRecordError when it cannot be serialised. */
export function recordJson(record: AuditRecord, replacer?: (key: string, value: unknown) => unknown): string {
  try {
    return JSON.stringify(record, replacer);
  } catch (error) {
    throw unstorable(error);
  }
}

/** `error`, a fault of the records themselves, as an UnstorableRecordError. */
export function unstorable(error: unknown): UnstorableRecordError {
  if (error instanceof UnstorableRecordError) return error;
  const why = error instanceof Error ? error.message : String(error);
  return new UnstorableRecordError(`the record cannot be stored (${why})`, { cause: error });
}
