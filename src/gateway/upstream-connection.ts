// One live connection to an upstream MCP server, shared by many clients or owned by one.
// It remaps request ids and progress tokens so that several clients can share one connection,
// routes what the server sends back to the client that caused it, and restarts a crashed child
// with backoff, failing its in-flight calls with a clear error instead of letting them hang.
import type { Transport } from '@modelcontextprotocol/client';
import type { ServerConfig } from '../config/schema.js';
import {
  GATEWAY_CLIENT_INFO,
  LATEST_LEGACY_VERSION,
  MODERN_PROTOCOL_VERSION,
  gatewayEnvelope,
  type Era,
} from '../mcp/era.js';
import {
  ErrorCode,
  isObject,
  metaOf,
  parseMessage,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from '../mcp/jsonrpc.js';
import { openTransport, type ResumedHttpSession } from '../transports/upstream/open-transport.js';
import { wantsLog } from '../mcp/log-level.js';
import { probeHttpEra } from '../transports/upstream/probe-http.js';
import { isGatewayPeer, type ClientPeer, type PeerAnswer } from './peer.js';
import { spent } from './spent-answer.js';
import { wasDelivered } from '../transports/upstream/delivered.js';
import { redactValue, redactor, upstreamSecrets, type Redact } from './upstream-secrets.js';

export interface UpstreamIdentity {
  era: Era;
  protocolVersion: string;
  serverInfo: JsonObject;
  capabilities: JsonObject;
  instructions?: string;
}

/** The client side Gatehouse presents to a legacy upstream it initializes itself. */
export interface InitParams {
  protocolVersion: string;
  capabilities: JsonObject;
  clientInfo: JsonObject;
}

/** What a shared connection declares: everything Gatehouse can relay to some client. */
export const SHARED_CLIENT_CAPABILITIES: JsonObject = { sampling: {}, elicitation: { form: {}, url: {} }, roots: {} };

export type UpstreamAnswer = PeerAnswer;

export interface SendOptions {
  /** The client's own id for the request, so related messages can ride its HTTP stream. */
  relatedTo?: JsonRpcId;
  signal?: AbortSignal;
  /** For long-lived requests (a `subscriptions/listen` stream). */
  noTimeout?: boolean;
  /** Extra HTTP headers for this request (`Mcp-Param-*` to a modern HTTP server). */
  headers?: Record<string, string>;
}

interface Pending {
  peer: ClientPeer;
  relatedTo: JsonRpcId | undefined;
  method: string;
  resolve: (a: UpstreamAnswer) => void;
  timer: NodeJS.Timeout | undefined;
  progressToken?: string;
  /** Streamable HTTP: aborted to end the request's HTTP exchange (see `request`). */
  exchange?: AbortController;
  /** The transport took the request (written to the child, or answered with a stream of events). */
  sent?: boolean;
}

/** A client remembered for a while: see `keepFor`. */
interface TimedPeer {
  peer: ClientPeer;
  timer: NodeJS.Timeout;
}

interface ProgressRoute {
  peer: ClientPeer;
  token: string | number;
  relatedTo: JsonRpcId | undefined;
}

export interface ConnectionOptions {
  /** Set for a connection owned by one client session (isolation or a legacy HTTP upstream). */
  owner?: ClientPeer;
  initParams?: InitParams;
  log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Notifications that belong to every attached client (list changes, resource updates). */
  onBroadcast: (conn: UpstreamConnection, n: JsonRpcNotification) => void;
  /** Era found by an earlier probe, so a reconnect does not probe again. */
  knownEra?: Era;
  probeTimeoutMs?: number;
  /** Told each time the connection restarts a server that went away (for the restart count). */
  onRestart?: () => void;
  /**
   * Continue an upstream Streamable HTTP session another replica initialized, instead of
   * opening one: no handshake, the identity it negotiated.
   */
  resume?: { sessionId?: string; identity: UpstreamIdentity };
}

const MAX_BACKOFF_MS = 10_000;

/**
 * How long a call that timed out or was cancelled still counts as in flight when Gatehouse works
 * out which client a server request or log message is for. The upstream was told to stop, but
 * cancellation is advisory and it may be in the middle of a step (a sleep, a slow fetch) that
 * ends in a question or a log line about that call; if the call stopped counting at once, that
 * message would be pinned on whichever other client happened to be busy. A server that honours
 * the cancellation goes quiet within moments and one that answers late ends the wait at once, so
 * 10 s covers the step that was already running while keeping short the time in which other
 * clients of a shared server cannot be sent server requests (they get the isolation advice).
 */
const ABANDONED_GRACE_MS = 10_000;
/** At most this many such calls are remembered per connection; the oldest is forgotten first. */
const MAX_ABANDONED = 1_000;
/**
 * How long Gatehouse remembers which client a URL elicitation went to. The completion arrives
 * when the user finishes in the browser (a sign-in, a payment), often after the call ended.
 */
const ELICITATION_ROUTE_MS = 15 * 60_000;
const MAX_ELICITATION_ROUTES = 1_000;

export class UpstreamConnection {
  identity: UpstreamIdentity | undefined;
  private transport: Transport | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly progress = new Map<string, ProgressRoute>();
  /** Calls given up on downstream but not yet answered upstream, by upstream id (see ABANDONED_GRACE_MS). */
  private readonly abandoned = new Map<number, TimedPeer>();
  /** The client each URL elicitation went to, by the id the upstream gave it, to route its completion. */
  private readonly elicitations = new Map<string, TimedPeer>();
  /** Log messages and elicitation completions dropped because no one client could be named. */
  unattributedDropped = 0;
  private closing = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Resets the backoff once a restarted child has run 30 s; cancelled if it exits sooner. */
  private stableTimer: NodeJS.Timeout | undefined;
  private ready: Promise<void> | undefined;
  /** Why the last start failed, or `exited`; with the upstream's credentials redacted. */
  lastError: string | undefined;
  /** The same, without any text that came from the upstream: safe to show anyone (/readyz). */
  lastErrorReason: string | undefined;
  /** Blanks the upstream's credentials out of every text that comes from it (upstream-secrets.ts). */
  readonly redact: Redact;

  constructor(
    readonly server: string,
    readonly cfg: ServerConfig,
    private readonly opts: ConnectionOptions,
  ) {
    this.redact = redactor(upstreamSecrets(cfg));
  }

  private log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.opts.log(level, this.redact(msg));
  }

  private errorText(err: unknown): string {
    return this.redact(errorText(err));
  }

  /** The one client session this connection serves, if it is not shared. */
  get owner(): ClientPeer | undefined {
    return this.opts.owner;
  }

  get era(): Era | undefined {
    return this.identity?.era;
  }

  get isReady(): boolean {
    return this.transport !== undefined && this.identity !== undefined;
  }

  /** Starts (or returns the start already under way); rejects with a clear message on failure. */
  start(): Promise<void> {
    this.ready ??= this.connect().then(
      () => {
        // Started by a call while a retry waited: the retry has nothing left to do.
        clearTimeout(this.restartTimer);
        this.restartTimer = undefined;
        // A stable run earns a fresh backoff, however the start came about.
        clearTimeout(this.stableTimer);
        this.stableTimer = setTimeout(() => (this.restarts = 0), 30_000);
        this.stableTimer.unref();
      },
      (err: unknown) => {
        this.ready = undefined;
        this.lastError = this.errorText(err);
        this.lastErrorReason = publicReason(err);
        throw new Error(`Upstream "${this.server}" could not be started: ${this.lastError}`);
      },
    );
    return this.ready;
  }

  /** The upstream's Streamable HTTP session id, once it gave one. */
  get upstreamSessionId(): string | undefined {
    return (this.transport as { sessionId?: string } | undefined)?.sessionId;
  }

  private async connect(): Promise<void> {
    const resume = this.opts.resume;
    if (resume && this.cfg.transport === 'streamable-http') {
      await this.openAndStart({
        ...(resume.sessionId ? { sessionId: resume.sessionId } : {}),
        protocolVersion: resume.identity.protocolVersion,
      });
      this.identity = resume.identity;
      this.opts.knownEra = resume.identity.era;
      return;
    }
    const era = this.opts.knownEra ?? (this.cfg.era === 'auto' ? await this.detectEra() : this.cfg.era);
    const t = await this.openAndStart();
    try {
      await this.handshake(t, era);
      // A server that exits after answering initialize (on notifications/initialized, say) fails
      // only steps whose errors the handshake forgives: its connection closed, and onClose has
      // already planned the restart, which this start must not pass off as running.
      if (this.transport !== t) throw new Error('the server closed the connection during the handshake');
    } catch (err) {
      // A failed handshake (a server that never answers initialize, say) must not leave its child
      // running: the next start opens a new one, and this one would otherwise be leaked.
      if (this.transport === t) this.transport = undefined;
      this.identity = undefined;
      await t.close().catch(() => undefined);
      throw err;
    }
  }

  private async handshake(t: Transport, era: Era): Promise<void> {
    if (era === 'modern') {
      const discover = await this.rawRequest(t, 'server/discover', { _meta: gatewayEnvelope() });
      if ('error' in discover) throw new Error(`server/discover failed: ${discover.error.message}`);
      const r = discover.result;
      const meta = metaOf(r);
      this.identity = {
        era: 'modern',
        protocolVersion: MODERN_PROTOCOL_VERSION,
        serverInfo: isObject(meta?.['io.modelcontextprotocol/serverInfo'])
          ? (meta!['io.modelcontextprotocol/serverInfo'] as JsonObject)
          : {},
        capabilities: isObject(r.capabilities) ? r.capabilities : {},
        ...(typeof r.instructions === 'string' ? { instructions: r.instructions } : {}),
      };
    } else {
      const init = this.opts.initParams ?? {
        protocolVersion: LATEST_LEGACY_VERSION,
        capabilities: SHARED_CLIENT_CAPABILITIES,
        clientInfo: GATEWAY_CLIENT_INFO,
      };
      const answer = await this.rawRequest(t, 'initialize', { ...init });
      if ('error' in answer) throw new Error(`initialize failed: ${answer.error.message}`);
      const r = answer.result;
      const version = typeof r.protocolVersion === 'string' ? r.protocolVersion : init.protocolVersion;
      (t as { setProtocolVersion?: (v: string) => void }).setProtocolVersion?.(version);
      await t.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      if (isObject(r.capabilities) && isObject(r.capabilities.logging)) {
        await this.rawRequest(t, 'logging/setLevel', { level: 'debug' }).catch(() => undefined);
      }
      this.identity = {
        era: 'legacy',
        protocolVersion: version,
        serverInfo: isObject(r.serverInfo) ? r.serverInfo : {},
        capabilities: isObject(r.capabilities) ? r.capabilities : {},
        ...(typeof r.instructions === 'string' ? { instructions: r.instructions } : {}),
      };
    }
    this.opts.knownEra = this.identity.era;
    this.lastError = undefined;
    this.lastErrorReason = undefined;
  }

  /** Probes a server once: modern servers answer `server/discover`, legacy ones refuse it. */
  private async detectEra(): Promise<Era> {
    // Bounded by the server's timeout_ms too, so a silent server fails its first call within it.
    const timeout = this.opts.probeTimeoutMs ?? Math.min(5_000, this.cfg.timeout_ms);
    if (this.cfg.transport === 'sse') return 'legacy';
    if (this.cfg.transport === 'streamable-http')
      return (await probeHttpEra(this.cfg.url!, this.cfg.headers, timeout)).era;
    // stdio: a throwaway child answers the probe, so a legacy server that exits on an unknown
    // first request does not take the real connection down with it.
    const { transport } = await openTransport(this.cfg);
    transport.onmessage = (m: unknown) => this.onMessage(m);
    try {
      await transport.start();
      const answer = await this.rawRequest(transport, 'server/discover', { _meta: gatewayEnvelope() }, timeout).catch(
        () => undefined,
      );
      const versions = answer && 'result' in answer ? answer.result.supportedVersions : undefined;
      return Array.isArray(versions) && versions.includes(MODERN_PROTOCOL_VERSION) ? 'modern' : 'legacy';
    } finally {
      await transport.close().catch(() => undefined);
    }
  }

  private async openAndStart(resume?: ResumedHttpSession): Promise<Transport> {
    const opened = await openTransport(this.cfg, resume);
    const t = opened.transport;
    opened.onStderr?.((chunk) => {
      for (const line of chunk.split('\n')) if (line.trim()) this.log('info', `[${this.server}] ${line}`);
    });
    t.onmessage = (m: unknown) => this.onMessage(m);
    t.onerror = (e: Error) => this.log('warn', `upstream "${this.server}" transport error: ${e.message}`);
    t.onclose = () => this.onClose(t);
    await t.start();
    if (this.closing) {
      // Closed while the child was starting: stop it rather than keep it unowned.
      await t.close().catch(() => undefined);
      throw new Error(`Upstream "${this.server}" is shutting down.`);
    }
    this.transport = t;
    return t;
  }

  /** A request sent during start-up, before any client is attached. */
  private rawRequest(
    t: Transport,
    method: string,
    params: JsonObject,
    timeoutMs = this.cfg.timeout_ms,
  ): Promise<UpstreamAnswer> {
    const id = this.nextId++;
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (a: UpstreamAnswer) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(a);
      };
      this.pending.set(id, { peer: NOBODY, relatedTo: undefined, method, resolve: done, timer });
      t.send({ jsonrpc: '2.0', id, method, params }).catch((err: unknown) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /**
   * Sends one client request upstream and resolves with the server's answer. Never rejects:
   * transport failures, timeouts and crashes come back as JSON-RPC errors with clear messages.
   */
  async send(
    peer: ClientPeer,
    method: string,
    params: JsonObject | undefined,
    opts: SendOptions = {},
  ): Promise<UpstreamAnswer> {
    try {
      await this.start();
    } catch (err) {
      return fail(ErrorCode.ConnectionClosed, this.errorText(err));
    }
    const t = this.transport;
    if (!t) return fail(ErrorCode.ConnectionClosed, `Upstream "${this.server}" is restarting; try again shortly.`);
    const id = this.nextId++;
    const out: JsonRpcRequest = { jsonrpc: '2.0', id, method };
    let progressToken: string | undefined;
    if (params) {
      out.params = params;
      const meta = metaOf(params);
      const token = meta?.progressToken;
      if (typeof token === 'string' || typeof token === 'number') {
        progressToken = `gh-${this.server}-${id}`;
        this.progress.set(progressToken, { peer, token, relatedTo: opts.relatedTo });
        out.params = { ...params, _meta: { ...meta, progressToken } };
      }
    }
    return new Promise<UpstreamAnswer>((resolve) => {
      const entry: Pending = { peer, relatedTo: opts.relatedTo, method, resolve, timer: undefined, progressToken };
      // Over Streamable HTTP a request has a signal of its own, aborted when the client gives up or
      // the call times out: that ends its HTTP exchange at once, instead of leaving the connection
      // busy until the upstream answers or falls silent for 300 s. (The SDK's legacy SSE transport
      // takes no signal.)
      if (this.cfg.transport === 'streamable-http') entry.exchange = new AbortController();
      const requestSignal = entry.exchange?.signal ?? opts.signal;
      const settle = (a: UpstreamAnswer) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(entry.timer);
        if (progressToken) this.progress.delete(progressToken);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(a);
      };
      entry.resolve = settle;
      if (!opts.noTimeout) entry.timer = this.armTimeout(id, entry);
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        // The client gave up: tell the server, so it can stop the work. Over HTTP in the modern
        // era, closing the request's stream (requestSignal below) is the cancellation.
        if (this.cfg.transport === 'stdio' || this.era !== 'modern') {
          void t
            .send({
              jsonrpc: '2.0',
              method: 'notifications/cancelled',
              params: { requestId: id, reason: 'The client cancelled the request.' },
            })
            .catch(() => undefined);
        }
        settle(fail(ErrorCode.RequestTimeout, 'Request cancelled by the client.'));
        this.abandon(id, entry);
        entry.exchange?.abort();
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      t.send(out, {
        ...(requestSignal ? { requestSignal } : {}),
        ...(opts.headers ? { headers: opts.headers } : {}),
      }).then(
        () => {
          entry.sent = true;
        },
        (err: unknown) => {
          // The server answered, and what it answered could not be read: it had the call.
          if (wasDelivered(err))
            return settle(
              spent(fail(ErrorCode.ConnectionClosed, `Upstream "${this.server}" failed: ${this.errorText(err)}`)),
            );
          settle(
            fail(ErrorCode.ConnectionClosed, `Upstream "${this.server}" could not be reached: ${this.errorText(err)}`),
          );
        },
      );
    });
  }

  private armTimeout(id: number, entry: Pending): NodeJS.Timeout {
    return setTimeout(() => {
      void this.transport
        ?.send({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: 'Timed out at the gateway.' },
        })
        .catch(() => undefined);
      entry.resolve(
        fail(
          ErrorCode.RequestTimeout,
          `Upstream "${this.server}" did not answer ${entry.method} within ${this.cfg.timeout_ms} ms.`,
        ),
      );
      this.abandon(id, entry);
      entry.exchange?.abort();
    }, this.cfg.timeout_ms);
  }

  /**
   * Keeps a call the client stopped waiting for counted as in flight until the upstream answers
   * it or ABANDONED_GRACE_MS pass, so that what the upstream still sends about it is not taken
   * for another client's.
   */
  private abandon(id: number, entry: Pending): void {
    if (isGatewayPeer(entry.peer) || !this.transport) return;
    keepFor(this.abandoned, id, entry.peer, ABANDONED_GRACE_MS, MAX_ABANDONED);
  }

  /** Remembers which client a URL elicitation went to, so that its completion reaches only it. */
  private routeElicitations(peer: ClientPeer, ids: unknown[]): void {
    if (isGatewayPeer(peer)) return;
    for (const id of ids)
      if (typeof id === 'string' && id)
        keepFor(this.elicitations, id, peer, ELICITATION_ROUTE_MS, MAX_ELICITATION_ROUTES);
  }

  /** Forwards a client notification (cancellation is handled by `send`'s signal). */
  notify(method: string, params: JsonObject | undefined): void {
    const n: JsonRpcNotification = { jsonrpc: '2.0', method };
    if (params) n.params = params;
    void this.transport?.send(n).catch(() => undefined);
  }

  /**
   * The ids of the clients with calls in flight here, counting calls they gave up on that the
   * upstream may still be working on. A client is its peer id (one legacy session, one stdio
   * connection, one modern request), not the per-request view of it.
   */
  private inFlightClients(): Set<string> {
    const ids = new Set<string>();
    for (const p of this.pending.values()) if (!isGatewayPeer(p.peer)) ids.add(p.peer.id);
    for (const a of this.abandoned.values()) ids.add(a.peer.id);
    return ids;
  }

  /**
   * Who a server-to-client message belongs to: the owner, or the one client with calls in flight.
   * Undefined when that cannot be told: several clients busy, none, or only a call the client
   * already gave up on (its answer went out; the question would reach no one waiting for it).
   */
  private attribute(): { peer: ClientPeer; relatedTo: JsonRpcId | undefined } | undefined {
    if (this.opts.owner) {
      const own = [...this.pending.values()].find((p) => p.peer === this.opts.owner);
      return { peer: this.opts.owner, relatedTo: own?.relatedTo };
    }
    const clients = this.inFlightClients();
    if (clients.size !== 1) return undefined;
    const [client] = clients;
    const last = this.lastCallOf(client!);
    if (!last) return undefined;
    // With one call in flight the related request is known exactly; with several, any of the
    // client's streams will do (they all reach the same client).
    return { peer: last.peer, relatedTo: last.relatedTo };
  }

  /** The newest call in flight of the client with this peer id. */
  private lastCallOf(client: string): Pending | undefined {
    let last: Pending | undefined;
    for (const p of this.pending.values()) if (p.peer.id === client) last = p;
    return last;
  }

  private onMessage(raw: unknown): void {
    const parsed = parseMessage(raw);
    if (!parsed.ok) {
      this.log('warn', `upstream "${this.server}" sent an invalid message: ${parsed.error.message}`);
      return;
    }
    const m: JsonRpcMessage = parsed.message;
    if ('result' in m || 'error' in m) {
      const id = typeof m.id === 'number' ? m.id : Number(m.id);
      const p = this.pending.get(id);
      if (!p) {
        // A late answer to a call the client gave up on: the upstream is done with it.
        forget(this.abandoned, id);
        return;
      }
      if ('error' in m && m.error.code === ErrorCode.UrlElicitationRequired)
        this.routeElicitations(p.peer, urlElicitationIds(m.error.data));
      // An upstream's error may echo what it was sent ("invalid token Bearer ..."): redacted.
      p.resolve('result' in m ? { result: m.result } : { error: redactValue(m.error, this.redact) });
      return;
    }
    if ('id' in m) return void this.onServerRequest(m as JsonRpcRequest);
    this.onServerNotification(m as JsonRpcNotification);
  }

  private async onServerRequest(req: JsonRpcRequest): Promise<void> {
    const reply = (a: UpstreamAnswer) => {
      const msg =
        'result' in a
          ? { jsonrpc: '2.0' as const, id: req.id, result: a.result }
          : { jsonrpc: '2.0' as const, id: req.id, error: a.error };
      void this.transport?.send(msg).catch(() => undefined);
    };
    if (req.method === 'ping') return reply({ result: {} });
    const target = this.attribute();
    if (!target || !target.peer.open) {
      return reply(
        fail(
          ErrorCode.InternalError,
          `Gatehouse cannot tell which client "${req.method}" is for: ${target ? 'that client has gone' : 'no single client has a call in flight on this shared server'}. ${
            this.cfg.isolation === 'session'
              ? '2026-07-28 clients have no session and share one process per server: retry when the other calls have finished.'
              : `Set "isolation: session" on server "${this.server}" to give each client session its own process.`
          }`,
        ),
      );
    }
    const missing = missingCapability(target.peer, req.method);
    if (missing)
      return reply(
        fail(
          ErrorCode.MethodNotFound,
          `The client did not declare the "${missing}" capability, so it cannot answer ${req.method}.`,
        ),
      );
    if (req.method === 'elicitation/create' && req.params?.mode === 'url')
      this.routeElicitations(target.peer, [req.params.elicitationId]);
    try {
      reply(await target.peer.request(req.method, req.params, target.relatedTo));
    } catch (err) {
      reply(fail(ErrorCode.InternalError, `The client did not answer ${req.method}: ${errorText(err)}`));
    }
  }

  private onServerNotification(n: JsonRpcNotification): void {
    if (n.method === 'notifications/progress') {
      const token = n.params?.progressToken;
      const route = typeof token === 'string' ? this.progress.get(token) : undefined;
      if (route && route.peer.open)
        route.peer.notify({ ...n, params: { ...n.params, progressToken: route.token } }, route.relatedTo);
      return;
    }
    // A server's log messages are the protocol's stderr: redacted like it.
    if (n.method === 'notifications/message') n = redactValue(n, this.redact);
    if (n.method === 'notifications/message' || n.method === 'notifications/elicitation/complete') {
      const target = n.method === 'notifications/message' ? this.attribute() : this.completionTarget(n);
      // Never broadcast: a log line or a completion is about one client's call and may carry
      // what that client sent (a shared server logging "working on ... for secret=..."). When no
      // one client can be named, it goes to no one.
      if (!target) return this.dropUnattributed(n.method);
      if (!target.peer.open) return;
      // Gatehouse asks the server for every level and filters per client, so that one client's
      // logging/setLevel never changes what another receives from a shared server.
      if (n.method === 'notifications/message' && !wantsLog(target.peer.era, target.peer.logLevel, n.params?.level))
        return;
      return target.peer.notify(n, target.relatedTo);
    }
    if (n.method === 'notifications/cancelled') return; // our own requests to clients are not cancellable mid-flight
    this.opts.onBroadcast(this, n);
  }

  /**
   * The client a URL elicitation's completion belongs to: the one its elicitation went to, known by
   * the elicitation's id alone, or the owner of a connection of one client's own. Never the client
   * that happens to be busy: the completion comes when the user finishes in the browser, often
   * after the call ended, so an id no client was given (or one already completed) goes to no one.
   */
  private completionTarget(n: JsonRpcNotification): { peer: ClientPeer; relatedTo: JsonRpcId | undefined } | undefined {
    return this.elicitationTarget(n) ?? (this.opts.owner ? this.attribute() : undefined);
  }

  /** The client a URL elicitation went to, by the id the completion names; forgotten once used. */
  private elicitationTarget(
    n: JsonRpcNotification,
  ): { peer: ClientPeer; relatedTo: JsonRpcId | undefined } | undefined {
    const id = n.params?.elicitationId;
    const route = typeof id === 'string' ? this.elicitations.get(id) : undefined;
    if (!route) return undefined;
    forget(this.elicitations, id as string);
    const live = this.lastCallOf(route.peer.id);
    return { peer: live?.peer ?? route.peer, relatedTo: live?.relatedTo };
  }

  private dropUnattributed(method: string): void {
    if (this.unattributedDropped++ === 0)
      this.log(
        'info',
        `upstream "${this.server}" sent ${method} that Gatehouse cannot tie to one client (several or none with calls in flight, or a completion of an elicitation no client was given); such messages are dropped. Set "isolation: session" to give each client session its own process.`,
      );
  }

  private onClose(t: Transport): void {
    if (this.transport !== t) return;
    this.transport = undefined;
    this.identity = undefined;
    this.ready = undefined;
    const message = `Upstream "${this.server}" closed the connection before answering; the call did not complete.`;
    // A call the transport had taken may have run before the connection went: its quota stays spent.
    for (const p of [...this.pending.values()]) {
      const lost = fail(ErrorCode.ConnectionClosed, message);
      p.resolve(p.sent ? spent(lost) : lost);
    }
    this.progress.clear();
    // The process that was still working on abandoned calls is gone.
    forgetAll(this.abandoned);
    clearTimeout(this.stableTimer);
    if (this.closing) return;
    this.lastError = this.lastErrorReason = 'exited';
    this.restartLater((delay) => `upstream "${this.server}" exited; restarting in ${delay} ms`);
  }

  /**
   * Keeps starting the server in the background, with growing backoff, until a start succeeds:
   * after it exited, and after a start that failed (at boot, or a restart whose child did not
   * answer its handshake in time). Giving up would leave /readyz at 503 until a call came, and a
   * load balancer that waits on readiness sends none.
   */
  restartLater(announce: (delay: number) => string): void {
    if (this.closing || this.restartTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.restarts++);
    this.log('warn', announce(delay));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.opts.onRestart?.();
      this.start().then(
        () => this.log('info', `upstream "${this.server}" restarted`),
        (err: unknown) => {
          this.log('error', errorText(err));
          this.retryStart();
        },
      );
    }, delay);
    this.restartTimer.unref();
  }

  /** After a failed start: tries again later (unless a restart is already on its way). */
  retryStart(): void {
    this.restartLater((delay) => `upstream "${this.server}" could not be started; trying again in ${delay} ms`);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const t = this.transport;
    this.transport = undefined;
    for (const p of [...this.pending.values()])
      p.resolve(fail(ErrorCode.ConnectionClosed, `Upstream "${this.server}" is shutting down.`));
    forgetAll(this.abandoned);
    forgetAll(this.elicitations);
    await t?.close().catch(() => undefined);
  }
}

