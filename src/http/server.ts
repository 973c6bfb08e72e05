// The HTTP front door: routes, the edge checks every request passes, and health.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeStalledReaders } from './stalled-readers.js';
import type { GatewayCore } from '../gateway/core.js';
import type { Endpoint } from '../gateway/endpoint.js';
import { ErrorCode } from '../mcp/jsonrpc.js';
import { LegacySseDownstream } from '../transports/downstream/legacy-sse.js';
import { IdentityWatch } from '../identity/identity-watch.js';
import { StreamableHttpDownstream, type HttpEdge } from '../transports/downstream/streamable-http.js';
import { retryRouter } from '../cluster/route-retry.js';
import { SessionBindings } from '../cluster/session-bindings.js';
import { BodyTooLarge, readBody } from './body.js';
import { handleAdmin } from './admin-api.js';
import { handleApprovalPage } from './approval-page.js';
import { defaultUiDir, serveUi } from './ui-routes.js';
import { ANONYMOUS, mayUse, type AuthOutcome } from '../identity/grants.js';
import type { AdminTokens } from '../identity/admin-tokens.js';
import { sendJson, sendRpcError } from './respond.js';
import { applyCors, edgeRefusal, requestPath } from './edge-guard.js';
import { SESSION_LIMIT_DEFAULTS, type SessionLimitSettings } from './session-limits.js';
import { serveMetrics } from '../observability/metrics-endpoint.js';
import type { JwtOutcome } from '../identity/jwt.js';
import {
  METADATA_PATH,
  forbiddenChallenge,
  serveProtectedResourceMetadata,
  unauthorizedChallenge,
} from './well-known.js';

export interface HttpOptions {
  maxBodyBytes: number;
  /** limits.max_sessions_per_grant and limits.max_inflight_per_session; safe defaults when absent. */
  sessionLimits?: Partial<SessionLimitSettings>;
  /** When bound to loopback, only loopback Host names are served (DNS-rebinding defence). */
  loopbackOnly: boolean;
  /** Web origins allowed to call the gateway from a browser (listen.cors_origins). */
  corsOrigins?: readonly string[];
  /** The tokens of the admin API and /metrics, with their roles. */
  admin: AdminTokens;
  /** The built dashboard (index.html and assets/); default dist/ui. */
  uiDir?: string;
  /** How often connections are checked for a client that stopped reading (stalled-readers.ts). */
  stallCheckMs?: number;
  /** How often the grants of open streams and sessions are checked (identity-watch.ts). */
  grantCheckMs?: number;
  /** Where a warning of the HTTP front goes (a grant check that could not be made). */
  warn?: (message: string) => void;
}

export interface HttpFront {
  server: Server;
  close(): Promise<void>;
}

