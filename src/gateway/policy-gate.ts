// Where the policy meets the relay: every tools/call is decided before it is forwarded, every
// tools/list shows only what may be called, and quota is reserved before forwarding and given
// back when the upstream call fails. No error path here ends in forwarding.
import { blockedToolResult, unknownToolError, type BlockedOutcome } from '../policy/blocked-result.js';
import type { CompiledPolicy, CompiledRule } from '../policy/compile.js';
import { decide, listable, listableEntry, type CallFacts, type Decision, type Subject } from '../policy/decide.js';
import type { Approval } from '../approvals/approval.js';
import {
  DEFAULT_APPROVAL_TIMEOUT_S,
  argsHash,
  type ApprovalService,
  type ApprovalSettings,
} from '../approvals/service.js';
import type { AuditDecision, AuditLog, AuditRecord } from '../audit/record.js';
import { policyRedactPaths } from '../audit/policy-redact-paths.js';
import { approverArguments, auditedErrorText, auditedName, MAX_DEPTH, redactText } from '../audit/redact.js';
import { approvalRoundOf, approvalStep, withoutApprovalRound } from './approval-step.js';
import type { Identity } from '../identity/grants.js';
import { errorGivesQuotaBack, type Limiter } from '../limits/limiter.js';
import type { Reservation } from '../store/store.js';
import { ErrorCode, isObject, metaOf, type JsonObject } from '../mcp/jsonrpc.js';
import { metaWithTraceContext, startCallSpan, type CallSpan } from '../observability/tracing.js';
import { DecisionClock } from '../observability/decision-clock.js';
import type { ClientSession } from './client-session.js';
import { callerPeer, type ClientPeer } from './peer.js';
import {
  peekCarried,
  roundNonce,
  STATE_CLAIM_TTL_MS,
  stateUsed,
  unreachableReplica,
  type ClientRequest,
  type RelayContext,
} from './relay.js';
import { fail, type UpstreamAnswer, type UpstreamConnection } from './upstream-connection.js';
import type { ToolEntry } from './tool-directory.js';
import { UnansweredRounds } from './unanswered-rounds.js';
import { isSpent } from './spent-answer.js';
import { UriTemplate } from '@modelcontextprotocol/server';
import { classifyListedTool } from '../catalog/catalog.js';
import type { UpstreamPool } from './upstream-pool.js';
import type { StorePinKeeper } from '../catalog/pin-keeper.js';

export type Forward = (req: ClientRequest) => Promise<UpstreamAnswer>;

/** The lists whose entries a policy can hide, each with the subject and the field its entries are matched by. */
export type ListKey = 'resources' | 'resourceTemplates' | 'prompts';
const LIST_FIELDS: Record<ListKey, ['resource' | 'prompt', string]> = {
  resources: ['resource', 'uri'],
  resourceTemplates: ['resource', 'uriTemplate'],
  prompts: ['prompt', 'name'],
};

/** What a retry carries from round one, once its state is claimed for this request. */
type Carried = NonNullable<ReturnType<typeof peekCarried>>;

/**
 * A request after its gateway-sealed requestState was claimed (see PolicyGate.claimRetry): the
 * request to go on with and what it carries (undefined for a first round), or why it stops.
 */
type RetryClaim =
  | { ok: true; req: ClientRequest; carried?: Carried }
  /** Claimed before: the state was used. */
  | { ok: false; refused: 'used' }
  /** The call is parked on another replica this one cannot reach: not claimed here. */
  | { ok: false; refused: 'elsewhere'; replica: string }
  | { ok: false; refused: 'store'; error: unknown };

export interface CallRoute {
  conn: UpstreamConnection;
  session?: ClientSession;
  shownName?: string;
}

/** What the gate reports to, and how it shows arguments to people. */
export interface GateHooks {
  audit: AuditLog;
  /** The arguments as the audit log and approvers may see them, given the policy's `redact` paths. */
  redact: (args: JsonObject, paths: readonly string[]) => unknown;
  /** Called with each record as it is written (metrics). */
  observe?: (record: AuditRecord) => void;
  /** Called when the state store fails a limit check. */
  storeError?: () => void;
  /** The page where a person answers an approval, for URL-mode elicitation. */
  pageUrl: (approval: Approval, linkKey: string) => string | undefined;
  /** Why a grant that authenticated earlier is refused now (revoked, expired), or undefined. */
  refusalNow?: (identity: Identity) => Promise<string | undefined>;
}

export class PolicyGate {
  /** Server rounds answered input_required whose retry may never come (see unanswered-rounds.ts). */
  readonly unanswered: UnansweredRounds;
  /** What each retry's sealed state carries, opened once (see carriedBy). */
  private readonly opened = new WeakMap<ClientRequest, Carried | undefined>();

