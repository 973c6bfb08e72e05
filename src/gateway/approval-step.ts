// The approval step of a call (DESIGN section 7): a call the policy holds for a person goes on only
// once an approval covers exactly its arguments. Hold mode waits for the answer (with progress
// notifications), retry mode answers "pending" at once, and a client whose user may answer
// (`notify: [client]`) is asked through elicitation: a 2025 client with an `elicitation/create`
// request, a 2026-07-28 client with an `input_required` result whose retry carries the answer.
import type { Approval } from '../approvals/approval.js';
import { argsHash, type ApprovalCall, type ApprovalService, type ApprovalSettings } from '../approvals/service.js';
import type { BlockedOutcome } from '../policy/blocked-result.js';
import { ErrorCode, isObject, metaOf, type JsonObject, type JsonRpcErrorObject } from '../mcp/jsonrpc.js';
import type { ClientPeer } from './peer.js';
import type { ClientRequest, RelayContext } from './relay.js';
import type { UpstreamAnswer } from './upstream-connection.js';

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
}

export type ApprovalStepOutcome =
  | { kind: 'approved'; approval: Approval }
  | { kind: 'blocked'; blocked: BlockedOutcome; audit: AuditDecisionName; approval?: Approval }
  /** An answer to send as is: an input_required question, or an invalid requestState. */
  | { kind: 'answer'; answer: UpstreamAnswer; approval?: Approval };

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
}

/** The request without the approval round's fields, as it goes on to the server. */
export function withoutApprovalRound(req: ClientRequest): ClientRequest {
  const { requestState: _s, inputResponses: _i, ...params } = req.params ?? {};
  return { ...req, params };
}

export async function approvalStep(input: ApprovalStepInput): Promise<ApprovalStepOutcome> {
  const { service, call, settings, peer, req, ctx } = input;
  if (req.era === 'modern' && req.params?.requestState !== undefined) {
    const opened = ctx.sealer.unseal<Partial<ApprovalState>>(req.params.requestState, peer.principal);
    if (!opened.ok) return invalidState(`${opened.reason}; start the call again without it.`);
    // The gateway's own approval question; any other state is an upstream's, which the relay judges.
    if (typeof opened.payload.ap === 'string') return answeredByClient(input, opened.payload as ApprovalState);
  }
  const granted = await service.granted(call);
  if (granted) return { kind: 'approved', approval: granted };

  const asksClient = settings.notify.includes('client') && isObject(peer.capabilities.elicitation);
  if (req.era === 'modern' && asksClient) {
    const { approval, linkKey } = (await reuse(service, call)) ?? (await service.open(call, settings));
    return { kind: 'answer', answer: question(input, approval, linkKey), approval };
  }
  if (settings.mode === 'retry') {
    const denied = await service.denied(call);
    if (denied) return deniedOutcome(denied);
    const pending = (await service.pending(call)) ?? (await service.open(call, settings)).approval;
    return {
      kind: 'blocked',
      audit: 'approval_pending',
      approval: pending,
      blocked: {
        decision: 'approval_pending',
        rule: call.rule,
        reason: `${call.reason} Approval ${pending.id} is pending: call again with the same arguments once a person has approved it.`,
        approvalId: pending.id,
      },
    };
  }
  return hold(input);
}