export function createHttpFront(core: GatewayCore, opts: HttpOptions): HttpFront {
  // Sessions per grant count across both HTTP transports.
  const sessionsOf = (principal: string): number => streamable.sessionsOf(principal) + sse.sessionsOf(principal);
  const limits = { ...SESSION_LIMIT_DEFAULTS, ...opts.sessionLimits, sessionsOf };
  const grantWatch = new IdentityWatch(
    (identities) => core.grants.refusalsNow(identities),
    opts.warn ?? (() => undefined),
    opts.grantCheckMs,
  );
  const stopRevokeWatch = core.grants.onRevoked(() => void grantWatch.check());
  core.metrics.countWatched(() => grantWatch.size);
  const streamable: StreamableHttpDownstream = new StreamableHttpDownstream(
    limits,
    {
      routeRetry: retryRouter(core.replica, core.ctx),
      bindings: new SessionBindings(core.replica.store, core.replica.id),
    },
    grantWatch,
  );
  const sse: LegacySseDownstream = new LegacySseDownstream(limits, grantWatch);
  core.metrics.countSessions('streamable-http', () => streamable.sessionCount);
  core.metrics.countSessions('sse', () => sse.sessionCount);

  const guard = { loopbackOnly: opts.loopbackOnly, corsOrigins: opts.corsOrigins ?? [] };
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = requestPath(req);
    if (path === undefined)
      return sendJson(res, 400, { error: 'Bad Request: the request target is not a valid path.' });
    // The protected-resource metadata is public and read across origins: only its Host is checked.
    const metadata = path === METADATA_PATH || path.startsWith(`${METADATA_PATH}/`);
    const refusal = edgeRefusal(req, guard, metadata);
    if (refusal) return sendJson(res, refusal.status, { error: refusal.message });
    if (applyCors(req, res, guard)) return;
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') return readiness(core, res);
    if (path === '/metrics') return serveMetrics(core.metrics, opts, req, res);
    if (path.startsWith('/ui/approvals/')) return handleApprovalPage(core.approvals, req, res, path);
    if (path === '/ui' || path.startsWith('/ui/')) return serveUi(opts.uiDir ?? defaultUiDir(), req, res, path);
    if (path === '/api/v1' || path.startsWith('/api/v1/'))
      return handleAdmin(core, { tokens: opts.admin, maxBodyBytes: opts.maxBodyBytes }, req, res, path);
    if (metadata) return serveProtectedResourceMetadata(core, req, res, path);
    const mcp = /^\/mcp(?:\/([^/]+))?\/?$/.exec(path);
    const legacy = /^\/(sse|messages)\/([^/]+)\/?$/.exec(path);
    if (!mcp && !legacy)
      return sendJson(res, 404, { error: `Not found: ${path}. MCP endpoints are /mcp/<server> and /mcp.` });
    const auth = await authenticate(core, req);
    if (!auth.ok) {
      // The identity provider's keys could not be loaded: the caller's token may be fine, so no 401.
      if ('unavailable' in auth)
        return sendRpcError(res, 503, ErrorCode.InternalError, `Service Unavailable: ${auth.reason}`);
      // The client's Authorization header stops here: it is never forwarded upstream.
      return sendRpcError(res, 401, ErrorCode.InvalidRequest, `Unauthorized: ${auth.reason}`, null, {
        'www-authenticate': core.jwt
          ? unauthorizedChallenge(core.jwt, core.links.base, auth.reason, req.headers.authorization !== undefined)
          : `Bearer realm="gatehouse", error="invalid_token", error_description="${auth.reason.replace(/"/g, "'")}"`,
      });
    }
    const edge: HttpEdge = auth.identity;
    const serverName = safeDecode(mcp ? (mcp[1] ?? '*') : legacy![2]!);
    if (serverName === undefined)
      return sendRpcError(
        res,
        400,
        ErrorCode.InvalidRequest,
        'Bad Request: the server name in the path is not valid percent-encoding.',
      );
    const endpoint = endpointOf(core, serverName);
    if (!endpoint) return sendRpcError(res, 404, ErrorCode.InvalidRequest, `Unknown server "${serverName}".`);
    if (serverName !== '*' && !mayUse(edge, serverName)) {
      return sendRpcError(
        res,
        403,
        ErrorCode.InvalidRequest,
        `Forbidden: grant "${edge.grant?.name}" may not use server "${serverName}".`,
        null,
        core.jwt ? { 'www-authenticate': forbiddenChallenge(core.jwt, core.links.base, serverName) } : {},
      );
    }

    if (mcp) {
      if (req.method === 'POST') {
        const raw = await readBody(req, opts.maxBodyBytes);
        return streamable.post(req, res, endpoint, raw, edge);
      }
      if (req.method === 'GET') return streamable.get(req, res, endpoint, edge);
      if (req.method === 'DELETE') return streamable.delete(req, res, endpoint, edge);
      res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
      return;
    }
    if (legacy) {
      const server = serverName;
      if (legacy[1] === 'sse' && req.method === 'GET') return sse.open(res, endpoint, server, edge);
      if (legacy[1] === 'messages' && req.method === 'POST')
        return sse.message(req, res, endpoint, await readBody(req, opts.maxBodyBytes), edge);
      res.writeHead(405, { allow: legacy[1] === 'sse' ? 'GET' : 'POST' }).end();
    }
  };

  const server = createServer((req, res) => {
    // An answer without its socket yet waits behind another on its connection (pipelining).
    if (!res.socket) stalled.queued(req.socket, res);
    route(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLarge)
        return sendRpcError(res, 413, ErrorCode.InvalidRequest, `Payload Too Large: ${err.message}`);
      // Nothing reaches the client but a well-formed answer, and the process keeps running.
      if (!res.headersSent) sendRpcError(res, 500, ErrorCode.InternalError, 'Gatehouse failed to handle the request.');
      else res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  const stalled = closeStalledReaders(server, opts.stallCheckMs);
  return {
    server,
    close: async () => {
      stalled.stop();
      stopRevokeWatch();
      grantWatch.stop();
      streamable.close();
      sse.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

async function authenticate(core: GatewayCore, req: IncomingMessage): Promise<AuthOutcome | JwtOutcome> {
  if (core.authMode === 'none') return { ok: true, identity: ANONYMOUS };
  if (core.authMode === 'jwt') {
    return core.jwt
      ? core.jwt.authenticate(req.headers.authorization)
      : { ok: false, reason: 'JWT authentication is not configured on this gateway.' };
  }
  return core.grants.authenticate(req.headers.authorization);
}

function endpointOf(core: GatewayCore, name: string): Endpoint | undefined {
  if (name !== '*' && !core.pool.has(name)) return undefined;
  return core.endpoint(name);
}

/**
 * Unauthenticated, so it says why an upstream is not ready only in the gateway's own words
 * (`exited`, a system error code): an upstream's error text can quote its credentials.
 */
async function readiness(core: GatewayCore, res: ServerResponse): Promise<void> {
  // A replica that cannot reach the state store blocks every call that has limits or needs an
  // approval, so it is not ready; only the store's kind is shown, never its address.
  const store = { kind: core.store.kind, reachable: await core.store.ping() };
  const upstreams: Record<string, { ready: boolean; era?: string; error?: string }> = {};
  let ready = true;
  for (const name of Object.keys(core.pool.servers)) {
    const c = core.pool.sharedConnection(name);
    upstreams[name] = {
      ready: c.isReady,
      ...(c.era ? { era: c.era } : {}),
      ...(c.lastErrorReason ? { error: c.lastErrorReason } : {}),
    };
    if (!c.isReady) ready = false;
  }
  if (!store.reachable) ready = false;
  sendJson(res, ready ? 200 : 503, {
    status: ready ? 'ready' : store.reachable ? 'starting' : 'store_unreachable',
    store,
    upstreams,
  });
}
