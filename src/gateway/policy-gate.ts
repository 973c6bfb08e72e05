// Where the policy meets the relay: every tools/call is decided before it is forwarded, every
// tools/list shows only what may be called, and quota is reserved before forwarding and given
// back when the upstream call fails. No error path here ends in forwarding.
import { blockedToolResult, unknownToolError, type BlockedOutcome } from '../policy/blocked-result.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { decide, listable, listableEntry, type Subject } from '../policy/decide.js';
import type { Limiter } from '../limits/limiter.js';
import type { Reservation } from '../store/store.js';
import { ErrorCode, isObject, type JsonObject } from '../mcp/jsonrpc.js';
import type { ClientSession } from './client-session.js';
import type { ClientPeer } from './peer.js';
import { peekCarried, type ClientRequest, type RelayContext } from './relay.js';
import type { UpstreamAnswer, UpstreamConnection } from './upstream-connection.js';
import type { ToolEntry } from './tool-directory.js';
import { classifyListedTool } from '../catalog/catalog.js';
import type { UpstreamPool } from './upstream-pool.js';
import type { StorePinKeeper } from '../catalog/pin-keeper.js';

export type Forward = (req: ClientRequest) => Promise<UpstreamAnswer>;

export interface CallRoute {
  conn: UpstreamConnection;
  session?: ClientSession;
  shownName?: string;
}