  constructor(
    private readonly policies: ReadonlyMap<string, CompiledPolicy>,
    private readonly limiter: Limiter,
    private readonly ctx: RelayContext,
    private readonly pool: UpstreamPool,
    private readonly pinsFor: (server: string) => StorePinKeeper | undefined,
    private readonly approvals: ApprovalService,
    private readonly hooks: GateHooks,
    private readonly now: () => number = Date.now,
  ) {
    this.unanswered = new UnansweredRounds(approvals.store, hooks.audit, hooks.observe, now);
  }

  /** Stops watching rounds for a retry (the gateway is stopping). */
  close(): void {
    this.unanswered.close();
  }

  /** The policy in force for a client on a server: the grant's own, else the server's. */
  policyFor(server: string, peer: ClientPeer): CompiledPolicy | undefined {
    return peer.identity?.grant?.policy ?? this.policies.get(server);
  }

  /**
   * Removes from a tools/list result what the client may not call (by policy, or a changed pin).
   * `conn` is the connection the list came on: a changed definition found here also blocks calls,
   * which are decided on the connection's tool directory.
   */
  async filterTools(
    server: string,
    peer: ClientPeer,
    answer: UpstreamAnswer,
    conn?: UpstreamConnection,
  ): Promise<UpstreamAnswer> {
    const policy = this.policyFor(server, peer);
    const keeper = this.pinsFor(server);
    if ((!policy && !keeper) || !('result' in answer) || !Array.isArray(answer.result.tools)) return answer;
    const tools: unknown[] = [];
    const categories = policy !== undefined && usesCategories(policy);
    for (const t of answer.result.tools) {
      if (!isObject(t) || typeof t.name !== 'string') continue;
      if (policy && !listable(policy, t.name, categories ? classifyListedTool(t).category : undefined)) continue;
      if (keeper) {
        const pin = await keeper.check(server, t);
        if (pin.blocked) {
          // The upstream may have changed the definition without announcing it (no list_changed):
          // the directory's entry, on which calls are decided, is blocked too, under the new hash
          // an operator accepts.
          if (conn) await this.pool.tools.markPinBlocked(conn, t.name, pin.hash);
          continue;
        }
      }
      tools.push(t);
    }
    const result: JsonObject = { ...answer.result, tools };
    if (peer.era === 'modern') {
      // What a client sees depends on who it is and on a policy that can change: no shared caching.
      result.cacheScope = 'private';
      result.ttlMs = 0;
    }
    return { result };
  }

  /**
   * Removes hidden and denied entries from a resources/list, resources/templates/list or
   * prompts/list result (a template is matched by its URI template: `secret://items/*` hides
   * `secret://items/{id}`).
   */
  filterEntries(server: string, peer: ClientPeer, answer: UpstreamAnswer, key: ListKey): UpstreamAnswer {
    const policy = this.policyFor(server, peer);
    if (!policy || !('result' in answer) || !Array.isArray(answer.result[key])) return answer;
    const [subject, field] = LIST_FIELDS[key];
    const items = (answer.result[key] as unknown[]).filter((item) => {
      const name = isObject(item) ? item[field] : undefined;
      return typeof name === 'string' && listableEntry(policy, subject, name);
    });
    const result: JsonObject = { ...answer.result, [key]: items };
    if (peer.era === 'modern') {
      result.cacheScope = 'private';
      result.ttlMs = 0;
    }
    return { result };
  }

  /**
   * A reference (`ref/prompt` by name, `ref/resource` by URI or URI template) to what the policy
   * hides or denies: answered as for one that does not exist, so that completion or a subscription
   * neither shows what it holds nor that it exists. Undefined to go on. A prompt is named as its
   * server knows it (on /mcp, without the `<server>__` prefix), as the server's own answer for a
   * missing one names it.
   */
  refusedReference(server: string, peer: ClientPeer, ref: unknown): UpstreamAnswer | undefined {
    const policy = this.policyFor(server, peer);
    if (!policy || !isObject(ref)) return undefined;
    if (ref.type === 'ref/prompt' && typeof ref.name === 'string')
      return listableEntry(policy, 'prompt', ref.name) ? undefined : notFound('prompt', ref.name);
    if (ref.type === 'ref/resource' && typeof ref.uri === 'string')
      return listableEntry(policy, 'resource', ref.uri) ? undefined : notFound('template', ref.uri);
    return undefined;
  }

