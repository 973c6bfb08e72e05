// The admin JSON API (`/api/v1/...`). One path for every request: the admin token is identified
// (401 otherwise), the route is found in the one route table (admin-routes.ts; 404 or 405), its
// least role is checked (403), a `server` in the path must be configured (404), and only then does
// the route's handler run. Grant tokens are not admin tokens: an agent's token is 401 here.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayCore } from '../gateway/core.js';
import type { AdminTokens } from '../identity/admin-tokens.js';
import { roleAllows } from '../identity/roles.js';
import { matchAdminRoute } from './admin-routes.js';
import { BodyTooLarge } from './body.js';
import { sendJson } from './respond.js';

export interface AdminOptions {
  tokens: AdminTokens;
  /** The largest request body accepted (413 above it): limits.max_body_bytes. */
  maxBodyBytes: number;
}

export async function handleAdmin(
  core: GatewayCore,
  opts: AdminOptions,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  if (!opts.tokens.enabled)
    return sendJson(res, 404, {
      error: 'The admin API is disabled: set auth.admin_token (or auth.admin_tokens) in the config to enable it.',
    });
  const caller = opts.tokens.identify(req.headers.authorization);
  if (!caller) {
    return sendJson(
      res,
      401,
      { error: 'Unauthorized: send "Authorization: Bearer <admin token>".', code: 'unauthorized' },
      { 'www-authenticate': 'Bearer realm="gatehouse-admin"' },
    );
  }
  const url = new URL(req.url ?? '/', 'http://gatehouse');
  const rest = path.replace(/^\/api\/v1\/?/, '');
  const segments = rest === '' ? [] : rest.split('/');
  // An empty segment names nothing. It is also what is left where a client's `.` or `..` segment
  // (a tool an upstream named ".") was removed by URL parsing: `pins/s/accept/.` arrives as
  // `pins/s/accept/`, which must not be read as `pins/s/accept`, every change of the server.
  if (segments.includes(''))
    return sendJson(res, 404, {
      error: `Not found: ${path} has an empty path segment (a trailing slash, "//", or a "." or ".." removed from it).`,
      code: 'not_found',
    });
  let parts: string[];
  try {
    parts = segments.map(decodeURIComponent);
  } catch {
    return sendJson(res, 400, { error: 'Bad Request: the path is not valid percent-encoding.' });
  }
  const match = matchAdminRoute(req.method, parts);
  if (match.kind === 'none')
    return sendJson(res, 404, { error: `Not found: ${req.method} ${path}`, code: 'not_found' });
  if (match.kind === 'method')
    return sendJson(
      res,
      405,
      { error: `Method Not Allowed: use ${match.allow.join(' or ')} on ${path}.`, code: 'method_not_allowed' },
      { allow: match.allow.join(', ') },
    );
  const { route, params } = match;
  if (!roleAllows(caller.role, route.role))
    return sendJson(res, 403, {
      error: `Forbidden: ${route.method} /api/v1${route.path} needs role ${route.role}; admin token "${caller.name}" has role ${caller.role}.`,
      code: 'forbidden',
      role: caller.role,
      needed: route.role,
    });
  if (params.server !== undefined && !core.pool.has(params.server))
    return sendJson(res, 404, { error: `Unknown server "${params.server}".`, code: 'not_found' });
  try {
    await route.handle({ core, req, res, url, params, caller, maxBodyBytes: opts.maxBodyBytes });
  } catch (err) {
    if (err instanceof BodyTooLarge)
      return sendJson(res, 413, { error: `Payload Too Large: ${err.message}`, code: 'too_large' });
    throw err;
  }
}