export class PolicyGate {
  constructor(
    private readonly policies: ReadonlyMap<string, CompiledPolicy>,
    private readonly limiter: Limiter,
    private readonly ctx: RelayContext,
    private readonly pool: UpstreamPool,
    private readonly pinsFor: (server: string) => StorePinKeeper | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The policy in force for a client on a server: the grant's own, else the server's. */
  policyFor(server: string, peer: ClientPeer): CompiledPolicy | undefined {
    return peer.identity?.grant?.policy ?? this.policies.get(server);
  }

  /** Removes from a tools/list result what the client may not call (by policy, or a changed pin). */
  async filterTools(server: string, peer: ClientPeer, answer: UpstreamAnswer): Promise<UpstreamAnswer> {
    const policy = this.policyFor(server, peer);
    const keeper = this.pinsFor(server);
    if ((!policy && !keeper) || !('result' in answer) || !Array.isArray(answer.result.tools)) return answer;
    const tools: unknown[] = [];
    for (const t of answer.result.tools) {
      if (!isObject(t) || typeof t.name !== 'string') continue;
      if (policy && !listable(policy, t.name, usesCategories(policy) ? classifyListedTool(t).category : undefined))
        continue;
      if (keeper && (await keeper.check(server, t)).blocked) continue;
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

  /** Removes hidden and denied resources or prompts from a resources/list or prompts/list result. */
  filterEntries(
    server: string,
    peer: ClientPeer,
    answer: UpstreamAnswer,
    subject: 'resource' | 'prompt',
  ): UpstreamAnswer {
    const policy = this.policyFor(server, peer);
    const key = subject === 'resource' ? 'resources' : 'prompts';
    if (!policy || !('result' in answer) || !Array.isArray(answer.result[key])) return answer;
    const items = (answer.result[key] as unknown[]).filter((item) => {
      const name = isObject(item) ? (subject === 'resource' ? item.uri : item.name) : undefined;
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
   * Decides a tools/call, prompts/get or resources/read and forwards it if allowed.
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
    const { conn, session, shownName } = via;
    const policy = this.policyFor(server, peer);
    const keeper = this.pinsFor(server);
    if (!policy && (!keeper || subject !== 'tool')) return forward(req);
    const params = req.params ?? {};
    const name = subject === 'resource' ? params.uri : params.name;
    if (typeof name !== 'string') return forward(req); // the server answers a malformed call itself
    let entry: ToolEntry | null | undefined;
    if (subject === 'tool') {
      entry = await this.entry(conn, name);
      // A tool the server does not have answers exactly like a hidden one: -32602, nothing more.
      if (entry === null) return { error: unknownToolError(shownName ?? name) };
      if (entry === undefined && (keeper || (policy && usesCategories(policy)))) {
        // Without the server's tool list neither the pin nor the category can be checked, and
        // no error path ends in allow.
        return this.blocked(subject, peer, {
          decision: 'deny',
          rule: keeper ? '/pins' : '/categories',
          reason: `Gatehouse could not read the tool list of server "${server}" to check ${shownName ?? name}, so the call is blocked; try again when the server answers tools/list.`,
        });
      }
      if (entry?.pinBlocked && !(await this.acceptedSince(server, name, entry))) {
        return this.blocked(subject, peer, {
          decision: 'deny',
          rule: '/pins',
          reason: `definition of ${shownName ?? name} changed since it was pinned`,
        });
      }
      if (!policy) return forward(req);
    }
    if (!policy) return forward(req);
    const args = subject === 'tool' ? params.arguments : subject === 'prompt' ? params.arguments : undefined;
    const grant = peer.identity?.grant;
    const now = this.now();
    const classification = entry?.classification;
    const decision = decide(policy, {
      subject,
      name,
      server,
      ...(classification ? { category: classification.category, risk: classification.risk } : {}),
      ...(entry && isObject(entry.tool.annotations) ? { annotations: entry.tool.annotations } : {}),
      args: isObject(args) ? args : {},
      grant: grant
        ? { name: grant.name, agent: grant.agent, labels: grant.labels }
        : { name: 'anonymous', agent: 'anonymous', labels: {} },
      session: { id: sessionKey(peer, session) },
      now: new Date(now),
    });
    if (decision.outcome === 'hidden')
      return subject === 'tool' ? { error: unknownToolError(shownName ?? name) } : notFound(subject, shownName ?? name);
    if (decision.outcome === 'blocked') {
      const reason =
        decision.kind === 'approval_required'
          ? `${decision.reason} Approvals are not configured on this gateway, so the call is blocked.`
          : decision.reason;
      return this.blocked(subject, peer, { decision: 'deny', rule: decision.rule, reason });
    }
    // A retry of an input_required round is the same call: its quota was reserved in round one.
    const carried = peekCarried(req, peer, this.ctx, server);
    let reservations: Reservation[] = carried ?? [];
    if (!carried && decision.limits.length > 0) {
      const facts = {
        grant: grant?.name ?? 'anonymous',
        agent: grant?.agent ?? 'anonymous',
        session: sessionKey(peer, session),
        server,
      };
      const limited = await this.limiter.reserve(decision.limits, facts, now);
      if (!limited.ok) {
        if (policy.enforce)
          return this.blocked(subject, peer, {
            decision: 'rate_limited',
            rule: limited.rule,
            reason: limited.reason,
            retryAfterS: limited.retryAfterS,
          });
      } else reservations = limited.reservations;
    }
    const answer = await forward({ ...req, carried: reservations });
    // Quota comes back when the call did not happen: a JSON-RPC error or a transport failure
    // (a result with isError is a call that happened).
    if ('error' in answer && reservations.length > 0) await this.limiter.release(reservations);
    return answer;
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
 * The "session" a limit with scope session counts in: the legacy session id where there is one;
 * for 2026-07-28 requests, the verified principal — never anything the client picks.
 */
export function sessionKey(peer: ClientPeer, session?: ClientSession): string {
  return session ? `legacy:${session.id}` : `principal:${peer.principal}`;
}

function usesCategories(policy: CompiledPolicy): boolean {
  return Object.keys(policy.categories).length > 0;
}

function notFound(subject: Subject, name: string): UpstreamAnswer {
  if (subject === 'resource')
    return { error: { code: ErrorCode.ResourceNotFound, message: `Resource not found: ${name}` } };
  return { error: { code: ErrorCode.InvalidParams, message: `Unknown prompt: ${name}` } };
}
