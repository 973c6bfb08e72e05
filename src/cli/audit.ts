// `gatehouse audit`: reads the audit log the config names, newest records last, as a table or as
// JSON; `--follow` keeps printing records as they are stored (polling, so it works the same for
// SQLite, PostgreSQL and JSON Lines, and from any machine that can reach the sink).
import { auditHeader, auditLine, printableJson } from '../audit/format-table.js';
import { openAuditSink } from '../audit/open-audit-log.js';
import { pageSize, type AuditFilter } from '../audit/query.js';
import type { AuditDecision } from '../audit/record.js';
import type { AuditSink } from '../audit/sink.js';
import { parseTimeBound, TIME_BOUND_HELP } from '../audit/time-bound.js';
import { loadConfig } from '../config/load.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

export interface AuditCommandOptions {
  server?: string;
  tool?: string;
  grant?: string;
  agent?: string;
  decision?: string;
  since?: string;
  until?: string;
  limit?: string;
  json?: boolean;
  follow?: boolean;
  config?: string;
  /** How often --follow looks for new records, in milliseconds. */
  pollMs?: number;
  /** Ends --follow (tests); otherwise it runs until the process is interrupted. */
  signal?: AbortSignal;
}

export const DECISIONS: readonly AuditDecision[] = [
  'allow',
  'deny',
  'hidden',
  'rate_limited',
  'approval_pending',
  'approval_denied',
  'approval_timeout',
  'approval_withdrawn',
];

export async function auditCommand(opts: AuditCommandOptions, io: CliIo): Promise<number> {
  const now = Date.now();
  const filter = auditFilter(opts, now);
  const limit = parseLimit(opts.limit);
  const loaded = await loadConfig({ file: opts.config });
  const sink = openAuditSink(loaded.config.audit.sink, loaded.dir);
  if (!sink) throw new UsageError('the config says audit: none, so there is no audit log to read');
  try {
    // Taken before the page is read, so that a record stored meanwhile is shown by the tail.
    const tailFrom = opts.follow ? await sink.lastId() : undefined;
    const page = await sink.query({ ...filter, limit });
    const records = [...page.records].reverse();
    if (opts.json && !opts.follow) {
      io.out(printableJson({ records, next_cursor: page.next_cursor }, 2));
      return EXIT_OK;
    }
    if (opts.json) for (const r of records) io.out(printableJson(r));
    else if (records.length === 0 && !opts.follow) io.out('No audit records match.');
    else {
      io.out(auditHeader());
      for (const r of records) io.out(auditLine(r));
      if (page.next_cursor && !opts.follow)
        io.out(`(the newest ${records.length} shown; use --since, --limit or the filters to see others)`);
    }
    if (opts.follow) await follow(sink, filter, tailFrom, opts, io);
    return EXIT_OK;
  } finally {
    await sink.close();
  }
}

async function follow(
  sink: AuditSink,
  filter: AuditFilter,
  from: string | undefined,
  opts: AuditCommandOptions,
  io: CliIo,
): Promise<void> {
  const { until: _until, ...live } = filter;
  let last = from;
  const pollMs = opts.pollMs ?? 1000;
  while (!opts.signal?.aborted) {
    const fresh = await sink.after(last, live, 1000);
    for (const r of fresh) io.out(opts.json ? printableJson(r) : auditLine(r));
    if (fresh.length > 0) last = fresh[fresh.length - 1]!.id;
    if (fresh.length < 1000) await sleep(pollMs, opts.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

function auditFilter(opts: AuditCommandOptions, now: number): AuditFilter {
  const filter: AuditFilter = {};
  for (const key of ['server', 'tool', 'grant', 'agent'] as const) if (opts[key]) filter[key] = opts[key];
  if (opts.decision) {
    if (!DECISIONS.includes(opts.decision as AuditDecision))
      throw new UsageError(`--decision must be one of ${DECISIONS.join(', ')}; got "${opts.decision}"`);
    filter.decision = opts.decision;
  }
  for (const key of ['since', 'until'] as const) {
    const text = opts[key];
    if (text === undefined) continue;
    const time = parseTimeBound(text, now);
    if (time === undefined) throw new UsageError(`--${key}: ${TIME_BOUND_HELP}; got "${text}"`);
    filter[key] = time;
  }
  return filter;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 50;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`--limit expects a positive whole number; got "${text}"`);
  return pageSize(Number(text));
}
