// What the dashboard's overview shows from the audit log: calls and decisions over time in equal
// buckets, the busiest tools and the most blocked ones, for one time range. SQL sinks answer with
// aggregates (GROUP BY over the ts index), never by reading records; the JSON Lines sink has no
// index and folds a scan of its file, so its cost grows with the file (see docs/audit.md).
//
// Tool names in the log come from agents too: a call to a tool the server does not have is recorded
// under the name the agent sent, which may be megabytes long and different on every call. So the
// SQL sinks hand back only the rows of the tools that can make the top lists (never one row per
// distinct name in the range), and every name is cut to MAX_TOOL_CHARS: one stats request costs
// the same whatever names agents chose.
import type { AuditRecord } from './record.js';

export interface StatsQuery {
  /** Milliseconds since the epoch, inclusive. */
  since: number;
  /** Milliseconds since the epoch, exclusive. */
  until: number;
  /** Bucket width in milliseconds. */
  bucketMs: number;
  /** How many top tools and top denials; default 10. */
  top?: number;
}

export interface ToolCount {
  server: string;
  tool: string;
  calls: number;
}

export interface AuditSummary {
  since: number;
  until: number;
  bucket_ms: number;
  total: number;
  /** Calls per decision over the whole range. */
  decisions: Record<string, number>;
  /** One entry per bucket from `since`, oldest first; buckets with no call are there with zeros. */
  series: { t: number; total: number; decisions: Record<string, number> }[];
  top_tools: ToolCount[];
  /** Tools by calls that the gateway blocked (every decision but allow). */
  top_denials: (ToolCount & { decisions: Record<string, number> })[];
}

/**
 * Rows of `bucket, decision, count` and of `server, tool, decision, count`, from any sink. A tool
 * row's name is cut to MAX_TOOL_CHARS; `tool_chars` is the length of the whole name.
 */
export interface SummaryRows {
  buckets: { bucket: number; decision: string; calls: number }[];
  tools: { server: string; tool: string; tool_chars?: number | string; decision: string; calls: number }[];
}

export const MAX_BUCKETS = 500;
/** The longest tool name a summary shows; a longer one ends in `…(N chars)`. */
export const MAX_TOOL_CHARS = 256;

/**
 * The SQL of the two aggregates, for SQLite (`?`) and PostgreSQL (`$n`): values travel as parameters.
 * The tool rows are those of the `top` busiest tools and the `top` most blocked ones, ranked in SQL
 * the way summarize() ranks them (calls, then server and tool by code point).
 */
export function summarySql(
  table: string,
  param: (n: number) => string,
  q: StatsQuery,
): { buckets: string; tools: string; bucketParams: unknown[]; toolParams: unknown[] } {
  // PostgreSQL parameters arrive untyped (bigint division wanted); better-sqlite3 may bind a number
  // as REAL, so SQLite's quotient is cast back to a whole bucket number (ts >= since: no negatives).
  const pg = param(1).startsWith('$');
  const cast = pg ? '::bigint' : '';
  // Ties are broken by code point in both databases (SQLite's default BINARY, PostgreSQL's "C").
  const byName = pg ? 'server COLLATE "C", tool COLLATE "C"' : 'server, tool';
  const quotient = `(ts - ${param(1)}${cast}) / ${param(2)}${cast}`;
  const top = topOf(q);
  return {
    buckets:
      `SELECT ${pg ? quotient : `CAST(${quotient} AS INTEGER)`} AS bucket, decision, count(*) AS calls FROM ${table} ` +
      `WHERE ts >= ${param(3)}${cast} AND ts < ${param(4)}${cast} GROUP BY 1, 2`,
    bucketParams: [q.since, q.bucketMs, q.since, q.until],
    tools:
      // Grouped by the cut name and the whole one's length: names a summary would show alike are
      // counted together, and no full name of megabytes is sorted or compared.
      `WITH t AS (SELECT server, substr(tool, 1, ${MAX_TOOL_CHARS}) AS tool, length(tool) AS tool_chars, decision, ` +
      `count(*) AS calls FROM ${table} WHERE ts >= ${param(1)}${cast} AND ts < ${param(2)}${cast} ` +
      `GROUP BY 1, 2, 3, 4), ` +
      `p AS (SELECT server, tool, tool_chars, sum(calls) AS total, ` +
      `sum(CASE WHEN decision <> 'allow' THEN calls ELSE 0 END) AS denied FROM t GROUP BY 1, 2, 3), ` +
      `k AS (SELECT server, tool, tool_chars FROM (SELECT server, tool, tool_chars FROM p ` +
      `ORDER BY total DESC, ${byName} LIMIT ${param(3)}${cast}) AS busiest UNION ` +
      `SELECT server, tool, tool_chars FROM (SELECT server, tool, tool_chars FROM p WHERE denied > 0 ` +
      `ORDER BY denied DESC, ${byName} LIMIT ${param(4)}${cast}) AS blocked) ` +
      `SELECT t.server, t.tool, t.tool_chars, t.decision, t.calls FROM t ` +
      `JOIN k ON k.server = t.server AND k.tool = t.tool AND k.tool_chars = t.tool_chars`,
    toolParams: [q.since, q.until, top, top],
  };
}

