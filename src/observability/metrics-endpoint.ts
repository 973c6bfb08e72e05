// `GET /metrics`: the Prometheus text format. Metrics name every server and tool and show who
// calls how often, so they are not public: when the config sets an admin token, a scrape must
// present it (Prometheus sends it with `authorization: { credentials_file: ... }`); without one,
// metrics are served only to a gateway listening on loopback, where the Host check already keeps
// other machines and rebinding pages out.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayMetrics } from './metrics.js';

export interface MetricsAccess {
  adminToken?: string;
  /** The gateway listens on a loopback address only. */
  loopbackOnly: boolean;
}

export async function serveMetrics(
  metrics: GatewayMetrics,
  access: MetricsAccess,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (access.adminToken !== undefined) {
    if (!bearerMatches(req.headers.authorization, access.adminToken))
      return plain(res, 401, 'Unauthorized: send "Authorization: Bearer <admin token>".\n', {
        'www-authenticate': 'Bearer realm="gatehouse-admin"',
      });
  } else if (!access.loopbackOnly) {
    return plain(
      res,
      403,
      'Forbidden: /metrics on a non-loopback address needs auth.admin_token in the config; scrape with that token.\n',
    );
  }
  const { contentType, body } = await metrics.render();
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  // Hashes have equal length, so the comparison takes the same time whatever was presented.
  const presented = createHash('sha256').update(m[1]!).digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(presented, expected);
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(text);
}
