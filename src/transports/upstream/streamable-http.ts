// Gatehouse's client side of the Streamable HTTP transport, for upstream servers. It does on the
// wire what the SDK's StreamableHTTPClientTransport does for the options Gatehouse uses (the
// operator's headers, a resumed session, no OAuth): each message is a POST whose answer is JSON or
// an SSE stream; `Mcp-Session-Id` and `MCP-Protocol-Version` ride every request; a modern request
// carries the headers derived from its body (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`)
// and the caller's `Mcp-Param-*`; after `notifications/initialized` a GET opens the stream of
// server-initiated messages, which reconnects with `Last-Event-ID`, as does a POST stream that
// ends before its answer once the server has primed it with an event id.
//
// It exists for speed: the SDK transport goes through fetch and validates every message with zod,
// which made the HTTP hop cost more than the gateway's whole policy pipeline. Here requests go
// through node:http on keep-alive connections (http-exchange.ts) and messages are read by the
// same reader as a stdio upstream's (message-reader.ts), which skips zod on the common shapes.
//
// Two things it does that the SDK transport does not: an answer of 404 to a request that carried
// a session id means the server no longer knows the session (the spec says to start a new one), so
// the transport reports itself closed and the connection opens a new session; and no DELETE is
// sent on close, because a legacy session that moved to another replica may still be in use there.
import type { JSONRPCMessage, Transport, TransportSendOptions } from '@modelcontextprotocol/client';
import { META_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION } from '../../mcp/era.js';
import { isObject, isRequest, metaOf, parseMessage, type JsonObject, type JsonRpcMessage } from '../../mcp/jsonrpc.js';
import { encodeMcpName } from '../../mcp/param-headers.js';
import {
  HttpExchange,
  HttpTarget,
  discard,
  FRAMING_HEADERS,
  operatorHeaders,
  header,
  indexOfName,
  mediaType,
  readText,
  unfollowedRedirect,
  type HttpResponse,
} from './http-exchange.js';
import { MAX_MESSAGE_BYTES, toMessage } from './message-reader.js';
import { serverRetryDelay, SseParser } from './sse-parser.js';
import { delivered } from './delivered.js';

export interface ReconnectionOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  growFactor: number;
  /** Reconnection attempts in a row that may fail before the stream is given up. */
  maxRetries: number;
}

/** The SDK transport's defaults. */
const DEFAULT_RECONNECTION: ReconnectionOptions = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  growFactor: 1.5,
  maxRetries: 2,
};

export interface StreamableHttpOptions {
  /** Sent with every request: the operator's configured headers (credentials among them). */
  headers?: Record<string, string>;
  /** Continue this session rather than open one. */
  sessionId?: string;
  protocolVersion?: string;
  reconnection?: ReconnectionOptions;
  /**
   * The most an exchange no caller can abort may take (a notification's POST and its 202, the
   * handshake's own requests, the headers of the GET stream): the server's `timeout_ms`.
   */
  timeoutMs?: number;
}

/** As the config's default `timeout_ms`. */
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * How long a request's SSE stream may stay open once its answer came. The spec has the server
 * close it then; an honest one does at once (its connection is then reused), and one that keeps
 * it open would otherwise hold a connection of the gateway's for every call it ever answered.
 */
const ANSWERED_STREAM_GRACE_MS = 1_000;

/** An HTTP answer that is not a success; `status` for callers that tell them apart. */
class UpstreamHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamHttpError';
  }
}

/**
 * Headers the transport sets per request. An operator's value for one of them is sent only on a
 * request for which the transport sets none (as with the SDK transport, whose own values replace
 * the configured ones).
 */
const PER_REQUEST_HEADERS = new Set([
  'accept',
  'content-type',
  'mcp-protocol-version',
  'mcp-method',
  'mcp-name',
  'mcp-session-id',
  'last-event-id',
]);

