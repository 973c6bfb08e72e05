// How clients find out where to get a token for this gateway (JWT mode), following the MCP
// authorization specification for resource servers: the OAuth protected-resource metadata document
// (RFC 9728) and the Bearer challenges on 401 and 403 that point to it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayCore } from '../gateway/core.js';
import { SERVER_SCOPE_PREFIX, type JwtAuthenticator } from '../identity/jwt.js';
import { sendJson } from './respond.js';

export const METADATA_PATH = '/.well-known/oauth-protected-resource';

// The gateway's MCP endpoints: a client probes the metadata at the path of the endpoint it was given
// (RFC 9728 section 3.1) before it falls back to the root document.
const ENDPOINT_SUFFIX = /^\/(?:mcp(?:\/[^/]+)?|sse\/[^/]+|messages\/[^/]+)\/?$/;

/**
 * This gateway's resource identifier: the configured one, else its URL followed by /mcp. One
 * identifier covers every /mcp endpoint (clients accept a resource that is a path prefix of the
 * endpoint they use), so one token audience serves them all.
 */
export function resourceOf(jwt: JwtAuthenticator, base: string | undefined): string | undefined {
  if (jwt.config.resource) return jwt.config.resource;
  return base ? `${base.replace(/\/+$/, '')}/mcp` : undefined;
}

/** Where the metadata of the resource lives: the well-known path with the resource's path inserted. */
export function metadataUrl(jwt: JwtAuthenticator, base: string | undefined): string | undefined {
  const resource = resourceOf(jwt, base);
  if (!resource) return undefined;
  const url = new URL(resource);
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}${METADATA_PATH}${path}`;
}

export function protectedResourceMetadata(jwt: JwtAuthenticator, base: string | undefined): Record<string, unknown> {
  const { config } = jwt;
  return {
    resource: resourceOf(jwt, base),
    authorization_servers: config.authorization_servers ?? [config.issuer],
    bearer_methods_supported: ['header'],
    ...(config.scopes_supported ? { scopes_supported: config.scopes_supported } : {}),
    resource_name: 'Gatehouse',
  };
}

/** Answers `/.well-known/oauth-protected-resource` and its path-suffixed forms. */
export function serveProtectedResourceMetadata(
  core: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): void {
  const jwt = core.jwt;
  if (!jwt) {
    return sendJson(res, 404, {
      error: 'Not found: this gateway publishes protected-resource metadata only when auth.mode is jwt.',
    });
  }
  const suffix = path.slice(METADATA_PATH.length);
  const resourcePath = new URL(resourceOf(jwt, core.links.base) ?? 'http://gatehouse/').pathname.replace(/\/+$/, '');
  if (suffix !== '' && suffix !== resourcePath && !ENDPOINT_SUFFIX.test(suffix))
    return sendJson(res, 404, { error: `Not found: no protected resource at ${suffix}.` });
  // Public information that browser-based clients read across origins.
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, HEAD, OPTIONS',
    'access-control-allow-headers': '*',
  };
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors).end();
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD, OPTIONS' }).end();
    return;
  }
  sendJson(res, 200, protectedResourceMetadata(jwt, core.links.base), {
    ...cors,
    'cache-control': 'public, max-age=300',
  });
}

/**
 * The challenge of a 401 in JWT mode (RFC 6750 section 3, RFC 9728 section 5.1): where the metadata
 * is, and — when a token was presented — why it was refused. A request without credentials gets no
 * error code, as RFC 6750 asks.
 */
export function unauthorizedChallenge(
  jwt: JwtAuthenticator,
  base: string | undefined,
  reason: string,
  presented: boolean,
): string {
  return challenge({
    realm: 'gatehouse',
    resource_metadata: metadataUrl(jwt, base),
    ...(jwt.config.scopes_supported ? { scope: jwt.config.scopes_supported.join(' ') } : {}),
    ...(presented ? { error: 'invalid_token', error_description: reason } : {}),
  });
}

/** The challenge of a 403 for a server the token may not use (MCP authorization, scope challenges). */
export function forbiddenChallenge(jwt: JwtAuthenticator, base: string | undefined, server: string): string {
  const scopes = jwt.config.scopes_supported;
  const scope = `${SERVER_SCOPE_PREFIX}${server}`;
  return challenge({
    realm: 'gatehouse',
    error: 'insufficient_scope',
    // Only where the operator advertises scopes: otherwise servers come from a claim, and naming a
    // scope would send clients to ask the identity provider for one it does not know.
    ...(scopes?.includes(scope) ? { scope } : {}),
    resource_metadata: metadataUrl(jwt, base),
    error_description: `This token may not use server "${server}".`,
  });
}

function challenge(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${key}="${quoted(value)}"`);
  return `Bearer ${parts.join(', ')}`;
}

/** A quoted-string value limited to the characters RFC 6750 allows: no quotes, backslashes or controls. */
function quoted(value: string): string {
  return value.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ');
}
