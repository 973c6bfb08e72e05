// What the dashboard's overview shows from the audit log: calls and decisions over time in equal
// buckets, the busiest tools and the most blocked ones, for one time range. SQL sinks answer with
// aggregates (GROUP BY over the ts index), never by reading records; the JSON Lines sink has no
// index and folds a scan of its file, so its cost grows with the file (see docs/audit.md).
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

/** Rows of `bucket, decision, count` and of `server, tool, decision, count`, from any sink. */
export interface SummaryRows {
  buckets: { bucket: number; decision: string; calls: number }[];
  tools: { server: string; tool: string; decision: string; calls: number }[];
}

export const MAX_BUCKETS = 500;

/** The SQL of the two aggregates, for SQLite (`?`) and PostgreSQL (`$n`): values travel as parameters. */
export function summarySql(
  table: string,
  param: (n: number) => string,
  q: StatsQuery,
): { buckets: string; tools: string; bucketParams: unknown[]; toolParams: unknown[] } {
  // PostgreSQL parameters arrive untyped (bigint division wanted); better-sqlite3 may bind a number
  // as REAL, so SQLite's quotient is cast back to a whole bucket number (ts >= since: no negatives).
  const pg = param(1).startsWith('$');
  const cast = pg ? '::bigint' : '';
  const quotient = `(ts - ${param(1)}${cast}) / ${param(2)}${cast}`;
  return {
    buckets:
      `SELECT ${pg ? quotient : `CAST(${quotient} AS INTEGER)`} AS bucket, decision, count(*) AS calls FROM ${table} ` +
      `WHERE ts >= ${param(3)}${cast} AND ts < ${param(4)}${cast} GROUP BY 1, 2`,
    bucketParams: [q.since, q.bucketMs, q.since, q.until],
    tools:
      `SELECT server, tool, decision, count(*) AS calls FROM ${table} ` +
      `WHERE ts >= ${param(1)}${cast} AND ts < ${param(2)}${cast} GROUP BY 1, 2, 3`,
    toolParams: [q.since, q.until],
  };
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
    const t = `${r.server}\0${r.tool}\0${r.decision}`;
    this.tools.set(t, (this.tools.get(t) ?? 0) + 1);
  }

  rows(): SummaryRows {
    return {
      buckets: [...this.buckets].map(([k, calls]) => {
        const [bucket, decision] = k.split('\0') as [string, string];
        return { bucket: Number(bucket), decision, calls };
      }),
      tools: [...this.tools].map(([k, calls]) => {
        const [server, tool, decision] = k.split('\0') as [string, string, string];
        return { server, tool, decision, calls };
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
    const key = `${row.server}\0${row.tool}`;
    const entry = byTool.get(key) ?? { server: row.server, tool: row.tool, calls: 0, denied: 0, decisions: {} };
    const calls = Number(row.calls);
    entry.calls += calls;
    if (row.decision !== 'allow') {
      entry.denied += calls;
      entry.decisions[row.decision] = (entry.decisions[row.decision] ?? 0) + calls;
    }
    byTool.set(key, entry);
  }
  const top = q.top ?? 10;
  const order = (a: ToolCount, b: ToolCount) => a.server.localeCompare(b.server) || a.tool.localeCompare(b.tool);
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
