// The checks every request passes before routing: a request target that parses, a Host the gateway
// answers to (DNS rebinding), an Origin it trusts (a web page must not drive a local gateway), and
// the CORS headers for the origins the operator listed — nowhere else.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost } from '../config/loopback.js';
import { remember } from '../util/memo.js';

export interface EdgeGuardOptions {
  /** Bound to loopback: only loopback Host names and loopback origins are served. */
  loopbackOnly: boolean;
  /** Web origins (`https://app.example`) allowed to call the gateway from a browser. */
  corsOrigins: readonly string[];
}

export type EdgeRefusal = { status: 400 | 403; message: string };

const EXPOSED = 'mcp-session-id, mcp-protocol-version, www-authenticate';
const ALLOWED_HEADERS =
  'authorization, content-type, accept, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id';

/**
 * Request targets and Host headers remembered at most (a client sends the same ones each call).
 * This runs before authentication: what anyone can make it keep is 1,000 keys of at most 256
 * characters each (longer ones are not remembered).
 */
const MEMO_LIMIT = 1_000;
const paths = new Map<string, string | undefined>();
const loopbackHosts = new Map<string, boolean>();

function pathOf(target: string): string | undefined {
  // Only a path (origin-form) is a target the gateway answers: an absolute URL or a `//host/...`
  // target names another host, which must never reach anything that builds a URL from it (the
  // replica forward).
  if (!target.startsWith('/') || target.startsWith('//')) return undefined;
  try {
    return new URL(target, 'http://gatehouse').pathname;
  } catch {
    return undefined;
  }
}

/** The path of a request target, as the URL standard reads it; undefined when it is not a path, or does not parse. */
export function requestPath(req: IncomingMessage): string | undefined {
  return remember(paths, MEMO_LIMIT, req.url ?? '/', pathOf);
}

function hostName(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
}

export function hostIsLoopback(host: string | undefined): boolean {
  if (!host) return false;
  return remember(loopbackHosts, MEMO_LIMIT, host, (h) => isLoopbackHost(hostName(h)));
}

/**
 * Why the request is refused at the edge, if it is. An Origin is trusted when it is listed in
 * `listen.cors_origins`, is the gateway's own origin (same Host), or — on a loopback bind — is a
 * loopback origin; anything else is a page on another site, refused 403 as the MCP spec asks.
 */
export function edgeRefusal(req: IncomingMessage, opts: EdgeGuardOptions, anyOrigin = false): EdgeRefusal | undefined {
  if (opts.loopbackOnly && !hostIsLoopback(req.headers.host))
    return {
      status: 403,
      message: 'Forbidden: this gateway listens on loopback and serves only loopback Host names.',
    };
  const origin = req.headers.origin;
  if (anyOrigin || origin === undefined || opts.corsOrigins.includes(origin)) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined;
  }
  const sameHost = url !== undefined && req.headers.host !== undefined && url.host === req.headers.host.toLowerCase();
  const loopbackOrigin = url !== undefined && opts.loopbackOnly && hostIsLoopback(url.host);
  if (sameHost || loopbackOrigin) return undefined;
  return {
    status: 403,
    message: `Forbidden: requests from origin ${JSON.stringify(origin)} are not allowed; list it in listen.cors_origins to allow it.`,
  };
}

/**
 * Sets the CORS headers for a listed origin, and answers its preflight. Returns true when the
 * request (a preflight) has been answered.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, opts: EdgeGuardOptions): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || !opts.corsOrigins.includes(origin)) return false;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  res.setHeader('access-control-expose-headers', EXPOSED);
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
  res.writeHead(204, {
    'access-control-allow-methods': 'GET, POST, DELETE',
    'access-control-allow-headers': ALLOWED_HEADERS,
    'access-control-max-age': '600',
  });
  res.end();
  return true;
}
