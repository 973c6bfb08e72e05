// The admin JSON API (`/api/v1/...`), behind the admin token. This version serves the catalog,
// suggested policies and pins; grants, approvals and the audit log come with their features.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readCatalog } from '../catalog/catalog.js';
import { acceptPins, pinDiff } from '../catalog/pins.js';
import { suggestPolicy, suggestPolicyYaml } from '../catalog/suggest.js';
import type { GatewayCore } from '../gateway/core.js';
import { sendJson } from './respond.js';

export interface AdminOptions {
  adminToken: string | undefined;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  // Compare hashes: equal length, constant time, whatever the presented token's length.
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export async function handleAdmin(
  core: GatewayCore,
  opts: AdminOptions,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  if (!opts.adminToken)
    return sendJson(res, 404, { error: 'The admin API is disabled: set auth.admin_token in the config to enable it.' });
  if (!tokenMatches(req.headers.authorization, opts.adminToken)) {
    return sendJson(
      res,
      401,
      { error: 'Unauthorized: send "Authorization: Bearer <admin token>".' },
      { 'www-authenticate': 'Bearer realm="gatehouse-admin"' },
    );
  }
  const url = new URL(req.url ?? '/', 'http://gatehouse');
  let parts: string[];
  try {
    parts = path
      .replace(/^\/api\/v1\/?/, '')
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
  } catch {
    return sendJson(res, 400, { error: 'Bad Request: the path is not valid percent-encoding.' });
  }
  const known = (s: string | undefined) => s !== undefined && core.pool.has(s);
  if (req.method === 'GET' && parts[0] === 'catalog') {
    const server = parts[1] ?? url.searchParams.get('server') ?? undefined;
    if (server !== undefined && !known(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
    return sendJson(res, 200, { servers: await readCatalog(core.pool, server ? [server] : undefined) });
  }
  if (req.method === 'GET' && parts[0] === 'policy' && parts[1] === 'suggest' && parts.length === 3) {
    const server = parts[2]!;
    if (!known(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
    const [c] = await readCatalog(core.pool, [server]);
    if (!c?.ok) return sendJson(res, 502, { error: `Server "${server}" could not be read: ${c?.error}` });
    return sendJson(res, 200, { server, policy: suggestPolicy(c.tools), yaml: suggestPolicyYaml(server, c.tools) });
  }
  if (parts[0] === 'pins') {
    const server = parts[1];
    if (server !== undefined && !known(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
    if (req.method === 'GET' && parts.length <= 2)
      return sendJson(res, 200, { pins: await core.store.listPins(server) });
    if (req.method === 'GET' && parts[2] === 'diff') {
      const changed = (await core.store.listPins(server)).filter((p) => p.pending);
      return sendJson(res, 200, {
        changes: changed.map((p) => ({ server: p.server, tool: p.tool, diff: pinDiff(p) })),
      });
    }
    if (req.method === 'POST' && server && parts[2] === 'accept') {
      const accepted = await acceptPins(core.store, server, parts[3]);
      if (accepted.length > 0) core.pool.announce(server, 'notifications/tools/list_changed');
      return sendJson(res, accepted.length > 0 ? 200 : 404, { accepted: accepted.map((p) => p.tool) });
    }
  }
  sendJson(res, 404, { error: `Not found: ${req.method} ${path}` });
}
