// The approval step of a call (DESIGN section 7): a call the policy holds for a person goes on only
// once an approval covers exactly its arguments. Hold mode waits for the answer (with progress
// notifications), retry mode answers "pending" at once, and a client whose user may answer
// (`notify: [client]`) is asked through elicitation: a 2025 client with an `elicitation/create`
// request, a 2026-07-28 client with an `input_required` result whose retry carries the answer.
import { randomBytes } from 'node:crypto';
import type { Approval } from '../approvals/approval.js';
import {
  argsHash,
  PendingApprovalLimit,
  type ApprovalCall,
  type ApprovalService,
  type ApprovalSettings,
} from '../approvals/service.js';
import type { BlockedOutcome } from '../policy/blocked-result.js';
import { ErrorCode, isObject, metaOf, type JsonObject, type JsonRpcErrorObject } from '../mcp/jsonrpc.js';
import type { ClientPeer } from './peer.js';
import type { ClientRequest, RelayContext, RoundMark } from './relay.js';
import type { UpstreamAnswer } from './upstream-connection.js';
import { visibleJson } from '../util/visible.js';

/** The key under which a 2026-07-28 client's answer comes back in `inputResponses`. */
const INPUT_KEY = 'gatehouse_approval';
/** How often a held call tells its client it is still waiting. */
const PROGRESS_EVERY_MS = 10_000;

/** What a 2026-07-28 client carries back in its retry: the approval asked about, for this call. */
interface ApprovalState {
  /** Marks the state as the gateway's approval question, not an upstream's. */
  ap: string;
  srv: string;
  m: string;
  tool: string;
  h: string;
  /** The approval page's key, so that a URL-mode question can be asked again (sealed: only this principal reads it). */
  lk?: string;
  /**
   * Random, new in every question: the call is watched under it until the client retries
   * (policy-gate.ts), so that a question never answered still leaves the call's record.
   */
  n: string;
}

export type ApprovalStepOutcome =
  /**
   * `claimed`: the approval is good for one call and was moved to `used` for this one; the caller
   * gives it back (`ApprovalService.giveBack`) when the call is then blocked after all.
   */
  | { kind: 'approved'; approval: Approval; claimed: boolean }
  | { kind: 'blocked'; blocked: BlockedOutcome; audit: AuditDecisionName; approval?: Approval }
  /** An answer to send as is: an input_required question, or an invalid requestState. */
  | { kind: 'answer'; answer: UpstreamAnswer; approval?: Approval }
  /** No approval could be opened: the grant has as many pending as the limits allow. */
  | { kind: 'over_limit'; reason: string };

export type AuditDecisionName = 'approval_denied' | 'approval_timeout' | 'approval_pending' | 'approval_withdrawn';

export interface ApprovalStepInput {
  service: ApprovalService;
  call: ApprovalCall;
  settings: ApprovalSettings;
  peer: ClientPeer;
  req: ClientRequest;
  ctx: RelayContext;
  /** The tool's name as the client knows it. */
  shownName: string;
  /** The page a person answers on, for URL-mode elicitation. */
  pageUrl: (approval: Approval, linkKey: string) => string | undefined;
  /** The gateway's clock. */
  now: () => number;
}

/**
 * The nonce of the gateway's own approval question that a 2026-07-28 retry of `call` carries, with
 * when its state stops opening; undefined for a first round, any other state, or a question asked
 * about another call (answeredByClient refuses that retry).
 */
export function approvalRoundOf(
  req: ClientRequest,
  peer: ClientPeer,
  ctx: RelayContext,
  call: { server: string; tool: string; args: unknown },
): RoundMark | undefined {
  if (req.era !== 'modern' || req.params?.requestState === undefined) return undefined;
  const opened = ctx.sealer.unseal<Partial<ApprovalState>>(req.params.requestState, peer.principal);
  if (!opened.ok) return undefined;
  const s = opened.payload;
  if (typeof s.ap !== 'string' || typeof s.n !== 'string') return undefined;
  const asked = { ...call, method: req.method, argsHash: argsHash(isObject(call.args) ? call.args : {}) };
  return isAbout(s, asked) ? { nonce: s.n, expires: opened.expires } : undefined;
}

/** Whether an approval question's state was issued for exactly this call: server, method, tool and arguments. */
function isAbout(
  state: Partial<ApprovalState>,
  call: { server: string; method: string; tool: string; argsHash: string },
): boolean {
  return state.srv === call.server && state.m === call.method && state.tool === call.tool && state.h === call.argsHash;
}