function topOf(q: StatsQuery): number {
  return q.top ?? 10;
}

/** Folds records one by one (the JSON Lines sink) into the same rows the SQL aggregates give. */
export class SummaryFold {
  private readonly buckets = new Map<string, number>();
  private readonly tools = new Map<string, number>();

  constructor(private readonly q: StatsQuery) {}

  add(r: AuditRecord): void {
    if (r.ts < this.q.since || r.ts >= this.q.until) return;
    const b = `${Math.floor((r.ts - this.q.since) / this.q.bucketMs)}\0${r.decision}`;
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
    // A scan holds one key per distinct name: cut, a name of megabytes costs what a short one does.
    const tool = String(r.tool);
    const t = `${r.server}\0${tool.slice(0, MAX_TOOL_CHARS)}\0${tool.length}\0${r.decision}`;
    this.tools.set(t, (this.tools.get(t) ?? 0) + 1);
  }

  rows(): SummaryRows {
    return {
      buckets: [...this.buckets].map(([k, calls]) => {
        const [bucket, decision] = k.split('\0') as [string, string];
        return { bucket: Number(bucket), decision, calls };
      }),
      tools: [...this.tools].map(([k, calls]) => {
        const [server, tool, chars, decision] = k.split('\0') as [string, string, string, string];
        return { server, tool, tool_chars: Number(chars), decision, calls };
      }),
    };
  }
}

/** The summary from aggregate rows (counts may arrive as text from PostgreSQL). */
export function summarize(q: StatsQuery, rows: SummaryRows): AuditSummary {
  const count = Math.max(1, Math.ceil((q.until - q.since) / q.bucketMs));
  const series = Array.from({ length: count }, (_, i) => ({
    t: q.since + i * q.bucketMs,
    total: 0,
    decisions: {} as Record<string, number>,
  }));
  const decisions: Record<string, number> = {};
  let total = 0;
  for (const row of rows.buckets) {
    const calls = Number(row.calls);
    const slot = series[Number(row.bucket)];
    if (slot) {
      slot.total += calls;
      slot.decisions[row.decision] = (slot.decisions[row.decision] ?? 0) + calls;
    }
    decisions[row.decision] = (decisions[row.decision] ?? 0) + calls;
    total += calls;
  }
  const byTool = new Map<string, ToolCount & { denied: number; decisions: Record<string, number> }>();
  for (const row of rows.tools) {
    const tool = shownTool(row.tool, Number(row.tool_chars ?? row.tool.length));
    const key = `${row.server}\0${tool}`;
    const entry = byTool.get(key) ?? { server: row.server, tool, calls: 0, denied: 0, decisions: {} };
    const calls = Number(row.calls);
    entry.calls += calls;
    if (row.decision !== 'allow') {
      entry.denied += calls;
      entry.decisions[row.decision] = (entry.decisions[row.decision] ?? 0) + calls;
    }
    byTool.set(key, entry);
  }
  const top = topOf(q);
  // By code point, as the SQL that chose the rows breaks its ties.
  const order = (a: ToolCount, b: ToolCount) => byCodePoint(a.server, b.server) || byCodePoint(a.tool, b.tool);
  const tools = [...byTool.values()];
  return {
    since: q.since,
    until: q.until,
    bucket_ms: q.bucketMs,
    total,
    decisions,
    series,
    top_tools: [...tools]
      .sort((a, b) => b.calls - a.calls || order(a, b))
      .slice(0, top)
      .map(({ server, tool, calls }) => ({ server, tool, calls })),
    top_denials: tools
      .filter((t) => t.denied > 0)
      .sort((a, b) => b.denied - a.denied || order(a, b))
      .slice(0, top)
      .map(({ server, tool, denied, decisions: d }) => ({ server, tool, calls: denied, decisions: d })),
  };
}

/** A tool name as a summary shows it: whole, or its first MAX_TOOL_CHARS and its length. */
function shownTool(cut: string, chars: number): string {
  if (chars <= MAX_TOOL_CHARS && cut.length <= MAX_TOOL_CHARS) return cut;
  return `${cut.slice(0, MAX_TOOL_CHARS)}…(${chars} chars)`;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