/** Hold mode: wait for the answer, telling the client it is still waiting. */
async function hold(input: ApprovalStepInput): Promise<ApprovalStepOutcome> {
  const { service, call, settings, peer, req } = input;
  const reused = await reuse(service, call);
  const { approval, linkKey } = reused ?? (await service.open(call, settings));
  if (settings.notify.includes('client') && isObject(peer.capabilities.elicitation) && peer.era === 'legacy') {
    void askLegacyClient(input, approval, linkKey);
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
  return settledOutcome(service, call, settled);
}

async function settledOutcome(service: ApprovalService, call: ApprovalCall, a: Approval): Promise<ApprovalStepOutcome> {
  switch (a.status) {
    case 'approved': {
      if (a.remember !== 'none') return { kind: 'approved', approval: a };
      const used = await service.store.transitionApproval(a.id, ['approved'], { status: 'used' });
      if (used) return { kind: 'approved', approval: used };
      return {
        kind: 'blocked',
        audit: 'approval_denied',
        approval: a,
        blocked: {
          decision: 'approval_denied',
          rule: call.rule,
          reason: `Approval ${a.id} was used by another identical call; call again to ask for a new one.`,
          approvalId: a.id,
        },
      };
    }
    case 'denied':
      return deniedOutcome(a);
    case 'withdrawn':
      return {
        kind: 'blocked',
        audit: 'approval_withdrawn',
        approval: a,
        blocked: {
          decision: 'approval_denied',
          rule: a.rule,
          reason: `Approval ${a.id} was withdrawn: the request was cancelled.`,
          approvalId: a.id,
        },
      };
    default:
      return {
        kind: 'blocked',
        audit: 'approval_timeout',
        approval: a,
        blocked: {
          decision: 'approval_timeout',
          rule: a.rule,
          reason: `No one approved ${a.tool} in time (approval ${a.id}).`,
          approvalId: a.id,
        },
      };
  }
}

function deniedOutcome(a: Approval): ApprovalStepOutcome {
  const by = a.decided_by ? ` by ${a.decided_by}` : '';
  return {
    kind: 'blocked',
    audit: 'approval_denied',
    approval: a,
    blocked: {
      decision: 'approval_denied',
      rule: a.rule,
      reason: `${a.decision_reason ?? 'The call was not approved.'} (approval ${a.id}, denied${by})`,
      approvalId: a.id,
    },
  };
}

/** An open approval for exactly this call (a retry after a restart joins it rather than asking twice). */
async function reuse(
  service: ApprovalService,
  call: ApprovalCall,
): Promise<{ approval: Approval; linkKey: undefined } | undefined> {
  const pending = await service.pending(call);
  return pending ? { approval: pending, linkKey: undefined } : undefined;
}

function elicitationParams(input: ApprovalStepInput, approval: Approval, linkKey: string | undefined): JsonObject {
  const message = [
    `Approve this call?`,
    `Server: ${approval.server}`,
    `Tool: ${input.shownName}`,
    `Arguments: ${JSON.stringify(approval.arguments, null, 2)}`,
    `Why it needs approval: ${approval.reason}`,
    `Approval: ${approval.id}, expires ${new Date(approval.expires).toISOString()}`,
  ].join('\n');
  const caps = isObject(input.peer.capabilities.elicitation) ? input.peer.capabilities.elicitation : {};
  const page = linkKey ? input.pageUrl(approval, linkKey) : undefined;
  // URL mode only for a client that declared it and not form mode: the page shows the same facts.
  if (isObject(caps.url) && !isObject(caps.form) && page)
    return { mode: 'url', message, url: page, elicitationId: approval.id };
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

async function askLegacyClient(
  input: ApprovalStepInput,
  approval: Approval,
  linkKey: string | undefined,
): Promise<void> {
  const a = await input.peer.request('elicitation/create', elicitationParams(input, approval, linkKey), input.req.id);
  if (!('result' in a)) return; // the client could not ask; other channels still can answer
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

/** The input_required result that asks a 2026-07-28 client's user. */
function question(input: ApprovalStepInput, approval: Approval, linkKey: string | undefined): UpstreamAnswer {
  const state: ApprovalState = {
    ap: approval.id,
    srv: approval.server,
    m: input.req.method,
    tool: approval.tool,
    h: approval.args_hash,
    ...(linkKey ? { lk: linkKey } : {}),
  };
  const requestState = input.ctx.sealer.seal(
    state,
    input.peer.principal,
    Math.max(1000, approval.expires - Date.now()),
  );
  return {
    result: {
      resultType: 'input_required',
      inputRequests: {
        [INPUT_KEY]: { method: 'elicitation/create', params: elicitationParams(input, approval, linkKey) },
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
async function answeredByClient(input: ApprovalStepInput, state: ApprovalState): Promise<ApprovalStepOutcome> {
  const { service, call, req } = input;
  // The state is sealed and bound to the principal; it must also be for exactly this call.
  if (
    state.srv !== call.server ||
    state.m !== req.method ||
    state.tool !== call.tool ||
    state.h !== argsHash(call.args)
  )
    return invalidState('it was issued for another call or other arguments; start the call again without it.');
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
  const a = await service.get(state.ap);
  if (!a) return invalidState('the approval it names does not exist.');
  if (a.status === 'used')
    return invalidState('the approval it carries was already used; start the call again without it.');
  if (a.status === 'pending') {
    // Not answered yet (URL mode: the page is still open): ask again with the same approval.
    return { kind: 'answer', answer: question(input, a, state.lk), approval: a };
  }
  return settledOutcome(service, call, a);
}