/** The request without the approval round's fields, as it goes on to the server. */
export function withoutApprovalRound(req: ClientRequest): ClientRequest {
  const { requestState: _s, inputResponses: _i, ...params } = req.params ?? {};
  return { ...req, params };
}

export async function approvalStep(input: ApprovalStepInput): Promise<ApprovalStepOutcome> {
  try {
    return await stepOf(input);
  } catch (err) {
    // A limit the operator set (limits.max_pending_approvals_per_grant), not a failure.
    if (err instanceof PendingApprovalLimit) return { kind: 'over_limit', reason: err.message };
    throw err;
  }
}

async function stepOf(input: ApprovalStepInput): Promise<ApprovalStepOutcome> {
  const { service, call, settings, peer, req, ctx } = input;
  if (req.era === 'modern' && req.params?.requestState !== undefined) {
    const opened = ctx.sealer.unseal<Partial<ApprovalState>>(req.params.requestState, peer.principal);
    if (!opened.ok) return invalidState(`${opened.reason}; start the call again without it.`);
    // The gateway's own approval question; any other state is an upstream's, which the relay judges.
    // The client's user answers it only while the policy in force still asks them: after a reload
    // that took `client` out of `notify`, the carried answer counts for nothing and the call waits
    // for the people the policy names now.
    if (typeof opened.payload.ap === 'string' && asksClient(input))
      return answeredByClient(input, opened.payload as ApprovalState, opened.expires);
  }
  const granted = await service.granted(call);
  if (granted) return { kind: 'approved', approval: granted, claimed: granted.status === 'used' };

  if (req.era === 'modern' && asksClient(input)) {
    // One approval per call: the question is this call's own, unless the approval covers more calls.
    const joined = settings.remember === 'none' ? undefined : await reuse(service, call, false);
    const { approval, linkKey } = joined ?? (await service.open(call, settings));
    const asked = question(input, approval, linkKey);
    if (asked) return { kind: 'answer', answer: asked, approval };
    return withoutAsking(input, { approval, linkKey });
  }
  return withoutAsking(input);
}

/** Whether the policy asks the client's own user and the client declared it can be asked. */
function asksClient(input: ApprovalStepInput): boolean {
  return input.settings.notify.includes('client') && isObject(input.peer.capabilities.elicitation);
}

/**
 * The call without a question in the client's own round (a 2025 client is still asked while it is
 * held): retry mode answers "pending", hold mode waits. `given` is an approval already opened for it.
 */
async function withoutAsking(input: ApprovalStepInput, given?: Joined): Promise<ApprovalStepOutcome> {
  const { service, call, settings } = input;
  if (settings.mode === 'retry') {
    if (!given) {
      const denied = await service.denied(call);
      if (denied) return deniedOutcome(denied);
    }
    const pending = given?.approval ?? (await service.pending(call)) ?? (await service.open(call, settings)).approval;
    return blockedOver(
      pending,
      'approval_pending',
      `${call.reason} Approval ${pending.id} is pending: call again with the same arguments once a person has approved it.`,
      call.rule,
    );
  }
  return hold(input, given);
}

/** Hold mode: wait for the answer, telling the client it is still waiting. */
async function hold(input: ApprovalStepInput, given?: Joined): Promise<ApprovalStepOutcome> {
  const { service, call, settings, peer, req } = input;
  // One approval per call: a call good for one call joins only an approval nobody here waits on
  // (left pending when a gateway stopped); one that covers more calls is shared.
  const joined = given ?? (await reuse(service, call, settings.remember === 'none'));
  const { approval, linkKey } = joined ?? (await service.open(call, settings));
  const asking = new AbortController();
  if (peer.era === 'legacy' && asksClient(input)) {
    const params = elicitationParams(input, approval, linkKey);
    if (params) void askLegacyClient(input, approval, params, asking.signal);
  }
  const token = metaOf(req.params)?.progressToken;
  const tick =
    typeof token === 'string' || typeof token === 'number'
      ? (elapsedMs: number) =>
          peer.notify(
            {
              jsonrpc: '2.0',
              method: 'notifications/progress',
              params: {
                progressToken: token,
                progress: Math.floor(elapsedMs / 1000),
                message: `Waiting for a person to approve ${input.shownName} (approval ${approval.id}).`,
              },
            },
            req.id,
          )
      : undefined;
  const settled = await service.wait(approval, {
    ...(req.signal ? { signal: req.signal } : {}),
    ...(tick ? { tick, tickMs: PROGRESS_EVERY_MS } : {}),
  });
  // Answered elsewhere, cancelled, timed out: the client's user need not be asked any more.
  asking.abort();
  return settledOutcome(service, call, settled);
}

