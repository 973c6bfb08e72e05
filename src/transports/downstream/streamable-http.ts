// The Streamable HTTP endpoint, both eras on one URL. A request with a 2026-07-28 envelope stands
// alone (no session); anything else belongs to a legacy session opened by `initialize`, with its
// GET stream and DELETE. Decisions are made on the parsed body, and the headers must agree with it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClientSession, type Channel } from '../../gateway/client-session.js';
import { handleModernRequest, handleSessionMessage, modernPeer, visibleTo } from '../../gateway/dispatch.js';
import type { Endpoint } from '../../gateway/endpoint.js';
import { openListen } from '../../gateway/listen.js';
import { eraOfRequest, isModernVersion, mcpNameOf, MODERN_METHODS, notAModernMethod } from '../../mcp/era.js';
import {
  errorResponse,
  ErrorCode,
  isObject,
  isRequest,
  parseClientMessage,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../../mcp/jsonrpc.js';
import { decodeJsonBody, sendJson, sendRpcError } from '../../http/respond.js';
import { MAX_UNREAD_BYTES, SseStream } from '../../http/sse.js';
import { decodeParamValue, paramHeaderMismatch } from '../../mcp/param-headers.js';
import { classifyInbound } from './classify-inbound.js';
import type { Identity } from '../../identity/grants.js';
import {
  countSessionsOf,
  refuseInflight,
  refuseNewSession,
  SESSION_LIMIT_DEFAULTS,
  tooManySessions,
  type SessionLimits,
} from '../../http/session-limits.js';
import type { RetryRouter } from '../../cluster/route-retry.js';
import type { SessionBindings } from '../../cluster/session-bindings.js';
import { laterIdentity, type IdentityWatch } from '../../identity/identity-watch.js';

const SESSION_HEADER = 'mcp-session-id';
/** Errors a 2026-07-28 server answers with HTTP 400 even when they come from handling the request. */
const EDGE_CODES = new Set<number>([ErrorCode.MissingClientCapability, ErrorCode.UnsupportedProtocolVersion]);
const MAX_QUEUED = 1_000;
const IDLE_SESSION_MS = 30 * 60_000;

/** One POST's answer: plain JSON, or an SSE stream once a related message must go first. */
class PostReply {
  private stream: SseStream | undefined;
  done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly canStream: boolean,
    private readonly headers: Record<string, string>,
  ) {}

  /** Sends a message that belongs with this request before its response; false if it cannot. */
  related(message: JsonRpcMessage): boolean {
    if (this.done || !this.canStream || this.res.writableEnded) return false;
    this.stream ??= new SseStream(this.res, this.headers);
    return this.stream.send(message);
  }

  finish(response: JsonRpcResponse | undefined, status = 200): void {
    if (this.done) return;
    this.done = true;
    if (this.stream) {
      if (response) this.stream.send(response);
      this.stream.end();
    } else if (response) sendJson(this.res, status, response, this.headers);
    else {
      this.res.writeHead(202, this.headers).end();
    }
  }
}

interface SessionState {
  session: ClientSession;
  endpoint: Endpoint;
  replies: Map<JsonRpcId, PostReply>;
  getStream: SseStream | undefined;
  queue: JsonRpcMessage[];
  /** The JSON size of what `queue` holds. */
  queuedBytes: number;
  /** Who the latest request on the session came from (its token may be newer than the first). */
  identity: Identity;
  /** Stops the watch on the session's grant. */
  unwatch?: () => void;
}

/** A session's state before anything was sent on it or kept for its GET stream. */
function newSessionState(session: ClientSession, endpoint: Endpoint): SessionState {
  return {
    session,
    endpoint,
    replies: new Map(),
    getStream: undefined,
    queue: [],
    queuedBytes: 0,
    identity: session.identity,
  };
}

/** Who is calling, as the HTTP edge verified it. */
export type HttpEdge = Identity;

/** What replicas sharing a store need at this edge. */
export interface ClusterEdge {
  /** Sends a 2026-07-28 retry to the replica holding its parked call. */
  routeRetry?: RetryRouter;
  /** Legacy sessions other replicas can continue. */
  bindings?: SessionBindings;
}