/**
 * Headers a caller's per-request headers cannot set: those that frame the message, those the
 * transport sets per request, and the credentials the operator configured.
 */
const NOT_FROM_CALLER: ReadonlySet<string> = new Set([
  ...FRAMING_HEADERS,
  ...PER_REQUEST_HEADERS,
  'authorization',
  'dpop',
]);

/** The param whose value a modern request's `Mcp-Name` header mirrors, by method (as the SDK sends it). */
const MCP_NAME_SOURCE: Record<string, string> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

interface StreamOptions {
  /** Resume after this event id (`Last-Event-ID`). */
  resumptionToken?: string;
  requestSignal?: AbortSignal;
  /** The request whose answer this stream carries: it ends with that answer (none on the GET stream). */
  answers?: { id: unknown };
}

type Message = JSONRPCMessage & { id?: unknown; method?: unknown; params?: unknown };

export class StreamableHttpClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];

  private readonly target: HttpTarget;
  /** The operator's headers that go out as they are: name/value pairs, names in lower case. */
  private readonly fixed: string[] = [];
  /** The operator's values for headers the transport sets per request (rarely any). */
  private readonly fallback = new Map<string, string>();
  private readonly postAccept: string;
  private readonly getAccept: string;
  private readonly reconnection: ReconnectionOptions;
  private session: string | undefined;
  private version: string | undefined;
  private state: 'new' | 'started' | 'closed' = 'new';
  /** Requests and streams in flight, aborted on close. */
  private readonly live = new Set<HttpExchange>();
  private readonly reconnects = new Set<NodeJS.Timeout>();
  private serverRetryMs: number | undefined;
  private readonly timeoutMs: number;

  constructor(url: URL, opts: StreamableHttpOptions = {}) {
    this.target = new HttpTarget(url);
    const configured = operatorHeaders(opts.headers);
    for (const [name, value] of configured) {
      if (name === 'accept') continue; // merged with the transport's own below
      if (PER_REQUEST_HEADERS.has(name)) this.fallback.set(name, value);
      else this.fixed.push(name, value);
    }
    const accepted = (configured.get('accept') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== '');
    this.postAccept = [...new Set([...accepted, 'application/json', 'text/event-stream'])].join(', ');
    this.getAccept = [...new Set([...accepted, 'text/event-stream'])].join(', ');
    this.session = opts.sessionId;
    this.version = opts.protocolVersion;
    this.reconnection = opts.reconnection ?? DEFAULT_RECONNECTION;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get sessionId(): string | undefined {
    return this.session;
  }

  get protocolVersion(): string | undefined {
    return this.version;
  }

  setProtocolVersion(version: string): void {
    this.version = version;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('This Streamable HTTP transport was already started.');
    this.state = 'started';
  }

  async close(): Promise<void> {
    this.shutdown(new Error('The transport was closed.'));
  }

  /** Ends every request and stream in flight with `reason`, and reports the transport closed. */
  private shutdown(reason: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const t of this.reconnects) clearTimeout(t);
    this.reconnects.clear();
    for (const x of this.live) x.abort(reason);
    this.live.clear();
    this.onclose?.();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as Message;
    try {
      await this.post(m, options);
    } catch (error) {
      this.report(error, options?.requestSignal);
      throw error;
    }
  }

  /** Tells onerror, unless the failure is one the caller asked for (its signal, or close()). */
  private report(error: unknown, signal?: AbortSignal): void {
    if (this.state === 'closed' || signal?.aborted) return;
    this.onerror?.(error instanceof Error ? error : new Error(String(error)));
  }

  /**
   * A request's headers as name/value pairs: the operator's, then the transport's own. `set` holds
   * the per-request ones, which replace any operator value of the same name.
   */
  private headers(set: Record<string, string | undefined>, extra?: Readonly<Record<string, string>>): string[] {
    const h = this.fixed.slice();
    if (extra)
      for (const name of Object.keys(extra)) {
        const lower = name.toLowerCase();
        if (NOT_FROM_CALLER.has(lower)) continue;
        const at = indexOfName(h, lower);
        if (at === -1) h.push(lower, extra[name]!);
        else h[at + 1] = extra[name]!;
      }
    for (const name in set) {
      const value = set[name];
      if (value !== undefined) h.push(name, value);
    }
    if (this.fallback.size > 0)
      for (const [name, value] of this.fallback) if (set[name] === undefined) h.push(name, value);
    return h;
  }

  private async post(m: Message, options: TransportSendOptions | undefined): Promise<void> {
    const request = isRequest(m as JsonRpcMessage);
    // The headers derived from a modern request's body (a request whose `_meta` claims a protocol
    // version); messages without a claim get no modern header.
    const claim = request ? envelopeVersion(m) : undefined;
    const handshake = request && m.method === 'initialize';
    const session = handshake ? undefined : this.session;
    const headers = this.headers(
      {
        'content-type': 'application/json',
        accept: this.postAccept,
        'mcp-session-id': session,
        'mcp-protocol-version': claim ?? this.version,
        'mcp-method': claim === undefined ? undefined : (m.method as string),
        'mcp-name': claim === undefined ? undefined : mcpName(m),
      },
      options?.headers,
    );
    const modern = claim !== undefined && claim >= MODERN_PROTOCOL_VERSION;

    const x = new HttpExchange('POST', headers, JSON.stringify(m));
    const signal = options?.requestSignal;
    // Without a caller's signal nothing else ends this exchange: a server that answers a
    // notification with a 202 whose body never ends would hold up whoever awaits the send (the
    // handshake, and every call waiting on it) for ever.
    const release = both(
      this.track(x, signal),
      signal ? undefined : this.deadline(x, `${String(m.method ?? 'a response')}`),
    );
    let streaming = false;
    /** The server accepted the request (2xx): a failure from here on comes after it had the call. */
    let accepted = false;
    try {
      const res = await x.send(this.target);
      const ok = res.status >= 200 && res.status < 300;
      if (handshake && ok) this.session = header(res, 'mcp-session-id') || undefined;
      if (!ok) {
        const text = await readText(res).catch(() => '');
        if (res.status === 400 && modern && this.deliverRefusal(text, m.id)) return;
        if (res.status === 404 && session !== undefined) return this.expire(text);
        const refused = new UpstreamHttpError(
          res.status,
          `Error POSTing to endpoint: ${unfollowedRedirect(res) ?? text}`,
        );
        // A server error (or a proxy's 502 or 504) may come after the call ran; a 4xx is a refusal.
        throw request && res.status >= 500 ? delivered(refused) : refused;
      }
      accepted = request;
      if (res.status === 202) {
        await discard(res);
        if (m.method === 'notifications/initialized') this.openStream({}).catch((error: unknown) => this.report(error));
        return;
      }
      if (!request) return await discard(res);
      const contentType = header(res, 'content-type');
      const type = mediaType(contentType);
      if (type === 'application/json') {
        const body: unknown = JSON.parse(await readText(res));
        // Check them all before delivering any, as the SDK transport does.
        const messages = Array.isArray(body) ? body.map(decode) : [decode(body)];
        for (const msg of messages) this.onmessage?.(msg);
        return;
      }
      if (type !== 'text/event-stream') {
        await discard(res);
        throw new Error(`Unexpected content type: ${contentType}`);
      }
      streaming = true;
      this.consume(x, res, release, false, { ...(signal ? { requestSignal: signal } : {}), answers: { id: m.id } });
    } catch (error) {
      if (x.abortReason) throw x.abortReason;
      throw accepted ? delivered(error) : error;
    } finally {
      if (!streaming) release();
    }
  }

  /**
   * A modern server refuses a request with 400 and a JSON-RPC error in the body (a header that
   * disagrees with the body, say): that error is the request's answer. Returns whether it was one.
   */
  private deliverRefusal(text: string, id: unknown): boolean {
    try {
      const parsed = parseMessage(JSON.parse(text));
      if (!parsed.ok || !('error' in parsed.message) || parsed.message.id !== id) return false;
      this.onmessage?.(parsed.message as JSONRPCMessage);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The server no longer knows the session: this request fails, and so do the others in flight on
   * it; the transport reports itself closed, so that the connection starts a new session.
   */
  private expire(text: string): never {
    const error = new UpstreamHttpError(
      404,
      `The upstream no longer knows this session (HTTP 404: ${text}); a new session will be opened.`,
    );
    // After this request's own rejection has been handled, so that its caller sees this error.
    setImmediate(() => this.shutdown(error));
    throw error;
  }

  /** Aborts `x` if it has not been released within timeoutMs; returns what clears that. */
  private deadline(x: HttpExchange, what: string): () => void {
    const timer = setTimeout(
      () =>
        x.abort(
          Object.assign(new Error(`The upstream did not finish answering ${what} within ${this.timeoutMs} ms.`), {
            code: 'ETIMEDOUT',
          }),
        ),
      this.timeoutMs,
    );
    timer.unref();
    return () => clearTimeout(timer);
  }

  /** Keeps an exchange abortable by close() and by the request's own signal until released. */
  private track(x: HttpExchange, signal: AbortSignal | undefined): () => void {
    if (this.state === 'closed') x.abort(new Error('The transport was closed.'));
    else this.live.add(x);
    if (!signal) return () => this.live.delete(x);
    const onAbort = () => x.abort(abortError(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return () => {
      this.live.delete(x);
      signal.removeEventListener('abort', onAbort);
    };
  }

  /** Opens the GET stream (server-initiated messages, or a resumption after Last-Event-ID). */
  private async openStream(opts: StreamOptions): Promise<void> {
    const session = this.session;
    const x = new HttpExchange(
      'GET',
      this.headers({
        accept: this.getAccept,
        'mcp-session-id': session,
        'mcp-protocol-version': this.version,
        'last-event-id': opts.resumptionToken,
      }),
    );
    const release = this.track(x, opts.requestSignal);
    // The stream itself may stay open as long as the server likes; its answer may not take longer
    // than a request's (without a signal, nothing else would end a server that never answers).
    const answered = opts.requestSignal ? undefined : this.deadline(x, 'the GET for its stream');
    let streaming = false;
    try {
      const res = await x.send(this.target);
      answered?.();
      if (res.status < 200 || res.status >= 300) {
        const text = await readText(res).catch(() => '');
        // A server without a GET stream says 405: nothing to receive there.
        if (res.status === 405) return;
        if (res.status === 404 && session !== undefined) return this.expire(text);
        throw new UpstreamHttpError(
          res.status,
          `Failed to open SSE stream: ${unfollowedRedirect(res) ?? (res.statusText || `HTTP ${res.status}`)}`,
        );
      }
      streaming = true;
      this.consume(x, res, release, true, opts);
    } finally {
      answered?.();
      if (!streaming) release();
    }
  }

  /**
   * Reads an SSE stream to its end, delivering each message. A stream that ends before it
   * delivered an answer is resumed with Last-Event-ID when it can be: the GET stream always, a POST
   * stream once the server has given an event id.
   */
  private consume(
    x: HttpExchange,
    res: HttpResponse,
    release: () => void,
    reconnectable: boolean,
    opts: StreamOptions,
  ): void {
    let lastEventId: string | undefined;
    let primed = false;
    let answered = false;
    let ended = false;
    let grace: NodeJS.Timeout | undefined;
    const parser = new SseParser(
      (event) => {
        if (event.id) {
          lastEventId = event.id;
          primed = true;
        }
        if (!event.data || (event.event && event.event !== 'message')) return;
        let msg: Message;
        try {
          msg = decode(JSON.parse(event.data)) as Message;
        } catch (error) {
          return this.report(error);
        }
        if ('result' in msg || 'error' in msg) {
          answered = true;
          if (opts.answers && msg.id === opts.answers.id && !grace) {
            grace = setTimeout(
              () => x.abort(new Error('The upstream kept the stream of an answered request open.')),
              ANSWERED_STREAM_GRACE_MS,
            );
            grace.unref();
          }
        }
        this.onmessage?.(msg);
      },
      (ms) => (this.serverRetryMs = ms),
      MAX_MESSAGE_BYTES,
    );
    const message = res.message;
    message.setEncoding('utf8');
    message.on('data', (chunk: string) => {
      try {
        parser.push(chunk);
      } catch (error) {
        // An event past the size limit: the stream is given up like a lost connection.
        message.destroy(error as Error);
      }
    });
    const finish = (error?: Error) => {
      if (ended) return;
      ended = true;
      clearTimeout(grace);
      release();
      if (this.state === 'closed' || x.abortReason) return;
      if (error) this.onerror?.(new Error(`SSE stream disconnected: ${error.message}`));
      if ((reconnectable || primed) && !answered) {
        const { resumptionToken: _previous, ...rest } = opts;
        this.scheduleReconnection(lastEventId ? { ...rest, resumptionToken: lastEventId } : rest, 0);
      }
    };
    message.once('end', () => finish());
    message.once('error', (e: Error) => finish(e));
    message.once('close', () => finish(message.complete ? undefined : new Error('the connection closed')));
  }

  private scheduleReconnection(opts: StreamOptions, attempt: number): void {
    const { maxRetries, initialDelayMs, growFactor, maxDelayMs } = this.reconnection;
    if (attempt >= maxRetries) {
      this.onerror?.(new Error(`Maximum reconnection attempts (${maxRetries}) exceeded.`));
      return;
    }
    const delay =
      this.serverRetryMs !== undefined
        ? serverRetryDelay(this.serverRetryMs)
        : Math.min(initialDelayMs * growFactor ** attempt, maxDelayMs);
    const timer = setTimeout(() => {
      this.reconnects.delete(timer);
      if (this.state === 'closed' || opts.requestSignal?.aborted) return;
      this.openStream(opts).catch((error: unknown) => {
        if (this.state === 'closed' || opts.requestSignal?.aborted) return;
        const text = error instanceof Error ? error.message : String(error);
        this.onerror?.(new Error(`Failed to reconnect SSE stream: ${text}`));
        this.scheduleReconnection(opts, attempt + 1);
      });
    }, delay);
    // A pending reconnection must not keep a process that is otherwise done alive.
    timer.unref();
    this.reconnects.add(timer);
  }
}

/** Both release functions as one; the second may be missing. */
function both(a: () => void, b: (() => void) | undefined): () => void {
  return b
    ? () => {
        a();
        b();
      }
    : a;
}

/** The protocol version a request's `_meta` claims, if it claims one. */
function envelopeVersion(m: Message): string | undefined {
  const version = metaOf(isObject(m.params) ? m.params : undefined)?.[META_PROTOCOL_VERSION];
  return typeof version === 'string' ? version : undefined;
}

/** The `Mcp-Name` header of a request, as the SDK derives it: the param its method names, encoded. */
function mcpName(m: Message): string | undefined {
  const field = Object.hasOwn(MCP_NAME_SOURCE, m.method as string) ? MCP_NAME_SOURCE[m.method as string] : undefined;
  const value = field ? (m.params as JsonObject)[field] : undefined;
  return typeof value === 'string' ? encodeMcpName(value) : undefined;
}

/** Exactly what the SDK's transport accepted and delivered (its schema), as for stdio upstreams. */
function decode(value: unknown): JSONRPCMessage {
  try {
    return toMessage(value);
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`The upstream sent an invalid JSON-RPC message: ${detail}`);
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}
