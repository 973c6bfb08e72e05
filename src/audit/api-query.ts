// `GET /api/v1/audit?server=&tool=&grant=&agent=&decision=&since=&until=&limit=&cursor=`: the
// query string checked and turned into an audit query, and the answer as status and JSON body, so
// that the HTTP layer only sends it.
import { CursorError, MAX_PAGE, type AuditQuery } from './query.js';
import type { AuditLog } from './record.js';
import { parseTimeBound, TIME_BOUND_HELP } from './time-bound.js';

export interface ApiAnswer {
  status: number;
  body: unknown;
}

const TEXT_FILTERS = ['server', 'tool', 'grant', 'agent', 'decision'] as const;
const KNOWN = new Set<string>([...TEXT_FILTERS, 'since', 'until', 'limit', 'cursor']);

export async function answerAuditQuery(audit: AuditLog, params: URLSearchParams, now: number): Promise<ApiAnswer> {
  if (!audit.query)
    return { status: 404, body: { error: 'The audit log is off (audit: none): no record is kept to be read.' } };
  const parsed = parseAuditParams(params, now);
  if (typeof parsed === 'string') return { status: 400, body: { error: parsed } };
  try {
    const page = await audit.query(parsed);
    return { status: 200, body: page };
  } catch (error) {
    if (error instanceof CursorError) return { status: 400, body: { error: `cursor: ${error.message}` } };
    return {
      status: 503,
      body: { error: `The audit log cannot be read: ${error instanceof Error ? error.message : String(error)}` },
    };
  }
}

/** The query, or the text of what is wrong with the parameters. */
export function parseAuditParams(params: URLSearchParams, now: number): AuditQuery | string {
  const unknown = [...params.keys()].filter((k) => !KNOWN.has(k));
  if (unknown.length > 0)
    return `unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${[...KNOWN].join(', ')}`;
  const q: AuditQuery = {};
  for (const key of TEXT_FILTERS) {
    const value = params.get(key);
    if (value) q[key] = value;
  }
  for (const key of ['since', 'until'] as const) {
    const value = params.get(key);
    if (!value) continue;
    const time = parseTimeBound(value, now);
    if (time === undefined) return `${key}: ${TIME_BOUND_HELP}`;
    q[key] = time;
  }
  const limit = params.get('limit');
  if (limit) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE)
      return `limit: expected a whole number from 1 to ${MAX_PAGE}`;
    q.limit = Number(limit);
  }
  const cursor = params.get('cursor');
  if (cursor) q.cursor = cursor;
  return q;
}