/** A session another replica holds and that cannot continue here. */
interface Stuck {
  stuck: string;
  reason?: string;
  /** Set when continuing it here would take the grant past limits.max_sessions_per_grant: the 429's text. */
  tooMany?: string;
}

export class StreamableHttpDownstream {
  private readonly sessions = new Map<string, SessionState>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly limits: SessionLimits;
  /** 2026-07-28 requests in flight per principal (their "session", DESIGN section 5). */
  private readonly modernInflight = new Map<string, number>();

  /** Sessions being continued from another replica, so concurrent requests rebuild one. */
  private readonly resuming = new Map<string, Promise<SessionState | Stuck | undefined>>();

  constructor(
    limits?: SessionLimits,
    private readonly cluster: ClusterEdge = {},
    /** Ends sessions and listen streams whose grant is revoked or expires while they are open. */
    private readonly grantWatch?: IdentityWatch,
  ) {
    this.limits = limits ?? { ...SESSION_LIMIT_DEFAULTS, sessionsOf: (p) => this.sessionsOf(p) };
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  sessionsOf(principal: string): number {
    return countSessionsOf(this.sessions.values(), principal);
  }

  async post(
    req: IncomingMessage,
    res: ServerResponse,
    endpoint: Endpoint,
    raw: string,
    edge: HttpEdge,
  ): Promise<void> {
    const body = decodeJsonBody(res, raw, req.headers['content-type']);
    if (!body) return;
    const value = body.value;
    // The SDK's own inbound ladder (classify-inbound.ts: the same answers, faster on the common
    // shapes) classifies the era from the body and checks the envelope, so the edge rejects
    // exactly what a server would.
    const ladder = classifyInbound({
      httpMethod: 'POST',
      ...optionalHeader('protocolVersionHeader', header(req, 'mcp-protocol-version')),
      ...optionalHeader('mcpMethodHeader', header(req, 'mcp-method')),
      ...optionalHeader('mcpNameHeader', header(req, 'mcp-name')),
      body: value,
    });
    const rawId = isObject(value) && (typeof value.id === 'string' || typeof value.id === 'number') ? value.id : null;
    if (ladder.kind === 'reject')
      return sendJson(res, ladder.httpStatus, errorResponse(rawId, ladder.code, ladder.message, ladder.data));
    const parsed = parseClientMessage(value);
    if (!parsed.ok) return sendRpcError(res, 400, parsed.error.code, parsed.error.message, parsed.id);
    const msg = parsed.message;
    const canStream = acceptsSse(req);

    if (ladder.kind === 'modern') {
      if (!isRequest(msg)) {
        res.writeHead(202).end();
        return;
      }
      if (!MODERN_METHODS.has(msg.method)) {
        return sendJson(res, 404, errorResponse(msg.id, ErrorCode.MethodNotFound, notAModernMethod(msg.method)));
      }
      const mismatch = headerMismatch(req, msg) ?? (await this.paramMismatch(req, endpoint, msg, edge));
      if (mismatch)
        return sendJson(
          res,
          400,
          errorResponse(
            msg.id,
            ErrorCode.HeaderMismatch,
            `Bad Request: the request headers and body disagree: ${mismatch}`,
          ),
        );
      if (await this.cluster.routeRetry?.(req, res, raw, msg.params?.requestState, edge.principal)) return;
      return this.modern(req, res, endpoint, msg, edge, canStream);
    }

    // A 2025 message's Mcp-Method and Mcp-Name headers, if it sends them, must name what it does.
    const legacyMismatch = headerMismatch(req, msg);
    if (legacyMismatch)
      return sendJson(
        res,
        400,
        errorResponse(
          isRequest(msg) ? msg.id : null,
          ErrorCode.HeaderMismatch,
          `Bad Request: the request headers and body disagree: ${legacyMismatch}`,
        ),
      );
    const sid = header(req, SESSION_HEADER);
    if (isRequest(msg) && msg.method === 'initialize') {
      if (sid)
        return sendRpcError(
          res,
          400,
          ErrorCode.InvalidRequest,
          'An initialize request must not carry an Mcp-Session-Id.',
          msg.id,
        );
      return this.initialize(res, endpoint, msg, edge, canStream);
    }
    if (!sid)
      return sendRpcError(
        res,
        400,
        ErrorCode.InvalidRequest,
        'Bad Request: the Mcp-Session-Id header is required (send initialize first).',
        isRequest(msg) ? msg.id : null,
      );
    const state = await this.sessionAnywhere(sid, endpoint, edge);
    if (!state || 'stuck' in state) return sessionNotFound(res, isRequest(msg) ? msg.id : null, state);
    this.cluster.bindings?.touch(state.session);
    // From here on the request is decided with `edge`, the identity its own token gives (same
    // principal as the session's, checked above), not the one that opened the session.
    if (!isRequest(msg)) {
      await handleSessionMessage(endpoint, state.session, msg, edge);
      res.writeHead(202).end();
      return;
    }
    if (refuseInflight(res, this.limits, state.session.inflight.size, msg.id)) return;
    const reply = new PostReply(res, canStream, {});
    state.replies.set(msg.id, reply);
    res.on('close', () => {
      // The client dropped the POST: its request is cancelled, as in the spec's disconnect rule.
      if (!reply.done) state.session.inflight.get(msg.id)?.abort();
    });
    try {
      reply.finish(await handleSessionMessage(endpoint, state.session, msg, edge));
    } finally {
      state.replies.delete(msg.id);
    }
  }

  private async initialize(
    res: ServerResponse,
    endpoint: Endpoint,
    msg: JsonRpcRequest,
    edge: HttpEdge,
    canStream: boolean,
  ): Promise<void> {
    if (refuseNewSession(res, this.limits, edge.principal, msg.id)) return;
    const session = new ClientSession(edge);
    const state = newSessionState(session, endpoint);
    session.channel = this.channelFor(state);
    const reply = new PostReply(res, canStream, { 'mcp-session-id': session.id });
    state.replies.set(msg.id, reply);
    const response = await handleSessionMessage(endpoint, session, msg, edge);
    state.replies.delete(msg.id);
    if (session.initialized) {
      this.hold(session.id, state);
      // Before the client hears of the session: its next request may go to another replica.
      await this.cluster.bindings?.save(session, endpoint);
    } else session.close();
    reply.finish(response);
  }

  private channelFor(state: SessionState): Channel {
    return {
      send: (message, relatedTo) => {
        if (!visibleTo(state.endpoint, state.session.principal, message)) return;
        const reply = relatedTo !== undefined ? state.replies.get(relatedTo) : undefined;
        if (reply?.related(message)) return;
        if (state.getStream?.send(message)) return;
        // Kept until the client opens its GET stream; bounded in count and in size (as much as a
        // stream may leave unread), so a silent client costs little whatever the messages hold.
        if (state.queue.length >= MAX_QUEUED) return;
        const bytes = JSON.stringify(message).length;
        if (state.queuedBytes + bytes > MAX_UNREAD_BYTES) return;
        state.queue.push(message);
        state.queuedBytes += bytes;
      },
    };
  }

  /** For a 2026-07-28 tools/call: whether its `Mcp-Param-*` headers disagree with its arguments. */
  private async paramMismatch(
    req: IncomingMessage,
    endpoint: Endpoint,
    msg: JsonRpcRequest,
    edge: HttpEdge,
  ): Promise<string | undefined> {
    if (msg.method !== 'tools/call' || typeof msg.params?.name !== 'string') return undefined;
    // Only a tool the caller may see: a 400 about another's headers would tell that it exists.
    const entry = await endpoint.toolEntry(msg.params.name, edge);
    if (!entry || entry.paramHeaders.length === 0) return undefined;
    return paramHeaderMismatch(entry.paramHeaders, msg.params.arguments, (name) => header(req, name));
  }

  private async modern(
    req: IncomingMessage,
    res: ServerResponse,
    endpoint: Endpoint,
    msg: JsonRpcRequest,
    edge: HttpEdge,
    canStream: boolean,
  ): Promise<void> {
    const abort = new AbortController();
    const reply = new PostReply(res, canStream, {});
    res.on('close', () => {
      if (!reply.done) abort.abort();
    });
    if (msg.method === 'subscriptions/listen') {
      if (!canStream)
        return sendRpcError(
          res,
          406,
          ErrorCode.InvalidRequest,
          'subscriptions/listen needs Accept: text/event-stream.',
          msg.id,
        );
      // A listen stream is a request in flight for as long as it is open: it counts against the
      // same per-principal limit, so one grant cannot hold streams (and upstream subscriptions)
      // without bound.
      const open = this.modernInflight.get(edge.principal) ?? 0;
      if (refuseInflight(res, this.limits, open, msg.id)) return;
      this.modernInflight.set(edge.principal, open + 1);
      res.once('close', () => this.leftInflight(edge.principal));
      const stream = new SseStream(res);
      const opened = await openListen(
        endpoint,
        msg,
        (m) => stream.send(m),
        modernPeer(
          msg,
          edge,
          () => undefined,
          () => !stream.closed,
        ),
      );
      if ('error' in opened) {
        stream.send(opened);
        return stream.end();
      }
      // The client may have gone while the subscriptions were being made.
      if (stream.closed) return opened.close();
      const unwatch = this.grantWatch?.watch(
        () => edge,
        () => stream.end(),
      );
      stream.onClose(() => {
        unwatch?.();
        opened.close();
      });
      return;
    }
    const running = this.modernInflight.get(edge.principal) ?? 0;
    if (refuseInflight(res, this.limits, running, msg.id)) return;
    const peer = modernPeer(
      msg,
      edge,
      (n) => reply.related(n),
      () => !reply.done && !abort.signal.aborted,
    );
    this.modernInflight.set(edge.principal, running + 1);
    let response: JsonRpcResponse;
    try {
      response = await handleModernRequest(endpoint, msg, peer, abort.signal);
    } finally {
      this.leftInflight(edge.principal);
    }
    // An error from the request's own handling is in-band (HTTP 200), except a missing client
    // capability, which the 2026-07-28 revision answers with 400.
    const status = 'error' in response && EDGE_CODES.has(response.error.code) ? 400 : 200;
    if (!abort.signal.aborted) reply.finish(response, status);
  }

  /** One of the principal's 2026-07-28 requests (or listen streams) has ended. */
  private leftInflight(principal: string): void {
    const left = (this.modernInflight.get(principal) ?? 1) - 1;
    if (left > 0) this.modernInflight.set(principal, left);
    else this.modernInflight.delete(principal);
  }

  async get(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, edge: HttpEdge): Promise<void> {
    const sid = header(req, SESSION_HEADER);
    if (!sid) {
      res
        .writeHead(405, { allow: 'POST, DELETE' })
        .end('Method Not Allowed: a GET stream needs an Mcp-Session-Id (2026-07-28 clients use subscriptions/listen).');
      return;
    }
    const state = await this.sessionAnywhere(sid, endpoint, edge);
    if (!state || 'stuck' in state) return sessionNotFound(res, null, state);
    if (!acceptsSse(req))
      return sendRpcError(
        res,
        406,
        ErrorCode.InvalidRequest,
        'Not Acceptable: the GET stream needs Accept: text/event-stream.',
      );
    if (state.getStream && !state.getStream.closed)
      return sendRpcError(res, 409, ErrorCode.InvalidRequest, 'Conflict: this session already has a GET stream open.');
    const stream = new SseStream(res);
    state.getStream = stream;
    state.queuedBytes = 0;
    for (const m of state.queue.splice(0)) stream.send(m);
    stream.onClose(() => {
      if (state.getStream === stream) state.getStream = undefined;
    });
  }

  async delete(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, edge: HttpEdge): Promise<void> {
    const sid = header(req, SESSION_HEADER);
    const state = sid ? await this.sessionAnywhere(sid, endpoint, edge) : undefined;
    if (!sid)
      return sendRpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: the Mcp-Session-Id header is required.');
    if (!state || 'stuck' in state) return sessionNotFound(res, null, state);
    this.closeSession(sid);
    await this.cluster.bindings?.forget(sid, true);
    res.writeHead(200).end();
  }

  /** The session a request names (see findSession), watched from now on with the later-expiring token. */
  private async sessionAnywhere(
    sid: string,
    endpoint: Endpoint,
    edge: HttpEdge,
  ): Promise<SessionState | Stuck | undefined> {
    const found = await this.findSession(sid, endpoint, edge);
    if (found && !('stuck' in found)) found.identity = laterIdentity(found.identity, edge);
    return found;
  }

  /**
   * The session an id names: one this replica holds, or one another replica created that can
   * continue here (rebuilt for the same principal, endpoint and upstream session), or why not.
   */
  private async findSession(
    sid: string,
    endpoint: Endpoint,
    edge: HttpEdge,
  ): Promise<SessionState | Stuck | undefined> {
    const local = this.session(sid, endpoint, edge);
    if (local || this.sessions.has(sid) || !this.cluster.bindings) return local;
    let pending = this.resuming.get(sid);
    if (!pending) {
      pending = this.resume(sid, endpoint, edge).finally(() => this.resuming.delete(sid));
      this.resuming.set(sid, pending);
    }
    const resumed = await pending;
    // A concurrent rebuild was for whoever asked first: the principal and endpoint are checked again.
    return resumed && !('stuck' in resumed) ? this.session(sid, endpoint, edge) : resumed;
  }

  private async resume(sid: string, endpoint: Endpoint, edge: HttpEdge): Promise<SessionState | Stuck | undefined> {
    const found = await this.cluster.bindings!.lookup(sid, edge.principal, endpoint);
    if (found.kind === 'none') return undefined;
    if (found.kind === 'stuck') return { stuck: found.replica };
    const b = found.binding;
    // A session continued here counts here like a new one: else moving sessions between replicas
    // would give a grant the limit once per replica, and more as replicas drop idle ones.
    const open = this.limits.sessionsOf(edge.principal);
    if (open >= this.limits.maxSessionsPerGrant)
      return { stuck: b.replica, tooMany: tooManySessions(open, this.limits.maxSessionsPerGrant) };
    const session = new ClientSession(edge, sid);
    session.capabilities = b.capabilities;
    session.clientInfo = b.clientInfo;
    session.protocolVersion = b.protocolVersion;
    session.logLevel = b.logLevel;
    session.initialized = true;
    const state = newSessionState(session, endpoint);
    session.channel = this.channelFor(state);
    try {
      await endpoint.resumeSession!(session, b.upstream);
    } catch (err) {
      session.close();
      return { stuck: b.replica, reason: err instanceof Error ? err.message : String(err) };
    }
    this.hold(sid, state);
    return state;
  }

  /**
   * The session an id names, if it belongs to this caller and endpoint. An unknown session and
   * another principal's session look alike to the caller: their existence is not disclosed.
   */
  private session(sid: string, endpoint: Endpoint, edge: HttpEdge): SessionState | undefined {
    const state = this.sessions.get(sid);
    return state && state.session.principal === edge.principal && state.endpoint === endpoint ? state : undefined;
  }

  /** Keeps a session open here while its grant is in force (see IdentityWatch). */
  private hold(sid: string, state: SessionState): void {
    this.sessions.set(sid, state);
    state.unwatch = this.grantWatch?.watch(
      () => state.identity,
      (reason, identity) => {
        // A JWT that expired is that token's end, not the client's: the stream it opened ends, and
        // the session waits for a request with a newer token (or the idle sweep). A grant revoked
        // or expired ends the session here; other replicas end their copies on their own checks.
        if (identity.grant?.fromToken) {
          state.getStream?.end();
          return 'keep';
        }
        this.closeSession(sid, reason);
        void this.cluster.bindings?.forget(sid, false);
      },
    );
  }

  /** `endedBecause`: why the gateway ends it, told to its requests in flight (ClientSession.close). */
  private closeSession(sid: string, endedBecause?: string): void {
    const state = this.sessions.get(sid);
    if (!state) return;
    this.sessions.delete(sid);
    state.unwatch?.();
    state.getStream?.end();
    state.session.close(endedBecause);
  }

  private sweep(): void {
    const cutoff = Date.now() - IDLE_SESSION_MS;
    for (const [sid, s] of this.sessions) {
      if (s.session.lastSeen < cutoff && (!s.getStream || s.getStream.closed) && s.session.inflight.size === 0) {
        this.closeSession(sid);
        void this.cluster.bindings?.forget(sid, false);
      }
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const sid of [...this.sessions.keys()]) this.closeSession(sid);
  }
}

function sessionNotFound(res: ServerResponse, id: JsonRpcId | null, stuck?: Stuck): void {
  if (stuck?.tooMany) return sendRpcError(res, 429, ErrorCode.InvalidRequest, stuck.tooMany, id);
  // 404 either way: it is what tells a client to initialize a new session.
  if (stuck)
    return sendRpcError(
      res,
      404,
      ErrorCode.ConnectionClosed,
      stuck.reason
        ? `Session not found here: it lives on replica "${stuck.stuck}" and could not be continued on this one (${stuck.reason}); initialize a new one.`
        : `Session not found here: it lives on replica "${stuck.stuck}" and cannot move to another replica (its upstream session is held in that process); initialize a new one.`,
      id,
    );
  sendRpcError(
    res,
    404,
    ErrorCode.ConnectionClosed,
    'Session not found: it expired or was closed; initialize a new one.',
    id,
  );
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function acceptsSse(req: IncomingMessage): boolean {
  const accept = header(req, 'accept') ?? '';
  return accept.includes('text/event-stream') || accept.includes('*/*');
}

function optionalHeader<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** The headers of a request must agree with its body (DESIGN section 5); else why they do not. */
export function headerMismatch(req: IncomingMessage, msg: JsonRpcMessage): string | undefined {
  const versionHeader = header(req, 'mcp-protocol-version');
  if (!isRequest(msg)) {
    return undefined;
  }
  const bodyModern = eraOfRequest(msg) === 'modern';
  if (!bodyModern) {
    if (isModernVersion(versionHeader))
      return `The MCP-Protocol-Version header says ${versionHeader}, but the body carries no 2026-07-28 envelope.`;
    return legacyHeaderMismatch(req, msg);
  }
  const env = (msg.params?._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/protocolVersion'];
  if (versionHeader === undefined) return 'A 2026-07-28 request needs the MCP-Protocol-Version header.';
  if (versionHeader !== env)
    return `The MCP-Protocol-Version header (${versionHeader}) disagrees with the body's protocol version (${String(env)}).`;
  const methodHeader = header(req, 'mcp-method');
  if (methodHeader !== msg.method)
    return `The Mcp-Method header (${methodHeader ?? 'missing'}) disagrees with the body's method (${msg.method}).`;
  const name = mcpNameOf(msg);
  if (name !== undefined) {
    const nameHeader = header(req, 'mcp-name');
    if (nameHeader === undefined || decodeParamValue(nameHeader) !== name) {
      return `The Mcp-Name header (${nameHeader ?? 'missing'}) disagrees with the body's name (${name}).`;
    }
  }
  return undefined;
}

/**
 * A 2025 request needs no Mcp-Method or Mcp-Name header, but one it carries must name what its body
 * does: a proxy or firewall in front of Gatehouse may route or filter on them, and must not see
 * `tools/list` while Gatehouse runs a `tools/call`.
 */
function legacyHeaderMismatch(req: IncomingMessage, msg: JsonRpcRequest): string | undefined {
  const methodHeader = header(req, 'mcp-method');
  if (methodHeader !== undefined && methodHeader !== msg.method)
    return `The Mcp-Method header (${methodHeader}) disagrees with the body's method (${msg.method}).`;
  const nameHeader = header(req, 'mcp-name');
  const name = mcpNameOf(msg);
  if (nameHeader !== undefined && name !== undefined && decodeParamValue(nameHeader) !== name)
    return `The Mcp-Name header (${nameHeader}) disagrees with the body's name (${name}).`;
  return undefined;
}