  /**
   * Takes out of a completion/complete result for a resource template the values whose resource the
   * policy hides or denies: completing `items/{id}` must not list the ids of hidden items. Each
   * value is put in the template with the other arguments the client gave (`context.arguments`).
   */
  filterCompletion(
    server: string,
    peer: ClientPeer,
    params: JsonObject | undefined,
    answer: UpstreamAnswer,
  ): UpstreamAnswer {
    const policy = this.policyFor(server, peer);
    const ref = params?.ref;
    const argument = params?.argument;
    if (!policy || !('result' in answer) || !isObject(ref) || ref.type !== 'ref/resource') return answer;
    if (typeof ref.uri !== 'string' || !isObject(argument) || typeof argument.name !== 'string') return answer;
    const completion = answer.result.completion;
    if (!isObject(completion) || !Array.isArray(completion.values)) return answer;
    let template: UriTemplate | undefined;
    try {
      template = new UriTemplate(ref.uri);
    } catch {
      template = undefined;
    }
    const context = isObject(params?.context) && isObject(params.context.arguments) ? params.context.arguments : {};
    const given: Record<string, string> = {};
    for (const [k, v] of Object.entries(context)) if (typeof v === 'string') given[k] = v;
    const name = argument.name;
    // Of a template the matcher cannot read, nothing it completes is shown.
    const values = !template
      ? []
      : completion.values.filter((v) => {
          if (typeof v !== 'string') return false;
          try {
            return listableEntry(policy, 'resource', template.expand({ ...given, [name]: v }));
          } catch {
            return false; // a value the template cannot hold is not shown either
          }
        });
    if (values.length === completion.values.length) return answer;
    const { total: _total, ...rest } = completion;
    return { result: { ...answer.result, completion: { ...rest, values } } };
  }

  /** As refusedReference, for a resource by its URI (a subscription, a read routed on /mcp). */
  refusedResource(server: string, peer: ClientPeer, uri: unknown): UpstreamAnswer | undefined {
    const policy = this.policyFor(server, peer);
    if (!policy || typeof uri !== 'string') return undefined;
    return listableEntry(policy, 'resource', uri) ? undefined : notFound('resource', uri);
  }

  /**
   * Decides a tools/call, prompts/get or resources/read and forwards it if allowed; every call
   * decided here leaves one audit record, whatever its outcome.
   * `via.conn` is the connection that will carry the call (its tools are the ones that count);
   * `via.shownName` the name the client used (on /mcp, `<server>__<tool>`), for answers naming it.
   */
  async call(
    server: string,
    peer: ClientPeer,
    req: ClientRequest,
    subject: Subject,
    forward: Forward,
    via: CallRoute,
  ): Promise<UpstreamAnswer> {
    const malformed = malformedCall(req, subject);
    if (malformed) return malformed;
    // The retry of a round answered input_required came, whatever becomes of it now: that round
    // leaves no record of its own (see unanswered-rounds.ts).
    const carried = this.carriedBy(server, peer, req);
    if (carried) this.unanswered.retried(carried.nonce);
    const params = req.params ?? {};
    const name = String(subject === 'resource' ? params.uri : params.name);
    if (!carried && params.requestState !== undefined) {
      // Likewise the retry of the gateway's own approval question: for exactly the call it asked
      // about, or another call could carry the state away and leave the asked call unrecorded.
      const asked = approvalRoundOf(req, peer, this.ctx, {
        server,
        tool: name,
        args: subject === 'resource' ? undefined : params.arguments,
      });
      if (asked) this.unanswered.retried(asked.nonce, asked.expires);
    }
    const policy = this.policyFor(server, peer);
    // A server without a policy still has its tool calls recorded; its resources and prompts are
    // recorded when a policy covers them. Their retries are still good for one round each.
    if (!policy && subject !== 'tool') {
      const claim = await this.claimRetry(server, peer, req);
      if (claim.ok) return forward(claim.req);
      if (claim.refused !== 'store') return retryRefusal(claim);
      return this.blocked(subject, peer, { decision: 'deny', rule: '/', reason: storeDownReason(claim.error) });
    }
    const grant = peer.identity?.grant;
    const record: AuditRecord = {
      ts: this.now(),
      request_id: auditedName(String(req.id)),
      server,
      subject,
      tool: auditedName(name),
      grant: grant?.name ?? 'anonymous',
      agent: grant?.agent ?? 'anonymous',
      session: sessionKey(peer, via.session),
      decision: 'deny',
      latency_ms: 0,
    };
    const span = startCallSpan(server, name, params._meta, { subject, session: record.session, requestId: req.id });
    const clock = new DecisionClock(span);
    let answer: UpstreamAnswer;
    try {
      answer = await this.decideAndForward(server, peer, req, subject, forward, via, name, record, span, clock, {
        policy,
        params,
      });
    } catch (err) {
      // No error path ends in allow: a failure inside the pipeline blocks the call.
      record.decision = 'deny';
      const reason = `Gatehouse failed while deciding: ${err instanceof Error ? err.message : String(err)}`;
      answer = this.blocked(subject, peer, { decision: 'deny', rule: '/', reason });
      record.rule = '/';
      record.blocked_by = 'internal_error';
      // An exception's text can quote what it failed on; the log keeps it with secrets hidden.
      record.reason = redactText(reason);
    }
    clock.decided();
    record.latency_ms = this.now() - record.ts;
    if (clock.ms !== undefined) record.decide_ms = clock.ms;
    span.end(record);
    // An input_required round is not the end of the call: its retry is the same logical call
    // (DESIGN section 5), audited and counted once, when it has its final answer.
    if (isInputRequired(answer)) {
      // Unless its retry comes, the call ends here: watched, so that it still leaves its record.
      const round = roundNonce(answer, peer.principal, this.ctx);
      if (round !== undefined) this.unanswered.watch(round.nonce, record, round.expires);
      return answer;
    }
    // Before the answer leaves: write() appends to the audit spool, so a gateway killed after
    // answering still has the record (docs/audit.md, Durability).
    this.hooks.audit.write(record);
    this.hooks.observe?.(record);
    return answer;
  }