async function settledOutcome(service: ApprovalService, call: ApprovalCall, a: Approval): Promise<ApprovalStepOutcome> {
  switch (a.status) {
    case 'approved': {
      if (a.remember !== 'none') return { kind: 'approved', approval: a, claimed: false };
      const used = await service.claim(a);
      if (used) return { kind: 'approved', approval: used, claimed: true };
      return blockedOver(
        a,
        'approval_denied',
        `Approval ${a.id} was used by another identical call; call again to ask for a new one.`,
        call.rule,
      );
    }
    case 'denied':
      return deniedOutcome(a);
    case 'withdrawn':
      return blockedOver(a, 'approval_withdrawn', `Approval ${a.id} was withdrawn: the request was cancelled.`);
    case 'pending':
      // The gateway stopped while the call was held. The approval stays pending in the store: it
      // can still be answered, and the agent's retry after the restart finds the answer.
      return blockedOver(
        a,
        'approval_pending',
        `Gatehouse is shutting down, so the call was not completed. Approval ${a.id} stays pending: once a person has approved it, call again with the same arguments.`,
      );
    default:
      return blockedOver(a, 'approval_timeout', `No one approved ${a.tool} in time (approval ${a.id}).`);
  }
}

function deniedOutcome(a: Approval): ApprovalStepOutcome {
  const by = a.decided_by ? ` by ${a.decided_by}` : '';
  return blockedOver(
    a,
    'approval_denied',
    `${a.decision_reason ?? 'The call was not approved.'} (approval ${a.id}, denied${by})`,
  );
}

/**
 * A call blocked over approval `a`: what the client is told (under `rule`, by default the one the
 * approval was opened for) and what its audit record says. A withdrawn approval reaches the client
 * as a denial; the audit log keeps that it was withdrawn.
 */
function blockedOver(a: Approval, audit: AuditDecisionName, reason: string, rule = a.rule): ApprovalStepOutcome {
  const decision = audit === 'approval_withdrawn' ? 'approval_denied' : audit;
  return { kind: 'blocked', audit, approval: a, blocked: { decision, rule, reason, approvalId: a.id } };
}

/** An approval and, when this process opened it, the secret of its page link. */
interface Joined {
  approval: Approval;
  linkKey?: string | undefined;
}

/**
 * An open approval for exactly this call (a retry after a restart joins it rather than asking
 * twice); `unattended`: only one no call held here is waiting on. Its link secret is not known
 * (only its hash is stored), so no page link can be offered for it.
 */
async function reuse(service: ApprovalService, call: ApprovalCall, unattended: boolean): Promise<Joined | undefined> {
  const pending = await service.pending(call, { unattended });
  return pending ? { approval: pending } : undefined;
}

/**
 * The elicitation that asks the client's user; undefined when the client declared only URL mode and
 * no page link can be offered (the link's secret is not known here): such a client never gets a form.
 */
function elicitationParams(
  input: ApprovalStepInput,
  approval: Approval,
  linkKey: string | undefined,
): JsonObject | undefined {
  const message = [
    `Approve this call?`,
    `Server: ${approval.server}`,
    `Tool: ${input.shownName}`,
    `Arguments: ${visibleJson(approval.arguments, 2)}`,
    `Why it needs approval: ${approval.reason}`,
    `Approval: ${approval.id}, expires ${new Date(approval.expires).toISOString()}`,
  ].join('\n');
  const caps = isObject(input.peer.capabilities.elicitation) ? input.peer.capabilities.elicitation : {};
  const page = linkKey ? input.pageUrl(approval, linkKey) : undefined;
  // URL mode only for a client that declared it and not form mode: the page shows the same facts.
  if (isObject(caps.url) && !isObject(caps.form)) {
    return page ? { mode: 'url', message, url: page, elicitationId: approval.id } : undefined;
  }
  return {
    message,
    requestedSchema: {
      type: 'object',
      properties: {
        decision: {
          type: 'string',
          title: 'Decision',
          enum: ['approve', 'deny'],
          description: 'approve lets the call run once; deny refuses it.',
        },
        reason: { type: 'string', title: 'Reason', description: 'Optional; a denial reason reaches the agent.' },
      },
      required: ['decision'],
    },
  };
}

/** Reads an elicitation answer: approve only on an explicit accept with decision "approve". */
function verdictOf(answer: unknown): { approve: boolean; reason?: string } | undefined {
  if (!isObject(answer) || typeof answer.action !== 'string') return undefined;
  if (answer.action !== 'accept')
    return {
      approve: false,
      reason: `The user ${answer.action === 'decline' ? 'declined' : 'cancelled'} the approval.`,
    };
  const content = isObject(answer.content) ? answer.content : {};
  const reason = typeof content.reason === 'string' && content.reason.trim() ? content.reason.trim() : undefined;
  if (content.decision === 'approve') return { approve: true, ...(reason ? { reason } : {}) };
  if (content.decision === 'deny') return { approve: false, reason: reason ?? 'The user denied the call.' };
  return undefined; // URL mode: accepting only means the page was opened; the page answers.
}

