// A legacy client session (2025 revisions): what the client declared at `initialize`, its calls in
// flight, the requests Gatehouse relays to it, and the channel its messages go out on. The same
// session type serves Streamable HTTP, HTTP+SSE and stdio; only the channel differs.
import { randomBytes } from 'node:crypto';
import type { Era } from '../mcp/era.js';
import {
  ErrorCode,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcResponse,
} from '../mcp/jsonrpc.js';
import type { ClientPeer, PeerAnswer } from './peer.js';
import type { Identity } from '../identity/grants.js';

export interface Channel {
  /** Sends a message to the client; `relatedTo` names the client request it belongs with. */
  send(message: JsonRpcMessage, relatedTo: JsonRpcId | undefined): void;
}

/** How long Gatehouse waits for a client to answer a server's request. */
const CLIENT_ANSWER_TIMEOUT_MS = 10 * 60_000;

/** Why the gateway ended a session: the abort reason of the requests it had in flight. */
export class SessionEnded extends Error {}

export class ClientSession implements ClientPeer {
  /** 256 random bits: a session id cannot be guessed. */
  readonly id: string;
  readonly era: Era = 'legacy';
  capabilities: JsonObject = {};
  clientInfo: JsonObject | undefined;
  protocolVersion: string | undefined;
  logLevel: string | undefined;
  initialized = false;
  open = true;
  channel: Channel | undefined;
  /** The client's calls in flight, so `notifications/cancelled` can stop them. */
  readonly inflight = new Map<JsonRpcId, AbortController>();
  /** Resource URIs the client subscribed to. */
  readonly subscriptions = new Set<string>();
  /** For subscriptions held on a shared server: how to end each. */
  readonly subscriptionReleases = new Map<string, () => void>();
  private readonly toClient = new Map<string, (a: PeerAnswer) => void>();
  private nextId = 1;
  private readonly cleanups: (() => void)[] = [];
  lastSeen = Date.now();

  readonly principal: string;
  /**
   * The identity of the session's latest request: what the notifications broadcast to it are
   * decided with (a later token of the principal may carry fewer servers).
   */
  latest: Identity;

  /**
   * `identity` is the caller that opened the session: it decides `initialize`, and the session
   * belongs to its principal. Later requests are decided with their own identity (`as`).
   * `id` is given only to continue a session another replica created.
   */
  constructor(
    readonly identity: Identity,
    id?: string,
  ) {
    this.principal = identity.principal;
    this.latest = identity;
    this.id = id ?? randomBytes(32).toString('base64url');
  }

  /**
   * The session as the peer of one of its requests, with the identity authenticated for that
   * request. A session outlives the token that opened it: a later token of the same principal may
   * carry other servers, labels or agent, and a created grant's policy file may have changed since,
   * so each request is decided with its own. A view per request rather than a field updated on the
   * session, so that concurrent requests with different tokens each keep theirs.
   */
  as(identity: Identity): ClientPeer {
    return new SessionRequestPeer(this, identity);
  }

  request(
    method: string,
    params: JsonObject | undefined,
    relatedTo: JsonRpcId | undefined,
    opts: { signal?: AbortSignal } = {},
  ): Promise<PeerAnswer> {
    const id = `gh-${this.nextId++}`;
    const { signal } = opts;
    return new Promise<PeerAnswer>((resolve) => {
      const timer = setTimeout(
        () =>
          finish({
            error: { code: ErrorCode.RequestTimeout, message: `The client did not answer ${method} in time.` },
          }),
        CLIENT_ANSWER_TIMEOUT_MS,
      );
      timer.unref();
      const finish = (a: PeerAnswer) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', withdraw);
        this.toClient.delete(id);
        resolve(a);
      };
      // The client is told, so that it stops showing a question nobody waits for any more.
      const withdraw = () => {
        if (!this.toClient.has(id)) return;
        const reason = `Gatehouse no longer needs the answer to ${method}.`;
        this.notify(
          { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } },
          relatedTo,
        );
        finish({ error: { code: ErrorCode.RequestTimeout, message: reason } });
      };
      this.toClient.set(id, finish);
      if (!this.open || !this.channel)
        return finish({ error: { code: ErrorCode.ConnectionClosed, message: 'The client session is closed.' } });
      if (signal?.aborted)
        return finish({
          error: { code: ErrorCode.RequestTimeout, message: `${method} was withdrawn before it was sent.` },
        });
      signal?.addEventListener('abort', withdraw, { once: true });
      const msg = { jsonrpc: '2.0' as const, id, method, ...(params ? { params } : {}) };
      this.channel.send(msg, relatedTo);
    });
  }

  notify(n: JsonRpcNotification, relatedTo: JsonRpcId | undefined): void {
    if (this.open) this.channel?.send(n, relatedTo);
  }

  /** A response from the client to a request Gatehouse relayed; false when it answers nothing. */
  takeResponse(msg: JsonRpcResponse): boolean {
    const finish = typeof msg.id === 'string' ? this.toClient.get(msg.id) : undefined;
    if (!finish) return false;
    finish('result' in msg ? { result: msg.result } : { error: msg.error });
    return true;
  }

  /** Runs `fn` when the session closes; at once when it has closed already (while a start was awaited, say). */
  onClose(fn: () => void): void {
    if (this.open) this.cleanups.push(fn);
    else fn();
  }

  /**
   * Ends the session. `endedBecause`, when the gateway ends it (its grant revoked or expired): its
   * requests still in flight are answered with that reason instead of being dropped, as a request
   * the client cancelled is.
   */
  close(endedBecause?: string): void {
    if (!this.open) return;
    this.open = false;
    const reason = endedBecause === undefined ? undefined : new SessionEnded(endedBecause);
    for (const c of this.inflight.values()) c.abort(reason);
    for (const finish of [...this.toClient.values()])
      finish({ error: { code: ErrorCode.ConnectionClosed, message: 'The client session closed.' } });
    for (const release of this.subscriptionReleases.values()) release();
    this.subscriptionReleases.clear();
    for (const fn of this.cleanups.splice(0)) fn();
  }
}

/** A legacy session seen by the decisions of one request: the session's state, that request's identity. */
class SessionRequestPeer implements ClientPeer {
  readonly era: Era = 'legacy';

  constructor(
    private readonly session: ClientSession,
    readonly identity: Identity,
  ) {}

  get id(): string {
    return this.session.id;
  }

  get principal(): string {
    return this.session.principal;
  }

  get capabilities(): JsonObject {
    return this.session.capabilities;
  }

  get clientInfo(): JsonObject | undefined {
    return this.session.clientInfo;
  }

  get logLevel(): string | undefined {
    return this.session.logLevel;
  }

  get open(): boolean {
    return this.session.open;
  }

  request(
    method: string,
    params: JsonObject | undefined,
    relatedTo: JsonRpcId | undefined,
    opts?: { signal?: AbortSignal },
  ): Promise<PeerAnswer> {
    return this.session.request(method, params, relatedTo, opts);
  }

  notify(n: JsonRpcNotification, relatedTo: JsonRpcId | undefined): void {
    this.session.notify(n, relatedTo);
  }
}
