// The WHERE clause of an audit query, shared by the SQLite and PostgreSQL sinks; only the way a
// parameter is written differs (`?` or `$1`). Values always travel as parameters, never as text.
import { decodeCursor, type AuditFilter } from './query.js';

export interface SqlWhere {
  sql: string;
  params: unknown[];
}

const COLUMNS = { server: 'server', tool: 'tool', grant: '"grant"', agent: 'agent', decision: 'decision' } as const;

/**
 * Conditions for a filter, a page cursor (rows older than it, in newest-first order) and an id
 * floor (rows stored after it). `param(n)` writes the n-th parameter, counting from 1.
 */
export function sqlWhere(
  filter: AuditFilter,
  opts: { cursor?: string; afterId?: string },
  param: (n: number) => string,
): SqlWhere {
  const parts: string[] = [];
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return param(params.length);
  };
  for (const [key, column] of Object.entries(COLUMNS) as [keyof typeof COLUMNS, string][]) {
    const value = filter[key];
    if (value !== undefined) parts.push(`${column} = ${p(value)}`);
  }
  if (filter.since !== undefined) parts.push(`ts >= ${p(filter.since)}`);
  if (filter.until !== undefined) parts.push(`ts < ${p(filter.until)}`);
  if (opts.cursor !== undefined) {
    const c = decodeCursor(opts.cursor);
    parts.push(`(ts < ${p(c.ts)} OR (ts = ${p(c.ts)} AND id < ${p(c.id)}))`);
  }
  if (opts.afterId !== undefined) parts.push(`id > ${p(opts.afterId)}`);
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}