function whoAnswered(peer: ClientPeer): string {
  const name = isObject(peer.clientInfo) && typeof peer.clientInfo.name === 'string' ? peer.clientInfo.name : 'client';
  return `user of ${name} (${peer.principal})`;
}

/** Asks a 2025 client's user; `signal` withdraws the question (the client is sent notifications/cancelled). */
async function askLegacyClient(
  input: ApprovalStepInput,
  approval: Approval,
  params: JsonObject,
  signal: AbortSignal,
): Promise<void> {
  const a = await input.peer.request('elicitation/create', params, input.req.id, { signal });
  if (!('result' in a)) return; // the client could not ask, or the question was withdrawn
  const v = verdictOf(a.result);
  if (!v) return;
  await input.service
    .answer(approval.id, {
      approve: v.approve,
      by: whoAnswered(input.peer),
      channel: 'elicitation',
      ...(v.reason ? { reason: v.reason } : {}),
    })
    .catch(() => {});
}

/**
 * The input_required result that asks a 2026-07-28 client's user; undefined when this client
 * cannot be asked about this approval (URL mode without a link).
 */
function question(
  input: ApprovalStepInput,
  approval: Approval,
  linkKey: string | undefined,
): UpstreamAnswer | undefined {
  const params = elicitationParams(input, approval, linkKey);
  if (!params) return undefined;
  const state: ApprovalState = {
    ap: approval.id,
    srv: approval.server,
    m: input.req.method,
    tool: approval.tool,
    h: approval.args_hash,
    ...(linkKey ? { lk: linkKey } : {}),
    n: randomBytes(16).toString('base64url'),
  };
  const requestState = input.ctx.sealer.seal(
    state,
    input.peer.principal,
    Math.max(1000, approval.expires - input.now()),
  );
  return {
    result: {
      resultType: 'input_required',
      inputRequests: {
        [INPUT_KEY]: { method: 'elicitation/create', params },
      },
      requestState,
    },
  };
}

function invalidState(message: string): { kind: 'answer'; answer: { error: JsonRpcErrorObject } } {
  return {
    kind: 'answer',
    answer: { error: { code: ErrorCode.InvalidParams, message: `Invalid requestState: ${message}` } },
  };
}

/** A 2026-07-28 retry that carries the user's answer to the approval question. */
async function answeredByClient(
  input: ApprovalStepInput,
  state: ApprovalState,
  expires: number,
): Promise<ApprovalStepOutcome> {
  const { service, call, req } = input;
  // The state is sealed and bound to the principal; it must also be for exactly this call.
  if (!isAbout(state, { ...call, method: req.method }))
    return invalidState('it was issued for another call or other arguments; start the call again without it.');
  // Good for one retry, as a server's round is (relay.ts): replayed while the approval is pending,
  // it would be asked again and again, each question one more call for the audit log. Claimed for
  // as long as it opens, on every replica sharing the store. A state without a nonce was issued by
  // an earlier Gatehouse and has nothing to claim by.
  if (
    typeof state.n === 'string' &&
    !(await service.store.claimOnce(`ap-rs:${state.n}`, Math.max(0, expires - input.now()) + 60_000, input.now()))
  )
    return invalidState(
      'it was already used for a retry; each requestState is good for one retry. Start the call again without it.',
    );
  const responses = isObject(req.params?.inputResponses) ? req.params.inputResponses : {};
  const v = verdictOf(responses[INPUT_KEY]);
  if (v) {
    await service.answer(state.ap, {
      approve: v.approve,
      by: whoAnswered(input.peer),
      channel: 'elicitation',
      ...(v.reason ? { reason: v.reason } : {}),
    });
  }
  // As people see it: one approved and then left unused past its time has lapsed (`expired`).
  const a = await service.current(state.ap);
  if (!a) return invalidState('the approval it names does not exist.');
  if (a.status === 'used')
    return invalidState('the approval it carries was already used; start the call again without it.');
  if (a.status === 'pending') {
    // Not answered yet (URL mode: the page is still open): ask again with the same approval.
    const asked = question(input, a, state.lk);
    return asked ? { kind: 'answer', answer: asked, approval: a } : withoutAsking(input, { approval: a });
  }
  return settledOutcome(service, call, a);
}
