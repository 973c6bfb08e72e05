// An MCP endpoint as clients see it: one server (`/mcp/<server>`) or all of them (`/mcp`).
// It answers the methods the gateway owns (initialize, server/discover, the era-specific ones)
// and relays everything else.
import { META_SERVER_INFO, META_SUBSCRIPTION_ID, MODERN_PROTOCOL_VERSION, negotiateLegacyVersion } from '../mcp/era.js';
import { ErrorCode, isObject, metaOf, type JsonObject, type JsonRpcNotification } from '../mcp/jsonrpc.js';
import type { ClientSession } from './client-session.js';
import type { ClientPeer } from './peer.js';
import { mayUse, type Identity } from '../identity/grants.js';
import { forward, type ClientRequest, type RelayContext } from './relay.js';
import { fail, type UpstreamAnswer, type UpstreamIdentity } from './upstream-connection.js';
import type { UpstreamPool } from './upstream-pool.js';
import type { PolicyGate } from './policy-gate.js';
import type { ToolEntry } from './tool-directory.js';
import { wantsLog } from '../mcp/log-level.js';

export interface Endpoint {
  readonly name: string;
  initialize(session: ClientSession, params: JsonObject): Promise<UpstreamAnswer>;
  /** `server/discover`: what the server, or the servers `peer` may use on /mcp, offer. */
  discover(peer?: ClientPeer): Promise<UpstreamAnswer>;
  /**
   * In a legacy session `peer` is the session as seen by this request (`session.as`), whose
   * identity decides the request; `session` is the session itself.
   */
  request(peer: ClientPeer, req: ClientRequest, session?: ClientSession): Promise<UpstreamAnswer>;
  /** `peer` as for `request`: the session with the identity of the message's sender. */
  notification(n: JsonRpcNotification, session?: ClientSession, peer?: ClientPeer): void;
  /** A tool as the server defines it (under the name this endpoint shows), if it has one. */
  /**
   * The tool a call names, as the server listed it; with `identity`, only one that caller's
   * tools/list would show (a hidden tool, or one of a server outside its grant, has none).
   */
  toolEntry(name: string, identity?: Identity): Promise<ToolEntry | undefined>;
  /** Keeps the server(s) subscribed to a resource until the returned function is called. */
  /**
   * `peer`, the subscriber: only what it may read is subscribed. Undefined when its policy hides
   * or denies the resource (nothing was subscribed).
   */
  subscribeResource(uri: string, peer?: ClientPeer): Promise<(() => void) | undefined>;
  /** Change notifications for every client of this endpoint; returns the unsubscribe. */
  listen(deliver: (n: JsonRpcNotification) => void, peer?: ClientPeer): () => void;
  /**
   * What another replica needs to continue an initialized legacy session of this endpoint; absent
   * (or `movable: false`) where the session's state cannot leave this process.
   */
  sessionUpstream?(session: ClientSession): SessionUpstream;
  /** Continues on this replica a session another replica initialized. */
  resumeSession?(session: ClientSession, upstream: SessionUpstream): Promise<void>;
}

/** The upstream side of a legacy session, as replicas share it. */
export type SessionUpstream =
  { movable: false } | { movable: true; own?: { sessionId?: string; identity: UpstreamIdentity } };

/** What a listen stream or session receives of a broadcast, without the gateway's own stamps. */
export function cleanBroadcast(n: JsonRpcNotification): JsonRpcNotification | undefined {
  if (n.method === 'notifications/subscriptions/acknowledged') return undefined;
  const meta = metaOf(n.params);
  if (!meta || !(META_SUBSCRIPTION_ID in meta)) return n;
  const { [META_SUBSCRIPTION_ID]: _drop, ...rest } = meta;
  const params: JsonObject = { ...n.params };
  if (Object.keys(rest).length > 0) params._meta = rest;
  else delete params._meta;
  return { ...n, params };
}

/** Delivers a broadcast to a legacy session, honouring its resource subscriptions. */
export function deliverToSession(session: ClientSession, n: JsonRpcNotification, server: string): void {
  // Only while the session's latest token may still use the server it comes from.
  if (!mayUse(session.latest, server)) return;
  const clean = cleanBroadcast(n);
  if (!clean) return;
  if (clean.method === 'notifications/message' && !wantsLog('legacy', session.logLevel, clean.params?.level)) return;
  if (clean.method === 'notifications/resources/updated') {
    const uri = clean.params?.uri;
    if (typeof uri !== 'string' || !session.subscriptions.has(uri)) return;
  }
  session.notify(clean, undefined);
}

