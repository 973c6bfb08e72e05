// Reading the audit log: the filters every sink understands, pages newest first with an opaque
// cursor, and the "stored after" reads that a live tail polls with. A record read back carries the
// sink's id for it: a number that grows in the order records were stored.
import type { AuditDecision, AuditRecord } from './record.js';

export interface AuditFilter {
  server?: string;
  tool?: string;
  grant?: string;
  agent?: string;
  decision?: AuditDecision | string;
  /** Milliseconds since the epoch, inclusive. */
  since?: number;
  /** Milliseconds since the epoch, exclusive. */
  until?: number;
}

export interface AuditQuery extends AuditFilter {
  /** Page size; default 100, at most 1000. */
  limit?: number;
  /** From a previous page's `next_cursor`. */
  cursor?: string;
}

/** A stored record with its id in the sink (decimal text: PostgreSQL ids exceed 2^53 in theory). */
export type StoredAuditRecord = AuditRecord & { id: string };

export interface AuditPage {
  /** Newest first (by `ts`, then by id). */
  records: StoredAuditRecord[];
  /** Null when there is nothing older. */
  next_cursor: string | null;
}

/** What a sink that can be read offers. */
export interface AuditReader {
  query(q: AuditQuery): Promise<AuditPage>;
  /** Records stored after the one with this id (all of them when undefined), oldest first. */
  after(id: string | undefined, filter: AuditFilter, limit: number): Promise<StoredAuditRecord[]>;
  /** The id of the last record stored, if any: where a live tail starts. */
  lastId(): Promise<string | undefined>;
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export function pageSize(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_PAGE;
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(limit)));
}

/** Where a page ends: the last record's time and id. */
export interface CursorPosition {
  ts: number;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.ts}:${position.id}`).toString('base64url');
}

export class CursorError extends Error {
  override readonly name = 'CursorError';
}

export function decodeCursor(cursor: string): CursorPosition {
  const text = Buffer.from(cursor, 'base64url').toString();
  const m = /^(-?\d+):(\d+)$/.exec(text);
  if (!m) throw new CursorError('the cursor is not one this audit log gave out');
  return { ts: Number(m[1]), id: m[2]! };
}

/** The cursor of a page of `size` that returned `records`: null when the page was not full. */
export function nextCursor(records: StoredAuditRecord[], size: number): string | null {
  const last = records[records.length - 1];
  return records.length === size && last ? encodeCursor({ ts: last.ts, id: last.id }) : null;
}

/** Whether a record passes a filter; for sinks that scan (JSON Lines). */
export function matchesFilter(r: AuditRecord, f: AuditFilter): boolean {
  return (
    (f.server === undefined || r.server === f.server) &&
    (f.tool === undefined || r.tool === f.tool) &&
    (f.grant === undefined || r.grant === f.grant) &&
    (f.agent === undefined || r.agent === f.agent) &&
    (f.decision === undefined || r.decision === f.decision) &&
    (f.since === undefined || r.ts >= f.since) &&
    (f.until === undefined || r.ts < f.until)
  );
}

/** Compares ids as numbers without losing precision. */
export function compareIds(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/** Every record the filter selects, newest first, read page by page. */
export async function readAllRecords(
  reader: Pick<AuditReader, 'query'>,
  filter: AuditFilter = {},
): Promise<StoredAuditRecord[]> {
  const all: StoredAuditRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await reader.query({ ...filter, limit: MAX_PAGE, ...(cursor ? { cursor } : {}) });
    all.push(...page.records);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return all;
}