  private async decideAndForward(
    server: string,
    peer: ClientPeer,
    req: ClientRequest,
    subject: Subject,
    forward: Forward,
    via: CallRoute,
    name: string,
    record: AuditRecord,
    span: CallSpan,
    clock: DecisionClock,
    // Worked out once by call(): the policy in force for this call and the request's params.
    { policy, params }: { policy: CompiledPolicy | undefined; params: JsonObject },
  ): Promise<UpstreamAnswer> {
    const { conn, shownName } = via;
    const keeper = this.pinsFor(server);
    if (policy) record.policy = peer.identity?.grant?.policy ? 'grant' : 'server';
    const rawArgs = subject === 'resource' ? undefined : params.arguments;
    const args = isObject(rawArgs) ? rawArgs : {};
    // Every rule that could match this call contributes its `redact` paths, whichever rule decides
    // and whether or not a rule decides at all (pins, unknown tools, an unreadable tool list).
    const redactPaths = () => {
      const category = entry ? entry.classification.category : undefined;
      return policyRedactPaths(policy, { subject, name, ...(category ? { category } : {}) });
    };
    const shown = () => {
      const r = this.hooks.redact(args, redactPaths());
      if (r !== undefined) record.arguments = r;
      return r;
    };
    const block = (b: BlockedOutcome, decision: AuditDecision = b.decision) => {
      record.decision = decision;
      record.rule = b.rule;
      record.reason = b.reason;
      if (b.approvalId) record.approval_id = b.approvalId;
      return this.blocked(subject, peer, b);
    };
    let entry: ToolEntry | null | undefined;
    /**
     * The server's tool as the call is decided on, refused when the server does not have it, when
     * its list cannot be read and a pin or the categories need it, or when its pin blocks it. Looked
     * at when the call arrives and again after a hold: a person approved the tool as it was.
     */
    const refusedTool = async (): Promise<UpstreamAnswer | undefined> => {
      entry = await this.entry(conn, name);
      // A tool the server does not have answers exactly like a hidden one: -32602, nothing more.
      if (entry === null) {
        shown();
        record.decision = 'hidden';
        record.blocked_by = 'unknown_tool';
        record.reason = 'The server has no such tool.';
        return { error: unknownToolError(shownName ?? name) };
      }
      if (entry?.classification) {
        record.category = entry.classification.category;
        record.risk = entry.classification.risk;
      }
      if (entry === undefined && (keeper || (policy && usesCategories(policy)))) {
        shown();
        // Without the server's tool list neither the pin nor the category can be checked, and
        // no error path ends in allow.
        record.blocked_by = 'tool_list';
        return block({
          decision: 'deny',
          rule: keeper ? '/pins' : '/categories',
          reason: `Gatehouse could not read the tool list of server "${server}" to check ${shownName ?? name}, so the call is blocked; try again when the server answers tools/list.`,
        });
      }
      if (entry?.pinBlocked && !(await this.acceptedSince(server, name, entry))) {
        shown();
        record.blocked_by = 'pin';
        return block({
          decision: 'deny',
          rule: '/pins',
          reason: `definition of ${shownName ?? name} changed since it was pinned`,
        });
      }
      return undefined;
    };
    if (subject === 'tool') {
      const refused = await refusedTool();
      if (refused) return refused;
    }
    // Before a retry's state is trusted for anything, or anything is forwarded: each state is good
    // for one retry. A replay is refused here, forwarding nothing and giving back nothing.
    const refusedRetry = (claim: Extract<RetryClaim, { ok: false }>): UpstreamAnswer => {
      if (claim.refused !== 'store') {
        // Nothing was forwarded, and round one's quota stays with the call (still parked, or run).
        const answer = retryRefusal(claim);
        record.decision = 'deny';
        record.blocked_by = 'request_state';
        if ('error' in answer) record.reason = answer.error.message;
        return answer;
      }
      const answer = block({ decision: 'deny', rule: '/', reason: storeDownReason(claim.error) });
      // The store's error text can carry its URL, credentials included.
      record.reason = redactText(record.reason ?? '');
      record.blocked_by = 'state_store';
      return answer;
    };
    if (!policy) {
      shown();
      const claim = await this.claimRetry(server, peer, req);
      if (!claim.ok) return refusedRetry(claim);
      record.decision = 'allow';
      return this.forwarded(claim.req, forward, record, [], span, clock);
    }
    const now = this.now();
    const classification = entry?.classification;
    const facts: CallFacts = {
      subject,
      name,
      server,
      ...(classification ? { category: classification.category, risk: classification.risk } : {}),
      ...(entry && isObject(entry.tool.annotations) ? { annotations: entry.tool.annotations } : {}),
      args,
      grant: grantFacts(peer),
      session: { id: record.session },
      now: new Date(now),
    };
    let decision = decide(policy, facts);
    shown();
    if (decision.outcome === 'hidden') {
      record.decision = 'hidden';
      record.rule = decision.rule;
      if (subject !== 'tool') return notFound(subject, name);
      // The list read again, as for a tool the server lacks: the two answers take the same time.
      await this.pool.tools.reread(conn).catch(() => undefined);
      return { error: unknownToolError(shownName ?? name) };
    }
    const claim = await this.claimRetry(server, peer, req);
    if (!claim.ok) return refusedRetry(claim);
    req = claim.req;
    const carried = claim.carried;
    // The one record of a call retried through input_required rounds starts when round one arrived.
    if (carried?.startedAt !== undefined) record.ts = carried.startedAt;
    let approved: string | undefined = carried?.approved;
    // An approval good for one call, claimed for this one: given back if the call is blocked after all.
    let claimed: Approval | undefined;
    if (decision.outcome === 'blocked') {
      if (decision.kind !== 'approval_required')
        return block({ decision: 'deny', rule: decision.rule, reason: decision.reason });
      if (!approved) {
        // A person approves what they can read: every argument but the policy's redact paths.
        const shownArgs = approverArguments(args, redactPaths());
        if (shownArgs === undefined) {
          record.blocked_by = 'approval_arguments';
          return block({
            decision: 'deny',
            rule: decision.rule,
            reason: `The arguments nest deeper than ${MAX_DEPTH} levels, too deep to show a person for approval, so the call is blocked.`,
          });
        }
        clock.pause(); // a held call waits for a person: that is not decision time
        const step = await approvalStep({
          service: this.approvals,
          call: {
            server,
            tool: name,
            subject,
            argsHash: argsHash(args),
            shownArgs,
            grant: record.grant,
            agent: record.agent,
            session: record.session,
            rule: decision.rule,
            reason: decision.reason,
          },
          settings: approvalSettings(policy, decision.rule, via.session !== undefined),
          peer,
          req,
          ctx: this.ctx,
          shownName: shownName ?? name,
          pageUrl: this.hooks.pageUrl,
          now: this.now,
        });
        clock.resume();
        if (step.kind === 'over_limit') {
          // Said in the operator's own words, and audited as what it is.
          record.blocked_by = 'approval_limit';
          return block({ decision: 'deny', rule: decision.rule, reason: step.reason });
        }
        if (step.approval) noteApproval(record, step.approval);
        if (step.kind === 'blocked') return block(step.blocked, step.audit);
        if (step.kind === 'answer') {
          record.decision = 'approval_pending';
          record.rule = decision.rule;
          record.reason = decision.reason;
          return step.answer;
        }
        approved = step.approval.id;
        if (step.claimed) claimed = step.approval;
        // A held call goes on under its grant as the grant is now, as a request arriving now would:
        // one revoked or expired while the call waited for a person is refused.
        const gone = peer.identity ? await this.hooks.refusalNow?.(peer.identity) : undefined;
        if (gone) {
          if (claimed) await this.approvals.giveBack(claimed);
          record.blocked_by = 'grant';
          return block({ decision: 'deny', rule: decision.rule, reason: gone });
        }
        // The server may have changed or dropped the tool while the call was held.
        if (subject === 'tool') {
          const refused = await refusedTool();
          if (refused) {
            if (claimed) await this.approvals.giveBack(claimed);
            return refused;
          }
        }
        req = withoutApprovalRound(req);
      }
      // Approved: what follows approval in the order (limits) still applies, under the policy in
      // force now: a reload while the call was held applies to it.
      decision = decide(this.policyFor(server, peer) ?? policy, { ...facts, approved: true });
      if (decision.outcome !== 'allow') {
        // The policy changed while the call was held: it decides as if the call had just arrived.
        if (claimed) await this.approvals.giveBack(claimed);
        if (decision.outcome === 'hidden') {
          record.decision = 'hidden';
          record.rule = decision.rule;
          return subject === 'tool' ? { error: unknownToolError(shownName ?? name) } : notFound(subject, name);
        }
        return block({ decision: 'deny', rule: decision.rule, reason: decision.reason });
      }
    }
    if (decision.shadowed) record.shadow_decision = shadowDecision(decision.shadowed);
    record.rule = decision.rule;
    // A retry of an input_required round is the same call: its quota was reserved in round one.
    let reservations: Reservation[] = carried?.reservations ?? [];
    const limits = decision.limits;
    if (!carried && limits.length > 0) {
      const facts = { grant: record.grant, agent: record.agent, session: record.session, server };
      let limited: Awaited<ReturnType<Limiter['reserve']>>;
      try {
        limited = await this.limiter.reserve(limits, facts, now);
      } catch (err) {
        // A store that cannot be reached blocks the calls that need it (DESIGN section 1).
        this.hooks.storeError?.();
        if (claimed) await this.approvals.giveBack(claimed).catch(() => undefined);
        const answer = block({
          decision: 'deny',
          rule: limits[0]!.limit.path,
          reason: `The state store could not be reached to check this call's limits, so it is blocked: ${err instanceof Error ? err.message : String(err)}`,
        });
        // The store's error text can carry its URL, credentials included.
        record.reason = redactText(record.reason ?? '');
        record.blocked_by = 'state_store';
        return answer;
      }
      if (!limited.ok) {
        // The call did not happen: its approval stays good for the retry.
        if (policy.enforce && claimed) await this.approvals.giveBack(claimed);
        if (policy.enforce)
          return block({
            decision: 'rate_limited',
            rule: limited.rule,
            reason: limited.reason,
            retryAfterS: limited.retryAfterS,
          });
        record.shadow_decision ??= 'rate_limited';
      } else reservations = limited.reservations;
    }
    record.decision = 'allow';
    return this.forwarded({ ...req, ...(approved ? { approved } : {}) }, forward, record, reservations, span, clock);
  }

