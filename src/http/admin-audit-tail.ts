// `GET /api/v1/audit/tail?after=<id>&server=&tool=&grant=&agent=&decision=&limit=`: the live tail
// of the audit log, polled. Without `after` it answers no records and the id to start from; with it,
// the records stored since (oldest first, at most `limit`) and the id to ask after next.
import type { ServerResponse } from 'node:http';
import { parseAuditParams } from '../audit/api-query.js';
import { MAX_PAGE } from '../audit/query.js';
import type { AuditLog } from '../audit/record.js';
import { sendJson } from './respond.js';

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
    const records = await audit.after(after, filter, Math.min(filter.limit ?? 200, MAX_PAGE));
    sendJson(res, 200, { records, last_id: records.at(-1)?.id ?? after });
  } catch (error) {
    sendJson(res, 503, {
      error: `The audit log cannot be read: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
}
