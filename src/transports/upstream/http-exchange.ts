// One HTTP request to an upstream server on node:http, with keep-alive connections shared by every
// upstream. This replaces global fetch on the relay's hot path: fetch (undici) wraps each message
// in WHATWG Request, Headers, AbortSignal and stream objects, which cost the gateway more CPU per
// call than the rest of its pipeline together. Requests are built as cheaply as node:http allows
// (options worked out once per URL, headers as a flat list, response headers read from the raw
// list without building the headers object). What fetch did that matters is kept: redirects are
// followed within the origin as the SDK's client transport follows them, a connection attempt
// gives up after 10 s, and a request that meets a keep-alive connection the server has just closed
// is sent again once on a fresh one.
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MAX_MESSAGE_BYTES } from './message-reader.js';
import { delivered } from './delivered.js';

/** As fetch (undici) gives up connecting. */
const CONNECT_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * How long a pooled connection may sit idle when the server announces no Keep-Alive timeout:
 * fetch's (undici's) default, below the 5 s that Node and many servers close idle connections
 * after, so that Gatehouse closes first rather than send a request on a closing connection.
 */
const IDLE_TIMEOUT_MS = 4_000;
/** How long an exchange may go without a byte from the upstream (undici's default for fetch). */
const RESPONSE_IDLE_TIMEOUT_MS = 300_000;

/** The last response each pooled connection carried, for its Keep-Alive timeout. */
const lastResponse = new WeakMap<Duplex, IncomingMessage>();

/** Connections stay open between requests (per-call TCP set-up would cost more than the call). */
function pooled<A extends HttpAgent>(agent: A): A {
  const create = agent.createConnection.bind(agent);
  // Only a new connection can hang connecting; a pooled one is already connected.
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback);
    if (socket) {
      connectTimeout(socket, `${options.host ?? ''}:${options.port ?? ''}`);
      // From the start, not only once pooled: a long-lived stream on a connection whose peer
      // vanished is noticed by TCP keep-alive instead of hanging for hours.
      (socket as Socket).setKeepAlive(true, 1_000);
    }
    return socket;
  };
  // Node's own version sets TCP keep-alive again (two setsockopt calls) every time a connection
  // goes back to the pool, builds the response's headers object to read one header, and leaves
  // an idle connection open until the server closes it. Here: TCP keep-alive once per connection
  // (set when it was made, above: the stock agents make every connection synchronously), the
  // server's Keep-Alive timeout read from the raw headers (less a second), else 4 s.
  agent.keepSocketAlive = (duplex) => {
    const socket = duplex as Socket;
    socket.unref();
    let idle = IDLE_TIMEOUT_MS;
    const res = lastResponse.get(socket);
    lastResponse.delete(socket);
    const hint = res ? rawHeader(res.rawHeaders, 'keep-alive') : undefined;
    const seconds = hint ? /^timeout=(\d+)/.exec(hint)?.[1] : undefined;
    if (seconds !== undefined) {
      idle = Number(seconds) * 1_000 - 1_000;
      // Too short to reuse safely.
      if (idle <= 0) return false;
    }
    if (socket.timeout !== idle) socket.setTimeout(idle);
    return true;
  };
  return agent;
}

function connectTimeout(socket: Duplex, where: string): void {
  const timer = setTimeout(
    () =>
      socket.destroy(
        Object.assign(new Error(`connecting to ${where} timed out after ${CONNECT_TIMEOUT_MS} ms`), {
          code: 'ETIMEDOUT',
        }),
      ),
    CONNECT_TIMEOUT_MS,
  );
  timer.unref();
  const clear = () => clearTimeout(timer);
  socket.once('connect', clear);
  socket.once('close', clear);
}

const agents = { http: pooled(new HttpAgent({ keepAlive: true })), https: pooled(new HttpsAgent({ keepAlive: true })) };

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/** Headers that frame the HTTP message itself: node:http sets them, and neither the operator nor a caller may. */
export const FRAMING_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
]);

/**
 * The operator's configured headers as both the transport and the era probe send them: names
 * lower-cased (the last spelling of a name wins), `user-agent: node` unless one is configured (fetch
 * sent it, and some servers and firewalls refuse requests without any), the framing headers left out.
 */