  /** Forwards an allowed call, giving its quota back when the call did not happen. */
  private async forwarded(
    req: ClientRequest,
    forward: Forward,
    record: AuditRecord,
    reservations: Reservation[],
    span: CallSpan,
    clock: DecisionClock,
  ): Promise<UpstreamAnswer> {
    clock.decided();
    const sent = this.now();
    const answer = span.span.isRecording()
      ? await span.child('forward', () =>
          forward(traced({ ...req, carried: reservations, startedAt: record.ts }, span)),
        )
      : await forward({ ...req, carried: reservations, startedAt: record.ts });
    record.upstream_ms = this.now() - sent;
    if ('error' in answer) {
      record.outcome = 'error';
      // The upstream's message can quote the arguments it refused: secrets are hidden as in any log line.
      record.error = auditedErrorText(answer.error.code, answer.error.message);
    } else record.outcome = answer.result.isError === true ? 'is_error' : 'ok';
    // Quota comes back when the call did not happen: a JSON-RPC error or a transport failure
    // (a result with isError is a call that happened), but not when the call reached the upstream
    // and its answer was lost, nor when Gatehouse refuses to go on with a call the upstream already
    // ran in an earlier round (see spent-answer.ts), nor when the call was delivered and then
    // cancelled or timed out (errorGivesQuotaBack).
    if ('error' in answer && reservations.length > 0 && !isSpent(answer) && errorGivesQuotaBack(answer.error.code))
      await this.limiter.release(reservations);
    return answer;
  }

