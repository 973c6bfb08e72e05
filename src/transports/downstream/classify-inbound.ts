// The era classification of every POST to the Streamable HTTP edge, as the SDK's
// classifyInboundRequest gives it, without running the SDK's zod schemas on the common shapes.
// The SDK tests a request body against three strict schemas (result, error, request) and, for a
// 2026-07-28 request, its whole `_meta` envelope against another: about 27 µs a call on a gateway
// that answers one call at a time, the most any single step of the edge cost.
//
// Two shapes are classified here, and only when the body is plainly a request the SDK's schema
// accepts (keys from jsonrpc, id, method and params; jsonrpc "2.0"; an id that is a string or a
// safe integer; params and its `_meta`, if any, plain objects; a progress token, if any, a string
// or a safe integer; no related-task key and no own `__proto__`); a method other than initialize:
// - a request with no envelope claim and no 2026-07-28 MCP-Protocol-Version header: legacy;
// - a request whose envelope the SDK has already found valid, and whose headers agree with it:
//   modern. An envelope's verdict depends on nothing else, so it is kept, keyed by the JSON of the
//   envelope keys the SDK's schema reads (the progress token's type is checked above).
// Everything else (initialize, notifications, responses, batches, every refusal, an envelope over
// 8 KiB) goes to the SDK itself, so what is accepted or refused, and with which error, is always
// exactly what it does. Bodies are what JSON.parse made of the request: plain data, whose JSON is
// the whole of it.
// test/transports/classify-inbound.test.ts compares the two on generated requests.
import {
  classifyInboundRequest,
  type InboundClassificationOutcome,
  type InboundHttpRequest,
  type JSONRPCRequest,
} from '@modelcontextprotocol/server';
import { isObject, isSdkRequestId, JSONRPC_REQUEST_KEYS, onlyKeys, type JsonObject } from '../../mcp/jsonrpc.js';
import { ENVELOPE_KEYS, META_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION } from '../../mcp/era.js';
import { remember } from '../../util/memo.js';

const RELATED_TASK = 'io.modelcontextprotocol/related-task';
/** Envelopes remembered at most; a client sends the same one on every request. */
const MAX_ENVELOPES = 256;
/**
 * The longest envelope (as JSON) remembered: a real one is a few hundred bytes. A longer one is
 * left to the SDK, so that the memo holds at most 256 × 8 KiB whatever clients send.
 */
const MAX_ENVELOPE_CHARS = 8 * 1024;

const hasOwnProto = (o: object): boolean => Object.hasOwn(o, '__proto__');

/** HTTP optional whitespace (spaces and tabs) trimmed from both ends, as the SDK does. */
function stripOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === ' ' || value[start] === '\t')) start++;
  while (end > start && (value[end - 1] === ' ' || value[end - 1] === '\t')) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** The `_meta` of a request the SDK's JSONRPCRequestSchema accepts as it is; else undefined. */
function plainRequest(body: unknown): { body: JsonObject; meta: JsonObject | undefined } | undefined {
  if (!isObject(body) || hasOwnProto(body)) return undefined;
  if (!onlyKeys(body, JSONRPC_REQUEST_KEYS)) return undefined;
  if (body.jsonrpc !== '2.0' || typeof body.method !== 'string' || !isSdkRequestId(body.id)) return undefined;
  if (body.params === undefined) return { body, meta: undefined };
  const params = body.params;
  if (!isObject(params) || hasOwnProto(params)) return undefined;
  const meta = params._meta;
  if (meta === undefined) return { body, meta: undefined };
  if (!isObject(meta) || hasOwnProto(meta) || Object.hasOwn(meta, RELATED_TASK)) return undefined;
  if (meta.progressToken !== undefined && !isSdkRequestId(meta.progressToken)) return undefined;
  return { body, meta };
}

const envelopes = new Map<string, boolean>();

/**
 * Whether the SDK finds this envelope valid, asked once per distinct envelope; undefined when the
 * envelope is too long or too deep to key by its JSON (the SDK decides such a request itself).
 * The SDK's envelope schema checks these four keys (two of them required) and the progress token,
 * and lets every other key of `_meta` through unread: a trace context or a token that changes with
 * every request does not change the verdict, so it is not part of the key.
 */
function envelopeValid(meta: JsonObject): boolean | undefined {
  const rest: JsonObject = {};
  for (const k of ENVELOPE_KEYS) if (Object.hasOwn(meta, k)) rest[k] = meta[k];
  let key: string;
  try {
    key = JSON.stringify(rest);
  } catch {
    return undefined; // nested deeper than the stack allows
  }
  if (key.length > MAX_ENVELOPE_CHARS) return undefined;
  // A bare request carrying only this envelope: the SDK refuses it only for the envelope.
  return remember(
    envelopes,
    MAX_ENVELOPES,
    key,
    () => {
      const probe = { jsonrpc: '2.0', id: 0, method: 'tools/list', params: { _meta: rest } };
      return classifyInboundRequest({ httpMethod: 'POST', body: probe }).kind === 'modern';
    },
    MAX_ENVELOPE_CHARS,
  );
}

/** The common shapes' classification, or undefined when the SDK must decide. */
export function classifyPlain(request: InboundHttpRequest): InboundClassificationOutcome | undefined {
  if (request.httpMethod !== 'POST') return undefined;
  const plain = plainRequest(request.body);
  if (!plain || plain.body.method === 'initialize') return undefined;
  const version = request.protocolVersionHeader === undefined ? undefined : stripOws(request.protocolVersionHeader);
  const headerModern = version !== undefined && version >= MODERN_PROTOCOL_VERSION;
  const meta = plain.meta;
  if (meta === undefined || !(META_PROTOCOL_VERSION in meta)) {
    if (headerModern) return undefined;
    return { kind: 'legacy', reason: 'no-claim', ...(version !== undefined && { requestedVersion: version }) };
  }
  const claimed = meta[META_PROTOCOL_VERSION];
  if (typeof claimed !== 'string' || envelopeValid(meta) !== true) return undefined;
  if (version !== undefined && version !== claimed) return undefined;
  const methodHeader = request.mcpMethodHeader === undefined ? undefined : stripOws(request.mcpMethodHeader);
  if (methodHeader !== undefined && methodHeader !== plain.body.method) return undefined;
  return {
    kind: 'modern',
    messageKind: 'request',
    message: plain.body as unknown as JSONRPCRequest,
    classification: { era: claimed >= MODERN_PROTOCOL_VERSION ? 'modern' : 'legacy', revision: claimed },
  };
}

/** Exactly classifyInboundRequest(request), at a fraction of its cost on the common shapes. */
export function classifyInbound(request: InboundHttpRequest): InboundClassificationOutcome {
  return classifyPlain(request) ?? classifyInboundRequest(request);
}