export function operatorHeaders(headers: Record<string, string> = {}): Map<string, string> {
  const out = new Map<string, string>([['user-agent', 'node']]);
  for (const [name, value] of Object.entries(headers)) out.set(name.toLowerCase(), value);
  for (const name of FRAMING_HEADERS) out.delete(name);
  return out;
}

/** What a request to one URL needs, worked out once. */
export class HttpTarget {
  readonly https: boolean;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly hostHeader: string;
  /** Basic credentials from the URL's user info, sent unless the request has its own Authorization. */
  readonly basicAuth: string | undefined;

  constructor(readonly url: URL) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`An HTTP upstream URL must be http: or https:, not ${url.protocol}`);
    this.https = url.protocol === 'https:';
    const hostname = url.hostname;
    this.host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    this.port = url.port ? Number(url.port) : this.https ? 443 : 80;
    this.path = `${url.pathname}${url.search}`;
    this.hostHeader = url.host;
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    this.basicAuth = url.username || url.password ? `Basic ${Buffer.from(credentials).toString('base64')}` : undefined;
  }
}

export interface HttpResponse {
  status: number;
  statusText: string;
  /** The URL that answered, after the redirects followed. */
  url: URL;
  message: IncomingMessage;
}

/** A response header by its lower-case name (the first, if it was sent more than once). */
export function header(res: HttpResponse, name: string): string | undefined {
  return rawHeader(res.message.rawHeaders, name);
}

function rawHeader(raw: string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

/**
 * A request and its response as one thing that can be aborted at any point: before the answer,
 * while its body (an SSE stream, say) is still being read, or between redirects.
 */
export class HttpExchange {
  private req: ClientRequest | undefined;
  private res: IncomingMessage | undefined;
  private abortedWith: Error | undefined;

  /**
   * @param headers name/value pairs (names in lower case), without `host`: this exchange's own
   * list, to which it adds the content length (and `host`, and the URL's credentials, per target).
   */
  constructor(
    private readonly method: HttpMethod,
    private readonly headers: string[],
    private readonly body?: string,
  ) {
    if (body !== undefined) headers.push('content-length', String(Buffer.byteLength(body)));
  }

  /** Why the exchange was aborted, if it was: the error its caller should see. */
  get abortReason(): Error | undefined {
    return this.abortedWith;
  }

  /** Sends the request, following redirects within the origin; resolves once the headers arrive. */
  send(target: HttpTarget, followed = 0): Promise<HttpResponse> {
    return this.once(target, true).then((message) => {
      const status = message.statusCode ?? 0;
      const to = REDIRECT_STATUSES.has(status) ? redirectTarget(target.url, message) : undefined;
      if (to && followed < MAX_REDIRECTS && this.follows(target.url, status, to)) {
        message.resume();
        return this.send(new HttpTarget(to), followed + 1);
      }
      return { status, statusText: message.statusMessage ?? '', url: target.url, message };
    });
  }

  /** Ends the request and its response now; a pending send() rejects with `reason`. */
  abort(reason: Error): void {
    if (this.abortedWith) return;
    this.abortedWith = reason;
    this.res?.destroy(reason);
    this.req?.destroy(reason);
  }

  /** The SDK's redirect rule: stay within the origin, keep the method, never pick up new credentials. */
  private follows(from: URL, status: number, to: URL): boolean {
    const keepsMethod = this.method === 'GET' || status === 307 || status === 308;
    const keepsUserinfo =
      !(to.username || to.password) || (to.username === from.username && to.password === from.password);
    return keepsMethod && keepsUserinfo && isWithinOrigin(from, to);
  }

  private once(target: HttpTarget, mayRetry: boolean): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (this.abortedWith) return reject(this.abortedWith);
      this.res = undefined;
      const headers = ['host', target.hostHeader, ...this.headers];
      if (target.basicAuth && indexOfName(this.headers, 'authorization') === -1)
        headers.push('authorization', target.basicAuth);
      const req = (target.https ? httpsRequest : httpRequest)({
        host: target.host,
        port: target.port,
        path: target.path,
        method: this.method,
        headers,
        agent: target.https ? agents.https : agents.http,
      });
      this.req = req;
      // The bytes of the request are all handed to the connection: from here the server may have
      // it, and a POST (a tool call) must not be sent again.
      let written = false;
      req.once('finish', () => (written = true));
      // As fetch did (undici's headers and body timeouts): an exchange silent for this long is
      // given up, so a hung upstream cannot hold connections for ever. A stream that had events
      // is resumed by its reader.
      req.setTimeout(RESPONSE_IDLE_TIMEOUT_MS, () =>
        req.destroy(
          Object.assign(new Error(`the upstream sent nothing for ${RESPONSE_IDLE_TIMEOUT_MS / 1000} s`), {
            code: 'ETIMEDOUT',
          }),
        ),
      );
      req.once('response', (res) => {
        this.res = res;
        if (req.socket) lastResponse.set(req.socket, res);
        // Whoever reads the body listens for its errors; this one keeps an unread or discarded
        // body's late error from becoming an uncaught exception.
        res.on('error', noop);
        resolve(res);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (this.abortedWith) return reject(this.abortedWith);
        // The server closed an idle keep-alive connection just as this request went out on it.
        // Sent again on a new connection only when that cannot run it twice: a GET or DELETE, or a
        // POST whose bytes never all left (a reset after that may come from a server that read
        // the call, ran it and then died).
        const unsent = this.method !== 'POST' || !written;
        if (
          mayRetry &&
          unsent &&
          req.reusedSocket &&
          !this.res &&
          (err.code === 'ECONNRESET' || err.code === 'EPIPE')
        ) {
          this.once(target, false).then(resolve, reject);
          return;
        }
        // A POST that all left may have been read and run by the server before the connection went.
        reject(this.method === 'POST' && written ? delivered(err) : err);
      });
      req.end(this.body);
    });
  }
}

