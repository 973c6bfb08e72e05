// The two protocol eras (DESIGN section 5) and the per-request envelope of the modern one.
import { isObject, metaOf, type JsonObject, type JsonRpcRequest } from './jsonrpc.js';

export type Era = 'legacy' | 'modern';

export const MODERN_PROTOCOL_VERSION = '2026-07-28';
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = [MODERN_PROTOCOL_VERSION];
/** Legacy revisions, newest first. */
export const LEGACY_PROTOCOL_VERSIONS: readonly string[] = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
export const LATEST_LEGACY_VERSION = LEGACY_PROTOCOL_VERSIONS[0]!;

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
export const META_SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
/** The keys of `_meta` that make up a request's envelope. */
export const ENVELOPE_KEYS: readonly string[] = [
  META_PROTOCOL_VERSION,
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_LOG_LEVEL,
];

/** Who Gatehouse says it is when it speaks to a server as a client (and, on /mcp, as a server). */
export const GATEWAY_CLIENT_INFO = { name: 'gatehouse', version: '0.1.0' };

/** The modern envelope (`_meta`) of a request Gatehouse sends to a server on its own account. */
export function gatewayEnvelope(): JsonObject {
  return {
    [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
    [META_CLIENT_CAPABILITIES]: {},
    [META_CLIENT_INFO]: GATEWAY_CLIENT_INFO,
  };
}

/**
 * The request methods of revision 2026-07-28; anything else does not exist there (ping, initialize,
 * logging/setLevel, resources/subscribe are gone) and is refused on every transport, before it can
 * reach a server or skip a check that only a legacy session's path makes.
 */
export const MODERN_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
  'subscriptions/listen',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
]);

/** The error for a 2026-07-28 request whose method is not one of MODERN_METHODS. */
export function notAModernMethod(method: string): string {
  return `Method not found: ${method} does not exist in protocol revision 2026-07-28.`;
}

/** Methods that exist only in the modern era. */
export const MODERN_ONLY_METHODS = new Set(['server/discover', 'subscriptions/listen']);
/** Methods whose modern results may be `input_required` (multi round-trip requests). */
export const MRTR_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

export function isModernVersion(v: unknown): v is string {
  return typeof v === 'string' && v >= MODERN_PROTOCOL_VERSION && /^\d{4}-\d{2}-\d{2}$/.test(v);
}

export interface Envelope {
  protocolVersion: string;
  clientCapabilities: JsonObject;
  clientInfo?: JsonObject;
  logLevel?: string;
}

/** The modern envelope a request carries, or undefined for a legacy request. */
export function envelopeOf(params: JsonObject | undefined): Envelope | undefined {
  const meta = metaOf(params);
  const v = meta?.[META_PROTOCOL_VERSION];
  if (typeof v !== 'string') return undefined;
  const env: Envelope = {
    protocolVersion: v,
    clientCapabilities: isObject(meta?.[META_CLIENT_CAPABILITIES])
      ? (meta![META_CLIENT_CAPABILITIES] as JsonObject)
      : {},
  };
  const info = meta?.[META_CLIENT_INFO];
  if (isObject(info)) env.clientInfo = info;
  const level = meta?.[META_LOG_LEVEL];
  if (typeof level === 'string') env.logLevel = level;
  return env;
}

/** Era of one request as its body says: an envelope claim makes it modern. */
export function eraOfRequest(req: { method: string; params?: JsonObject }): Era {
  if (envelopeOf(req.params)) return 'modern';
  return MODERN_ONLY_METHODS.has(req.method) ? 'modern' : 'legacy';
}

/** Params without the modern envelope keys (for forwarding to a legacy server). */
export function stripEnvelope(params: JsonObject | undefined): JsonObject | undefined {
  const meta = metaOf(params);
  if (!params || !meta) return params;
  const rest: JsonObject = {};
  for (const [k, v] of Object.entries(meta)) if (!ENVELOPE_KEYS.includes(k)) rest[k] = v;
  const out: JsonObject = { ...params };
  if (Object.keys(rest).length > 0) out._meta = rest;
  else delete out._meta;
  return out;
}

/** Params with a modern envelope added (for forwarding to a modern server). */
export function withEnvelope(params: JsonObject | undefined, env: Envelope): JsonObject {
  const meta: JsonObject = { ...(metaOf(params) ?? {}) };
  meta[META_PROTOCOL_VERSION] = env.protocolVersion;
  meta[META_CLIENT_CAPABILITIES] = env.clientCapabilities;
  if (env.clientInfo) meta[META_CLIENT_INFO] = env.clientInfo;
  if (env.logLevel) meta[META_LOG_LEVEL] = env.logLevel;
  return { ...(params ?? {}), _meta: meta };
}

/** The value the `Mcp-Name` header must carry for a request, if the method has one. */
export function mcpNameOf(req: Pick<JsonRpcRequest, 'method' | 'params'>): string | undefined {
  const p = req.params;
  if (!p) return undefined;
  switch (req.method) {
    case 'tools/call':
    case 'prompts/get':
      return typeof p.name === 'string' ? p.name : undefined;
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return typeof p.uri === 'string' ? p.uri : undefined;
    default:
      return undefined;
  }
}

/** Picks the legacy version to answer an `initialize` with. */
export function negotiateLegacyVersion(requested: unknown): string {
  return typeof requested === 'string' && LEGACY_PROTOCOL_VERSIONS.includes(requested)
    ? requested
    : LATEST_LEGACY_VERSION;
}