  /**
   * Claims, in the state store, the gateway-sealed requestState a retry carries: each is good for
   * one retry, across every replica sharing the store. Done once per request, before what the state
   * carries (round one's reservations and approval) is trusted and before anything is forwarded;
   * the relay then opens the state only for the request that claimed it. A request without such a
   * state (a first round, or a state the relay will refuse) goes on as it is. A call parked on
   * another replica is not claimed here: only the replica holding it claims (a retry that reaches
   * it later still completes). A store that cannot be reached blocks the retry, as it blocks calls
   * with limits.
   */
  private async claimRetry(server: string, peer: ClientPeer, req: ClientRequest): Promise<RetryClaim> {
    const carried = this.carriedBy(server, peer, req);
    if (!carried) return { ok: true, req };
    if (carried.elsewhere) return { ok: false, refused: 'elsewhere', replica: carried.elsewhere };
    if (req.claimedState === carried.nonce) return { ok: true, req, carried };
    let first: boolean;
    try {
      first = await this.approvals.store.claimOnce(`rs:${carried.nonce}`, STATE_CLAIM_TTL_MS, this.now());
    } catch (error) {
      this.hooks.storeError?.();
      return { ok: false, refused: 'store', error };
    }
    if (!first) return { ok: false, refused: 'used' };
    return { ok: true, req: { ...req, claimedState: carried.nonce }, carried };
  }

