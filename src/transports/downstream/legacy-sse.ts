// The legacy HTTP+SSE transport (2024-11-05) for older clients: GET /sse/<server> opens the
// stream and names the URL to POST to; every response and server message rides the stream.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClientSession } from '../../gateway/client-session.js';
import { handleSessionMessage, visibleTo } from '../../gateway/dispatch.js';
import type { Endpoint } from '../../gateway/endpoint.js';
import { ErrorCode, parseClientMessage } from '../../mcp/jsonrpc.js';
import { decodeJsonBody, sendRpcError } from '../../http/respond.js';
import { SseStream } from '../../http/sse.js';
import type { HttpEdge } from './streamable-http.js';
import { laterIdentity, type IdentityWatch } from '../../identity/identity-watch.js';
import {
  countSessionsOf,
  refuseInflight,
  refuseNewSession,
  SESSION_LIMIT_DEFAULTS,
  type SessionLimits,
} from '../../http/session-limits.js';

interface SseSession {
  session: ClientSession;
  endpoint: Endpoint;
  stream: SseStream;
  /** Who the latest message on the session came from (its token may be newer than the stream's). */
  identity: HttpEdge;
}

export class LegacySseDownstream {
  private readonly sessions = new Map<string, SseSession>();
  private readonly limits: SessionLimits;

  constructor(
    limits?: SessionLimits,
    /** Ends streams whose grant is revoked or expires while they are open. */
    private readonly grantWatch?: IdentityWatch,
  ) {
    this.limits = limits ?? { ...SESSION_LIMIT_DEFAULTS, sessionsOf: (p) => this.sessionsOf(p) };
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  sessionsOf(principal: string): number {
    return countSessionsOf(this.sessions.values(), principal);
  }

  open(res: ServerResponse, endpoint: Endpoint, server: string, edge: HttpEdge): void {
    if (refuseNewSession(res, this.limits, edge.principal, null)) return;
    const stream = new SseStream(res);
    const session = new ClientSession(edge);
    session.channel = {
      send: (m) => {
        if (visibleTo(endpoint, session.principal, m)) stream.send(m);
      },
    };
    const entry: SseSession = { session, endpoint, stream, identity: edge };
    this.sessions.set(session.id, entry);
    stream.send(`/messages/${encodeURIComponent(server)}?sessionId=${session.id}`, 'endpoint');
    const unwatch = this.grantWatch?.watch(
      () => entry.identity,
      () => stream.end(),
    );
    stream.onClose(() => {
      unwatch?.();
      this.sessions.delete(session.id);
      session.close();
    });
  }

  async message(
    req: IncomingMessage,
    res: ServerResponse,
    endpoint: Endpoint,
    raw: string,
    edge: HttpEdge,
  ): Promise<void> {
    const sid = new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId');
    const state = sid ? this.sessions.get(sid) : undefined;
    if (!state || state.session.principal !== edge.principal || state.endpoint !== endpoint) {
      return sendRpcError(
        res,
        404,
        ErrorCode.ConnectionClosed,
        'Session not found: open /sse/<server> first and post to the URL it names.',
      );
    }
    state.identity = laterIdentity(state.identity, edge);
    const body = decodeJsonBody(res, raw, req.headers['content-type']);
    if (!body) return;
    const value = body.value;
    const parsed = parseClientMessage(value);
    if (!parsed.ok) return sendRpcError(res, 400, parsed.error.code, parsed.error.message, parsed.id);
    const id = 'id' in parsed.message && 'method' in parsed.message ? parsed.message.id : undefined;
    if (id !== undefined && refuseInflight(res, this.limits, state.session.inflight.size, id)) return;
    res.writeHead(202).end('Accepted');
    // Decided with this request's identity (same principal, checked above), not the opening one's.
    const response = await handleSessionMessage(endpoint, state.session, parsed.message, edge);
    if (response) state.stream.send(response);
  }

  close(): void {
    for (const s of this.sessions.values()) {
      s.stream.end();
      s.session.close();
    }
    this.sessions.clear();
  }
}
