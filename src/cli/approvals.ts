// `gatehouse approvals list | approve ID | deny ID`: pending approvals in the state store. A call
// held in a running gateway that shares the store is released as soon as it is answered here (the
// store's change feed reaches it).
import { userInfo } from 'node:os';
import { shownSubject, type Approval } from '../approvals/approval.js';
import { ApprovalService } from '../approvals/service.js';
import { approvalView } from '../approvals/view.js';
import { visibleJson, visibleText } from '../util/visible.js';
import { withConfigStore } from './state-store.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo } from './io.js';

/** How much of the arguments a table row shows. */
const ARGS_WIDTH = 48;

function withService<T>(config: string | undefined, fn: (service: ApprovalService) => Promise<T>): Promise<T> {
  return withConfigStore(
    config,
    'approvals',
    'GET /api/v1/approvals, POST /api/v1/approvals/<id>/approve or /deny',
    (store) => fn(new ApprovalService(store)),
  );
}

export async function approvalsListCommand(
  opts: { config?: string; json?: boolean; all?: boolean },
  io: CliIo,
): Promise<number> {
  const now = Date.now();
  const found = await withService(opts.config, (s) => s.list(opts.all ? {} : { status: ['pending'] }));
  if (opts.json) {
    io.out(visibleJson(found.map(approvalView), 2));
    return EXIT_OK;
  }
  if (found.length === 0) {
    io.out(opts.all ? 'No approvals yet.' : 'No approvals are pending.');
    return EXIT_OK;
  }
  const header = ['ID', 'SERVER', 'TOOL', 'AGENT', 'AGE', 'EXPIRES', ...(opts.all ? ['STATUS'] : []), 'ARGUMENTS'];
  // What an agent or an upstream wrote is shown with its hidden characters made visible (a
  // right-to-left override would show an amount reversed), as on every other approval surface.
  let cut = false;
  const rows = found.map((a) => {
    const args = visibleJson(a.arguments ?? {});
    if (args.length > ARGS_WIDTH) cut = true;
    return [
      a.id,
      visibleText(a.server),
      visibleText(shownSubject(a)),
      visibleText(a.agent),
      ago(now - a.created),
      a.status === 'pending' ? `in ${ago(a.expires - now)}` : '-',
      ...(opts.all ? [statusOf(a)] : []),
      abbreviate(args, ARGS_WIDTH),
    ];
  });
  const last = header.length - 1;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i < last ? c.padEnd(widths[i]!) : c)).join('  ');
  io.out([line(header), ...rows.map(line)].join('\n'));
  if (cut) io.out(`\nArguments longer than ${ARGS_WIDTH} characters are cut here; --json shows them whole.`);
  if (!opts.all)
    io.out(`\nAnswer with "gatehouse approvals approve ID" or "gatehouse approvals deny ID --reason TEXT".`);
  return EXIT_OK;
}

export async function approvalsAnswerCommand(
  id: string,
  approve: boolean,
  opts: { config?: string; reason?: string },
  io: CliIo,
): Promise<number> {
  if (opts.reason !== undefined && opts.reason.trim() === '') throw new UsageError('--reason needs a text.');
  return withService(opts.config, async (service) => {
    const outcome = await service.answer(id, {
      approve,
      by: operatorName(),
      channel: 'cli',
      ...(opts.reason ? { reason: opts.reason.trim() } : {}),
    });
    if (!outcome.ok) {
      const hint = outcome.code === 'not_found' ? ' List pending approvals with "gatehouse approvals list".' : '';
      io.err(`gatehouse: ${outcome.message}${hint}`);
      return EXIT_FAILURE;
    }
    const a = outcome.approval;
    io.out(
      `${approve ? 'approved' : 'denied'} ${a.id} (${visibleText(a.server)}/${visibleText(shownSubject(a))} for agent ${visibleText(a.agent)})`,
    );
    return EXIT_OK;
  });
}

/** Who answered: the operating-system account running the command. */
function operatorName(): string {
  try {
    return userInfo().username || 'cli';
  } catch {
    // Some containers run under a uid with no account entry.
    return 'cli';
  }
}

function statusOf(a: Approval): string {
  return a.decided_by && a.status !== 'pending' ? `${a.status} (${a.decided_by})` : a.status;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d`;
}

function abbreviate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