  /**
   * What a retry carries in its sealed requestState (peekCarried), opened once per request: call()
   * notes the retry as it arrives, and claimRetry claims it later.
   */
  private carriedBy(server: string, peer: ClientPeer, req: ClientRequest): Carried | undefined {
    if (req.era !== 'modern' || req.params?.requestState === undefined) return undefined;
    if (!this.opened.has(req)) this.opened.set(req, peekCarried(req, peer, this.ctx, server));
    return this.opened.get(req);
  }

  /**
   * The directory entry of a tool of `server` as the caller's tools/list shows it (for the 2026-07-28
   * header check): undefined for a missing tool, and for one the list leaves out after the same read
   * of the list a missing one costs (ToolDirectory.reread), so neither the answer nor its time tells
   * the two apart.
   */
  async listedEntry(
    server: string,
    conn: UpstreamConnection,
    name: string,
    identity: Identity | undefined,
  ): Promise<ToolEntry | undefined> {
    const entry = await this.pool.tools.tool(conn, name).catch(() => undefined);
    if (!entry || !identity) return entry;
    const policy = this.policyFor(server, callerPeer(identity));
    if (!policy || listable(policy, name, entry.classification.category)) return entry;
    await this.pool.tools.reread(conn).catch(() => undefined);
    return undefined;
  }

  /** The tool's directory entry; null when the server does not have it, undefined when unknown. */
  private async entry(conn: UpstreamConnection, tool: string): Promise<ToolEntry | null | undefined> {
    try {
      return (await this.pool.tools.tool(conn, tool)) ?? null;
    } catch {
      return undefined; // the list could not be read: the server itself will answer the call
    }
  }

  /** A blocked tool accepted by an operator since: unblock it and tell the clients. */
  private async acceptedSince(server: string, tool: string, entry: ToolEntry): Promise<boolean> {
    const keeper = this.pinsFor(server);
    if (!keeper || !(await keeper.accepted(server, tool, entry.pinHash))) return false;
    entry.pinBlocked = false;
    this.pool.announce(server, 'notifications/tools/list_changed');
    return true;
  }

  private blocked(subject: Subject, peer: ClientPeer, b: BlockedOutcome): UpstreamAnswer {
    if (subject === 'tool') return { result: blockedToolResult(b, peer.era) };
    return {
      error: {
        code: ErrorCode.InvalidRequest,
        message: `${b.decision === 'rate_limited' ? '[RATE LIMITED]' : '[POLICY DENIED]'} ${b.reason}`,
        data: {
          'gatehouse/decision': {
            decision: b.decision,
            rule: b.rule,
            reason: b.reason,
            ...(b.retryAfterS !== undefined ? { retry_after_s: b.retryAfterS } : {}),
          },
        },
      },
    };
  }
}

/**
 * A decided call must name its subject with a string and give its arguments as an object: the
 * policy decides on names and arguments, approvals hash them, and a name of another type (an array,
 * say) that a server coerces to a string would reach it undecided, while arguments that are a list
 * or a string would be seen as `{}` and forwarded as they are (an approval of no arguments would
 * cover `["--force"]`).
 */
function malformedCall(req: ClientRequest, subject: Subject): UpstreamAnswer | undefined {
  const params = req.params ?? {};
  const key = subject === 'resource' ? 'uri' : 'name';
  if (typeof params[key] !== 'string')
    return fail(ErrorCode.InvalidParams, `${req.method} needs "${key}" as a string.`);
  if (subject !== 'resource' && params.arguments !== undefined && !isObject(params.arguments))
    return fail(ErrorCode.InvalidParams, `${req.method} needs "arguments" as an object.`);
  return undefined;
}

