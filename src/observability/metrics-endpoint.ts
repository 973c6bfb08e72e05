// `GET /metrics`: the Prometheus text format. Metrics name every server and tool and show who
// calls how often, so they are not public: when the config sets admin tokens, a scrape must
// present one — any role will do, viewer is enough (Prometheus sends it with `authorization: {
// credentials_file: ... }`); without any, metrics are served only to a gateway listening on
// loopback, where the Host check already keeps other machines and rebinding pages out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminTokens } from '../identity/admin-tokens.js';
import type { GatewayMetrics } from './metrics.js';

export interface MetricsAccess {
  /** The admin tokens (auth.admin_token, auth.admin_tokens); the same check as the admin API's. */
  admin: AdminTokens;
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
  if (access.admin.enabled) {
    if (!access.admin.identify(req.headers.authorization))
      return plain(res, 401, 'Unauthorized: send "Authorization: Bearer <admin token>".\n', {
        'www-authenticate': 'Bearer realm="gatehouse-admin"',
      });
  } else if (!access.loopbackOnly) {
    return plain(
      res,
      403,
      'Forbidden: /metrics on a non-loopback address needs an admin token in the config (auth.admin_token, or a viewer in auth.admin_tokens); scrape with that token.\n',
    );
  }
  const { contentType, body } = await metrics.render();
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(text);
}