const REQUIRED_CAPABILITY: Record<string, string> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** The capability a client must have declared to be sent this server request, if it lacks it. */
export function missingCapability(peer: ClientPeer, method: string): string | undefined {
  const cap = REQUIRED_CAPABILITY[method];
  return cap && !isObject(peer.capabilities[cap]) ? cap : undefined;
}

/** The elicitation ids a URL-elicitation-required error names. */
function urlElicitationIds(data: unknown): unknown[] {
  const list = isObject(data) ? data.elicitations : undefined;
  return Array.isArray(list) ? list.map((e) => (isObject(e) ? e.elicitationId : undefined)) : [];
}

/**
 * Remembers `peer` under `key` for `ms` (replacing what was there), keeping at most `max` entries:
 * beyond that the oldest is forgotten first, so that the map never grows without bound.
 */
function keepFor<K>(map: Map<K, TimedPeer>, key: K, peer: ClientPeer, ms: number, max: number): void {
  forget(map, key);
  const timer = setTimeout(() => map.delete(key), ms);
  timer.unref();
  map.set(key, { peer, timer });
  const [oldest] = map.keys();
  if (map.size > max && oldest !== undefined) forget(map, oldest);
}

function forget<K>(map: Map<K, TimedPeer>, key: K): void {
  clearTimeout(map.get(key)?.timer);
  map.delete(key);
}

function forgetAll<K>(map: Map<K, { timer: NodeJS.Timeout }>): void {
  for (const v of map.values()) clearTimeout(v.timer);
  map.clear();
}

/** Stand-in owner of requests the gateway sends for itself. */
const NOBODY: ClientPeer = {
  id: 'gatehouse',
  era: 'legacy',
  principal: 'gatehouse',
  capabilities: {},
  open: false,
  request: async () => fail(ErrorCode.MethodNotFound, 'Gatehouse does not answer server requests during start-up.'),
  notify: () => undefined,
};

export function fail(code: number, message: string, data?: unknown): { error: JsonRpcErrorObject } {
  return { error: data === undefined ? { code, message } : { code, message, data } };
}

/**
 * Why an upstream could not start, in words that never come from the upstream: a system error's
 * code (ENOENT, ECONNREFUSED, ...) or a pointer to the log. For unauthenticated answers (/readyz).
 */
function publicReason(err: unknown): string {
  const code =
    (err as { code?: unknown; cause?: { code?: unknown } } | undefined)?.code ??
    (err as { cause?: { code?: unknown } })?.cause?.code;
  if (typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code)) return `could not be started (${code})`;
  return 'could not be started; the gateway log says why';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