function noop(): void {}

/** Where a header name is in a name/value list, or -1. */
export function indexOfName(pairs: readonly string[], name: string): number {
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === name) return i;
  return -1;
}

/**
 * Reads a whole body as UTF-8 text. A body longer than `maxBytes` is not read on: its connection
 * is closed and the read fails saying so.
 */
export function readText(res: HttpResponse, maxBytes = MAX_MESSAGE_BYTES): Promise<string> {
  const message = res.message;
  return new Promise<string>((resolve, reject) => {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let length = 0;
    message.on('data', (c: Buffer) => {
      length += c.length;
      if (length > maxBytes) {
        first = more = undefined;
        message.destroy(
          new Error(
            `The upstream's response is larger than ${maxBytes} bytes, the most Gatehouse reads of one message.`,
          ),
        );
        return;
      }
      if (!first) first = c;
      else (more ??= [first]).push(c);
    });
    message.once('end', () =>
      resolve(more ? Buffer.concat(more).toString('utf8') : first ? first.toString('utf8') : ''),
    );
    // A connection lost mid-body (or aborted) destroys the message with an error; 'close' is
    // the safety net for a destroy without one.
    message.once('error', reject);
    message.once('close', () => {
      if (!message.complete) reject(new Error('The upstream closed the connection before the response ended.'));
    });
  });
}

/** Reads and drops a body, so that its connection goes back to the pool. */
export function discard(res: HttpResponse): Promise<void> {
  return readText(res).then(noop, noop);
}

/** The media type of a Content-Type value, lower case, without its parameters. */
export function mediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const essence = (contentType.split(';', 1)[0] ?? '').trim().toLowerCase();
  return essence === '' ? undefined : essence;
}

function redirectTarget(url: URL, res: IncomingMessage): URL | undefined {
  const location = res.headers.location;
  if (!location) return undefined;
  try {
    return new URL(location, url);
  } catch {
    return undefined;
  }
}

/** Same scheme, host and port, or the https form of an http URL with both on the default port. */
function isWithinOrigin(from: URL, to: URL): boolean {
  if (from.protocol === to.protocol && from.host === to.host) return true;
  return (
    from.protocol === 'http:' && to.protocol === 'https:' && from.hostname === to.hostname && !from.port && !to.port
  );
}

/** Why a redirect answer was not followed, or undefined when the answer is no redirect. */
export function unfollowedRedirect(res: HttpResponse): string | undefined {
  const target = REDIRECT_STATUSES.has(res.status) ? redirectTarget(res.url, res.message) : undefined;
  if (!target) return undefined;
  target.username = target.password = target.search = target.hash = '';
  if (target.protocol === 'http:' && res.url.protocol === 'https:') {
    target.protocol = 'https:';
    return `Redirect from https to plain http not followed; try ${target.href} as the endpoint`;
  }
  return `Redirect to ${target.href} not followed; use that URL as the endpoint if it is the intended server`;
}
