// The approvals part of the admin API (`/api/v1/approvals...`): list, read (with how the webhooks
// went), answer, and a server-sent event stream of every change for the dashboard. The routes and
// the role each needs are declared in src/http/admin-routes.ts, which checks the role before any
// of these run. Errors are `{ error, code }` with the status that matches the code.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { BodyTooLarge, readBody } from '../http/body.js';
import { sendJson } from '../http/respond.js';
import { SseStream } from '../http/sse.js';
import type { Approval, ApprovalFilter, ApprovalStatus } from './approval.js';
import type { ApprovalService } from './service.js';
import { approvalView } from './view.js';
import type { DeliveryStatus } from './webhooks.js';

export interface ApprovalsApi {
  approvals: ApprovalService;
  /** How the webhooks of one approval went (this replica's deliveries). */
  deliveries: (id: string) => DeliveryStatus[];
}

export const APPROVAL_STATUSES: readonly ApprovalStatus[] = [
  'pending',
  'approved',
  'denied',
  'expired',
  'withdrawn',
  'used',
];
const MAX_LIMIT = 1000;
const MAX_BODY_BYTES = 64 * 1024;

const AnswerBody = z.strictObject({
  reason: z.string().max(2000).optional(),
  by: z.string().min(1).max(200).optional(),
});

type Code = 'invalid_query' | 'invalid_body' | 'not_found' | 'not_pending';
const STATUS_OF: Record<Code, number> = {
  invalid_query: 400,
  invalid_body: 400,
  not_found: 404,
  not_pending: 409,
};

function fail(res: ServerResponse, code: Code, error: string, extra: Record<string, unknown> = {}): void {
  sendJson(res, STATUS_OF[code], { error, code, ...extra });
}

/** GET /approvals/<id>: the approval and how its webhooks went. */
export async function readApproval(api: ApprovalsApi, res: ServerResponse, id: string): Promise<void> {
  const a = await api.approvals.current(id);
  if (!a) return fail(res, 'not_found', `No approval "${id}".`);
  sendJson(res, 200, { approval: approvalView(a), deliveries: api.deliveries(id) });
}

/** GET /approvals: newest first, filtered by status, server, grant, tool and limit. */
export async function listApprovals(api: ApprovalsApi, res: ServerResponse, q: URLSearchParams): Promise<void> {
  const filter: ApprovalFilter = {};
  const statuses = q
    .getAll('status')
    .flatMap((s) => s.split(','))
    .filter(Boolean);
  if (statuses.length > 0 && !statuses.includes('all')) {
    const unknown = statuses.filter((s) => !APPROVAL_STATUSES.includes(s as ApprovalStatus));
    if (unknown.length > 0)
      return fail(res, 'invalid_query', `Unknown status "${unknown[0]}": use ${APPROVAL_STATUSES.join(', ')} or all.`);
    filter.status = statuses as ApprovalStatus[];
  }
  for (const key of ['server', 'grant', 'tool'] as const) {
    const value = q.get(key);
    if (value) filter[key] = value;
  }
  const limit = q.get('limit');
  if (limit !== null) {
    const n = /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_LIMIT))
      return fail(res, 'invalid_query', `limit must be a whole number from 1 to ${MAX_LIMIT}.`);
    filter.limit = n;
  }
  const found = await api.approvals.list(filter);
  sendJson(res, 200, { approvals: found.map(approvalView) });
}

export interface AnswerOptions {
  approve: boolean;
  /** Who answers when the body names no one: the admin token's name. */
  by: string;
  /**
   * Whether the token is shared (`auth.admin_token`), so that only the body's `by` can say who
   * answered. A named token is someone: a `by` it sends is recorded with the token's name beside it,
   * so that no token can record its answer as another person's, or as a link's or the system's.
   */
  sharedToken: boolean;
  /** limits.max_body_bytes (an answer's body is small: never more than 64 KiB is read). */
  maxBodyBytes: number;
}

/** POST /approvals/<id>/approve and /deny, with `{ reason?, by? }`. */
export async function answerApproval(
  api: ApprovalsApi,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  opts: AnswerOptions,
): Promise<void> {
  const limit = Math.min(MAX_BODY_BYTES, opts.maxBodyBytes);
  let raw: string;
  try {
    raw = await readBody(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) return fail(res, 'invalid_body', `The body is larger than ${limit} bytes.`);
    throw err;
  }
  let json: unknown = {};
  if (raw.trim() !== '') {
    try {
      json = JSON.parse(raw);
    } catch {
      return fail(res, 'invalid_body', 'The body is not valid JSON: send {"reason"?: text, "by"?: text}.');
    }
  }
  const body = AnswerBody.safeParse(json);
  if (!body.success) {
    const issue = body.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return fail(res, 'invalid_body', `${where}${issue.message}. Send {"reason"?: text, "by"?: text}.`);
  }
  const outcome = await api.approvals.answer(id, {
    approve: opts.approve,
    by: answeredBy(body.data.by, opts),
    channel: 'api',
    ...(body.data.reason ? { reason: body.data.reason } : {}),
  });
  if (outcome.ok) return sendJson(res, 200, { approval: approvalView(outcome.approval) });
  if (outcome.code === 'not_found') return fail(res, 'not_found', outcome.message);
  const now = (await api.approvals.current(id)) ?? outcome.approval;
  return fail(res, 'not_pending', outcome.message, {
    ...(now ? { status: now.status, approval: approvalView(now) } : {}),
  });
}

/** Who the answer is recorded as: the body's `by`, vouched for by the token that sent it. */
function answeredBy(named: string | undefined, opts: AnswerOptions): string {
  if (named === undefined || named === opts.by || opts.sharedToken) return named ?? opts.by;
  return `${named} (admin token ${opts.by})`;
}

/**
 * Every approval created or changed, as `approval` events, after a `snapshot` of those pending.
 * Listening starts before the snapshot is read, so no change falls between the two.
 */
export async function followApprovals(api: ApprovalsApi, res: ServerResponse): Promise<void> {
  const stream = new SseStream(res);
  // Changes that arrive while the snapshot is read follow it, in order.
  let held: Approval[] | undefined = [];
  const unwatch = api.approvals.store.watchApprovals((a) =>
    held ? held.push(a) : stream.send(approvalView(a), 'approval'),
  );
  stream.onClose(unwatch);
  stream.comment('approvals');
  const pending = await api.approvals.list({ status: ['pending'] });
  stream.send({ approvals: pending.map(approvalView) }, 'snapshot');
  for (const a of held) stream.send(approvalView(a), 'approval');
  held = undefined;
}
