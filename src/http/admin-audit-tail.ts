// `GET /api/v1/audit/tail?after=<id>&server=&tool=&grant=&agent=&decision=&limit=`: the live tail
// of the audit log, polled. Without `after` it answers no records and the id to start from; with it,
// the records stored since (oldest first, at most `limit`) and the id to ask after next.
//
// A record can be megabytes: the tool name of a call to a tool the server does not have is whatever
// the agent sent, up to the body limit. So records are read a few at a time and an answer stops
// once it holds MAX_ANSWER_CHARS (at least one record, so the tail always moves on); `last_id` then
// names the last record sent and the next poll carries on from there. One poll never holds a
// thousand such records at once.
import type { ServerResponse } from 'node:http';
import { parseAuditParams } from '../audit/api-query.js';
import { MAX_PAGE, type AuditFilter, type StoredAuditRecord } from '../audit/query.js';
import type { AuditLog } from '../audit/record.js';
import { sendJson } from './respond.js';

/** Records read from the log at a time. */
const CHUNK = 25;
/** The JSON text of records one answer holds, beyond its first record. */
export const MAX_ANSWER_CHARS = 4 * 1024 * 1024;

export async function answerAuditTail(audit: AuditLog, res: ServerResponse, params: URLSearchParams): Promise<void> {
  if (!audit.after || !audit.lastId)
    return sendJson(res, 404, { error: 'The audit log is off (audit: none): no record is kept to be read.' });
  const after = params.get('after') ?? undefined;
  if (after !== undefined && !/^\d+$/.test(after))
    return sendJson(res, 400, { error: 'after: the id of a record, as the last tail answer gave it.' });
  const rest = new URLSearchParams(params);
  rest.delete('after');
  rest.delete('cursor');
  const filter = parseAuditParams(rest, Date.now());
  if (typeof filter === 'string') return sendJson(res, 400, { error: filter });
  try {
    if (after === undefined) return sendJson(res, 200, { records: [], last_id: (await audit.lastId()) ?? '0' });
    const read = audit.after.bind(audit);
    const records = await readTail(read, after, filter, Math.min(filter.limit ?? 200, MAX_PAGE));
    sendJson(res, 200, { records, last_id: records.at(-1)?.id ?? after });
  } catch (error) {
    sendJson(res, 503, {
      error: `The audit log cannot be read: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
}

/** Up to `limit` records after `after`, a chunk at a time, until the answer is MAX_ANSWER_CHARS. */
async function readTail(
  read: NonNullable<AuditLog['after']>,
  after: string,
  filter: AuditFilter,
  limit: number,
): Promise<StoredAuditRecord[]> {
  const records: StoredAuditRecord[] = [];
  let chars = 0;
  let cursor = after;
  while (records.length < limit) {
    const want = Math.min(CHUNK, limit - records.length);
    const chunk = await read(cursor, filter, want);
    for (const record of chunk) {
      const size = JSON.stringify(record).length;
      if (records.length > 0 && chars + size > MAX_ANSWER_CHARS) return records;
      records.push(record);
      chars += size;
    }
    if (chunk.length < want) break;
    cursor = chunk.at(-1)!.id;
  }
  return records;
}
