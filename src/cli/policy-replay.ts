// `gatehouse policy replay --policy FILE [--server S]`: which recorded calls a new policy would
// decide differently. The file is one server's policy: the calls replayed are that server's, and a
// period with calls of several servers needs --server to say which. The calls come from the audit
// log the config names; see src/audit/replay.ts for how they are decided again, which are left
// out, and what replay cannot know.
import { relative } from 'node:path';
import { openAuditSink } from '../audit/open-audit-log.js';
import { readAllRecords, type StoredAuditRecord } from '../audit/query.js';
import { replayRecords, SKIP_REASONS, type ReplayChange, type ReplayResult, type SkipReason } from '../audit/replay.js';
import { parseTimeBound, TIME_BOUND_HELP } from '../audit/time-bound.js';
import { loadConfig } from '../config/load.js';
import { readStructuredFile } from '../config/structured-file.js';
import { loadPolicy } from '../policy/compile.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

export interface PolicyReplayOptions {
  policy: string;
  since?: string;
  server?: string;
  config?: string;
  json?: boolean;
}

const LIMITS_NOTE =
  'rate limits are simulated in memory from the first replayed call: usage from before the replayed period is not counted';
const REDACTION_NOTE =
  'arguments are replayed as recorded: conditions on redacted values see "[REDACTED]", so calls marked * may really decide otherwise';

export async function policyReplayCommand(opts: PolicyReplayOptions, io: CliIo): Promise<number> {
  const now = Date.now();
  const sinceText = opts.since ?? '24h';
  const since = parseTimeBound(sinceText, now);
  if (since === undefined) throw new UsageError(`--since: ${TIME_BOUND_HELP}; got "${sinceText}"`);
  const policy = loadPolicy(await readStructuredFile(opts.policy));
  const loaded = await loadConfig({ file: opts.config });
  if (opts.server !== undefined && !loaded.config.servers[opts.server])
    throw new UsageError(
      `unknown server "${opts.server}"; configured servers: ${Object.keys(loaded.config.servers).join(', ')}`,
    );
  const sink = openAuditSink(loaded.config.audit.sink, loaded.dir);
  if (!sink) throw new UsageError('the config says audit: none, so there are no recorded calls to replay');
  let records: StoredAuditRecord[];
  try {
    // Oldest first: the pages come newest first.
    records = (await readAllRecords(sink, { since, ...(opts.server ? { server: opts.server } : {}) })).reverse();
  } finally {
    await sink.close();
  }
  const servers = [...new Set(records.map((r) => r.server))].sort();
  if (!opts.server && servers.length > 1)
    throw new UsageError(
      `the calls since ${new Date(since).toISOString()} are of ${servers.length} servers (${servers.join(', ')}), and a policy file is the policy of one: name the server it is for with --server`,
    );
  const server = opts.server ?? servers[0];
  const grants = loaded.config.grants;
  const result = await replayRecords(records, policy, {
    grantLabels: (name) => grants[name]?.labels ?? {},
    grantHasPolicy: (name) => grants[name]?.policy !== undefined,
  });
  const notes = [LIMITS_NOTE, ...(result.inexact > 0 ? [REDACTION_NOTE] : [])];
  const scope = server ? `server ${server}` : 'no server';
  if (opts.json) {
    io.out(
      JSON.stringify(
        {
          policy: opts.policy,
          server: server ?? null,
          since: new Date(since).toISOString(),
          replayed: result.replayed,
          skipped: result.skipped,
          changed: result.changes.length,
          inexact: result.inexact,
          counts: result.counts,
          calls: result.changes.map(view),
          notes,
        },
        null,
        2,
      ),
    );
    return EXIT_OK;
  }
  const lines = [
    `Replayed ${result.replayed} recorded call${result.replayed === 1 ? '' : 's'} of ${scope} since ${new Date(since).toISOString()} against ${relative(process.cwd(), opts.policy) || opts.policy}.`,
    ...skippedLines(result),
    ...notes.map((n) => `note: ${n}`),
    '',
  ];
  if (result.changes.length === 0) lines.push('No decision would change.');
  else {
    lines.push(`${result.changes.length} decision${result.changes.length === 1 ? '' : 's'} would change:`);
    for (const [change, count] of Object.entries(result.counts)) lines.push(`  ${change}: ${count}`);
    lines.push(
      '',
      'TIME                 SERVER       TOOL                     GRANT          CHANGE                     RULE / REASON',
    );
    for (const c of result.changes) lines.push(changeLine(c));
  }
  io.out(lines.join('\n'));
  return EXIT_OK;
}

/** The calls left out, and why: the replayed policy would not have decided them. */
function skippedLines(result: ReplayResult): string[] {
  const entries = Object.entries(result.skipped) as [SkipReason, number][];
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return [];
  return [
    `Left out ${total} call${total === 1 ? '' : 's'} the policy would not decide:`,
    ...entries.map(([reason, n]) => `  ${n} ${SKIP_REASONS[reason]}`),
  ];
}

function view(c: ReplayChange) {
  const r = c.record;
  return {
    ts: new Date(r.ts).toISOString(),
    server: r.server,
    subject: r.subject,
    tool: r.tool,
    grant: r.grant,
    agent: r.agent,
    session: r.session,
    request_id: r.request_id,
    recorded: c.recorded,
    replayed: c.replayed,
    rule: c.rule,
    ...(c.reason ? { reason: c.reason } : {}),
    inexact: c.inexact,
  };
}

function changeLine(c: ReplayChange): string {
  const r = c.record;
  const cells = [
    new Date(r.ts).toISOString().slice(0, 19) + 'Z',
    r.server,
    (r.subject === 'tool' ? r.tool : `${r.subject}:${r.tool}`) + (c.inexact ? ' *' : ''),
    r.grant,
    `${c.recorded} → ${c.replayed}`,
  ];
  const widths = [20, 12, 24, 14, 26];
  return (
    cells
      .map((cell, i) => (cell.length > widths[i]! ? `${cell.slice(0, widths[i]! - 1)}…` : cell.padEnd(widths[i]!)))
      .join(' ') + ` ${[c.rule, c.reason].filter(Boolean).join(' ')}`
  );
}