/**
 * resources/subscribe and unsubscribe of a legacy session on a shared server: Gatehouse keeps the
 * server subscribed while any client wants the resource, and each session's own list decides who
 * receives resources/updated.
 */
export async function sessionSubscription(
  pool: UpstreamPool,
  server: string,
  session: ClientSession,
  req: ClientRequest,
): Promise<UpstreamAnswer> {
  const uri = req.params?.uri;
  if (typeof uri !== 'string') return fail(ErrorCode.InvalidParams, `${req.method} needs a "uri".`);
  if (req.method === 'resources/unsubscribe') {
    session.subscriptionReleases.get(uri)?.();
    session.subscriptionReleases.delete(uri);
    session.subscriptions.delete(uri);
    return { result: {} };
  }
  if (!session.subscriptionReleases.has(uri)) {
    try {
      session.subscriptionReleases.set(uri, await pool.subscribeResource(server, uri));
    } catch (err) {
      return fail(
        ErrorCode.InternalError,
        `The server refused the subscription: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  session.subscriptions.add(uri);
  return { result: {} };
}

export function initializeResult(session: ClientSession, id: UpstreamIdentity): JsonObject {
  const result: JsonObject = {
    protocolVersion: session.protocolVersion ?? negotiateLegacyVersion(undefined),
    capabilities: id.capabilities,
    serverInfo: id.serverInfo,
  };
  if (id.instructions) result.instructions = id.instructions;
  return result;
}

export function discoverResult(id: Pick<UpstreamIdentity, 'capabilities' | 'serverInfo' | 'instructions'>): JsonObject {
  const result: JsonObject = {
    supportedVersions: [MODERN_PROTOCOL_VERSION],
    capabilities: id.capabilities,
    resultType: 'complete',
    ttlMs: 0,
    cacheScope: 'private',
    _meta: { [META_SERVER_INFO]: id.serverInfo },
  };
  if (id.instructions) result.instructions = id.instructions;
  return result;
}

/** Takes what the client declared at `initialize` into its session. */
export function adoptClientParams(session: ClientSession, params: JsonObject): void {
  session.capabilities = isObject(params.capabilities) ? params.capabilities : {};
  session.clientInfo = isObject(params.clientInfo) ? params.clientInfo : undefined;
  session.protocolVersion = negotiateLegacyVersion(params.protocolVersion);
}

/**
 * Whom an upstream connection carries a request for: the session itself when there is one. The
 * connection knows a session by that object (it owns the session's own connections, and a server's
 * requests and log levels are routed to it); the per-request view in `peer` only decides.
 */
export function carrierOf(peer: ClientPeer, session: ClientSession | undefined): ClientPeer {
  return session ?? peer;
}

export class ServerEndpoint implements Endpoint {
  constructor(
    readonly name: string,
    private readonly pool: UpstreamPool,
    private readonly ctx: RelayContext,
    private readonly gate: PolicyGate,
  ) {}

  async initialize(session: ClientSession, params: JsonObject): Promise<UpstreamAnswer> {
    adoptClientParams(session, params);
    const shared = this.pool.sharedConnection(this.name);
    try {
      await shared.start(); // the era decides whether this session needs its own connection
      const conn = this.pool.connectionFor(this.name, session, {
        protocolVersion: String(params.protocolVersion ?? ''),
        capabilities: session.capabilities,
        clientInfo: session.clientInfo ?? {},
      });
      // Released with the session even when its start fails or the session closes meanwhile.
      session.onClose(() => void this.pool.release(session));
      await conn.start();
      if (conn === shared)
        session.onClose(this.pool.subscribe(this.name, (n) => deliverToSession(session, n, this.name)));
      return { result: initializeResult(session, conn.identity!) };
    } catch (err) {
      return fail(ErrorCode.ConnectionClosed, err instanceof Error ? err.message : String(err));
    }
  }

  async discover(): Promise<UpstreamAnswer> {
    const conn = this.pool.sharedConnection(this.name);
    try {
      await conn.start();
    } catch (err) {
      return fail(ErrorCode.ConnectionClosed, err instanceof Error ? err.message : String(err));
    }
    return { result: discoverResult(conn.identity!) };
  }

  async request(peer: ClientPeer, req: ClientRequest, session?: ClientSession): Promise<UpstreamAnswer> {
    const conn = session ? this.pool.connectionFor(this.name, session) : this.pool.sharedConnection(this.name);
    if (req.method === 'server/discover') return this.discover();
    try {
      await conn.start();
    } catch (err) {
      return fail(ErrorCode.ConnectionClosed, err instanceof Error ? err.message : String(err));
    }
    const modernUpstream = conn.era === 'modern';
    // Updates of a resource the policy hides or denies are not the caller's to follow, however the
    // request came.
    if (req.method === 'resources/subscribe') {
      const refused = this.gate.refusedResource(this.name, peer, req.params?.uri);
      if (refused) return refused;
    }
    if (session) {
      switch (req.method) {
        case 'ping':
          if (modernUpstream) return { result: {} }; // the modern revision has no ping
          break;
        case 'logging/setLevel':
          // Kept per session: a legacy server was asked for every level and Gatehouse filters;
          // a modern server receives the level in each request's envelope.
          session.logLevel = typeof req.params?.level === 'string' ? req.params.level : undefined;
          return { result: {} };
        case 'resources/subscribe':
        case 'resources/unsubscribe': {
          if (conn === this.pool.sharedConnection(this.name))
            return sessionSubscription(this.pool, this.name, session, req);
          break;
        }
      }
    }
    const relay = (r: ClientRequest) => forward(conn, carrierOf(peer, session), r, this.ctx);
    switch (req.method) {
      case 'tools/list':
        return await this.gate.filterTools(this.name, peer, await relay(req), conn);
      case 'resources/list':
        return this.gate.filterEntries(this.name, peer, await relay(req), 'resources');
      case 'resources/templates/list':
        return this.gate.filterEntries(this.name, peer, await relay(req), 'resourceTemplates');
      case 'prompts/list':
        return this.gate.filterEntries(this.name, peer, await relay(req), 'prompts');
      case 'completion/complete':
        return (
          this.gate.refusedReference(this.name, peer, req.params?.ref) ??
          this.gate.filterCompletion(this.name, peer, req.params, await relay(req))
        );
      case 'tools/call':
        return this.gate.call(this.name, peer, req, 'tool', relay, { conn, ...(session ? { session } : {}) });
      case 'prompts/get':
        return this.gate.call(this.name, peer, req, 'prompt', relay, { conn, ...(session ? { session } : {}) });
      case 'resources/read':
        return this.gate.call(this.name, peer, req, 'resource', relay, { conn, ...(session ? { session } : {}) });
      default:
        return relay(req);
    }
  }

  sessionUpstream(session: ClientSession): SessionUpstream {
    // A Streamable HTTP server's sessions live in the server and are reached by URL and session id
    // from anywhere; a stdio child or an SSE stream belongs to this process.
    if (this.pool.servers[this.name]?.transport !== 'streamable-http') return { movable: false };
    const conn = this.pool.connectionFor(this.name, session);
    if (conn === this.pool.sharedConnection(this.name) || !conn.identity) return { movable: true };
    const sessionId = conn.upstreamSessionId;
    return { movable: true, own: { ...(sessionId ? { sessionId } : {}), identity: conn.identity } };
  }

  async resumeSession(session: ClientSession, upstream: SessionUpstream): Promise<void> {
    if (!upstream.movable) throw new Error('This session cannot move between replicas.');
    const shared = this.pool.sharedConnection(this.name);
    await shared.start();
    const conn = this.pool.connectionFor(this.name, session, undefined, upstream.own);
    session.onClose(() => void this.pool.release(session));
    await conn.start();
    if (conn === shared)
      session.onClose(this.pool.subscribe(this.name, (n) => deliverToSession(session, n, this.name)));
  }

  notification(n: JsonRpcNotification, session?: ClientSession): void {
    if (!session || !this.pool.needsOwnConnection(this.name)) return; // a shared server is not told one client's news
    const conn = this.pool.connectionFor(this.name, session);
    if (conn.era === 'legacy') conn.notify(n.method, n.params);
  }

  listen(deliver: (n: JsonRpcNotification) => void): () => void {
    return this.pool.subscribe(this.name, deliver);
  }

  subscribeResource(uri: string, peer?: ClientPeer): Promise<(() => void) | undefined> {
    // A resource the subscriber's policy hides or denies sends it no updates.
    if (peer && this.gate.refusedResource(this.name, peer, uri)) return Promise.resolve(undefined);
    return this.pool.subscribeResource(this.name, uri);
  }

  toolEntry(name: string, identity?: Identity): Promise<ToolEntry | undefined> {
    return this.gate.listedEntry(this.name, this.pool.sharedConnection(this.name), name, identity);
  }
}