/** The answer to a retry refused for its state: used already, or its call held on a replica out of reach. */
function retryRefusal(claim: { refused: 'used' } | { refused: 'elsewhere'; replica: string }): UpstreamAnswer {
  return claim.refused === 'used' ? stateUsed() : unreachableReplica(claim.replica);
}

function storeDownReason(err: unknown): string {
  return `The state store could not be reached to check this call's requestState, so it is blocked: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * The "session" a limit with scope session counts in: the legacy session id where there is one;
 * for 2026-07-28 requests, the verified principal — never anything the client picks.
 */
export function sessionKey(peer: ClientPeer, session?: ClientSession): string {
  return session ? `legacy:${session.id}` : `principal:${peer.principal}`;
}

/** The request with the trace context of the gateway's span, so the server's spans join the trace. */
function traced(req: ClientRequest, span: CallSpan): ClientRequest {
  const meta = metaWithTraceContext(metaOf(req.params), span.context);
  return meta ? { ...req, params: { ...req.params, _meta: meta } } : req;
}

function grantFacts(peer: ClientPeer): CallFacts['grant'] {
  const g = peer.identity?.grant;
  return g ? { name: g.name, agent: g.agent, labels: g.labels } : { name: 'anonymous', agent: 'anonymous', labels: {} };
}

/** The rules a decision's path points into (the rule itself and all_tools), for their settings. */
function rulesOf(policy: CompiledPolicy, path: string): CompiledRule[] {
  const all: CompiledRule[] = [];
  if (policy.allTools) all.push(policy.allTools);
  for (const table of [policy.tools, policy.resources, policy.prompts]) {
    all.push(...table.exact.values(), ...table.globs.map((g) => g.rule));
  }
  all.push(...Object.values(policy.categories).filter((r): r is CompiledRule => r !== undefined));
  return all.filter((r) => path === r.path || path.startsWith(`${r.path}/`));
}

/**
 * The `approval` block of the rule that asked for approval (or all_tools'), with defaults.
 * `inSession`: the call came in a legacy session. A 2026-07-28 request has none, and its session
 * key is the grant's principal, which never ends: there `remember: session` lasts the approval's
 * `timeout` from the answer instead of for ever.
 */
function approvalSettings(policy: CompiledPolicy, path: string, inSession: boolean): ApprovalSettings {
  const a = rulesOf(policy, path).find((r) => r.approval)?.approval ?? policy.allTools?.approval;
  const timeoutS = a?.timeout ?? DEFAULT_APPROVAL_TIMEOUT_S;
  const remember = a?.remember ?? 'none';
  return {
    timeoutS,
    mode: a?.mode ?? 'hold',
    remember: remember === 'session' && !inSession ? timeoutS : remember,
    notify: a?.notify ?? [],
  };
}

function noteApproval(record: AuditRecord, a: Approval): void {
  record.approval_id = a.id;
  if (a.decided_by) record.approver = a.decided_by;
  if (a.channel) record.approval_channel = a.channel;
  if (a.decided_at !== undefined && a.decided_by !== undefined) record.approval_decided_at = a.decided_at;
}

function shadowDecision(d: NonNullable<Extract<Decision, { outcome: 'allow' }>['shadowed']>): AuditDecision {
  if (d.outcome === 'hidden') return 'hidden';
  return d.kind === 'approval_required' ? 'approval_pending' : 'deny';
}

function isInputRequired(answer: UpstreamAnswer): boolean {
  return 'result' in answer && answer.result.resultType === 'input_required';
}

function usesCategories(policy: CompiledPolicy): boolean {
  return Object.keys(policy.categories).length > 0;
}

/**
 * The answer for a hidden or denied prompt, resource or resource template that a client names:
 * word for word what the SDK's server answers for one it does not have, in either era, so that
 * the answer does not tell a hidden entry from a missing one (as `Unknown tool` does for tools).
 * A resource is -32602 with its URI in `data`, as the 2026-07-28 revision requires (SEP-2164);
 * the 2025 revisions' -32002 would set a hidden resource apart from a missing one on such servers.
 */
export function notFound(what: 'prompt' | 'resource' | 'template', name: string): UpstreamAnswer {
  if (what === 'resource')
    return { error: { code: ErrorCode.InvalidParams, message: `Resource not found: ${name}`, data: { uri: name } } };
  if (what === 'template')
    return { error: { code: ErrorCode.InvalidParams, message: `Resource template ${name} not found` } };
  return { error: { code: ErrorCode.InvalidParams, message: `Prompt ${name} not found` } };
}
