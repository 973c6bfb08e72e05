// JSON-RPC 2.0 as MCP uses it. Messages we relay are parsed loosely: unknown fields are kept,
// because an over-strict schema rejects valid peers. Only the envelope shape is checked here.

export type JsonRpcId = string | number;
export type JsonObject = Record<string, unknown>;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: JsonObject;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: JsonObject;
}

export interface JsonRpcResult {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: JsonObject;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcError {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcResult | JsonRpcError;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** JSON-RPC and MCP error codes that Gatehouse emits. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** MCP: the HTTP headers of a 2026-07-28 request disagree with its body. */
  HeaderMismatch: -32020,
  /** MCP: the client did not declare a capability the request needs. */
  MissingClientCapability: -32021,
  /** MCP: the requested protocol version is not supported. */
  UnsupportedProtocolVersion: -32022,
  /** MCP: resource not found. */
  ResourceNotFound: -32002,
  /** MCP: the call needs URL elicitations first; `data.elicitations` lists them. */
  UrlElicitationRequired: -32042,
  /** MCP: the server cannot be reached or answered with a transport failure. */
  ConnectionClosed: -32000,
  RequestTimeout: -32001,
} as const;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every own key of `o` is one of `allowed`. */
export function onlyKeys(o: JsonObject, allowed: readonly string[]): boolean {
  for (const k in o) if (!allowed.includes(k)) return false;
  return true;
}

/** The keys a JSON-RPC request may have. */
export const JSONRPC_REQUEST_KEYS: readonly string[] = ['jsonrpc', 'id', 'method', 'params'];

/** An id the SDK's schema accepts as it is: a string or a safe integer. */
export function isSdkRequestId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return 'method' in m && 'id' in m && m.id !== undefined;
}

export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return 'method' in m && !('id' in m && m.id !== undefined);
}

export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !('method' in m) && ('result' in m || 'error' in m);
}

export function isErrorResponse(m: JsonRpcMessage): m is JsonRpcError {
  return isResponse(m) && 'error' in m;
}

export type ParseOutcome =
  { ok: true; message: JsonRpcMessage } | { ok: false; error: JsonRpcErrorObject; id: JsonRpcId | null };

/**
 * Checks one decoded JSON value against the JSON-RPC envelope and returns a fresh object that
 * holds only the envelope's fields (plus the params/result/error as given). The copy is what gets
 * forwarded, so stray top-level fields of a suspicious message never reach a server.
 */
export function parseMessage(value: unknown): ParseOutcome {
  if (!isObject(value)) return invalid(null, 'A JSON-RPC message must be an object.');
  const rawId = value.id;
  const id = isId(rawId) ? rawId : null;
  if (value.jsonrpc !== '2.0') return invalid(id, 'The "jsonrpc" member must be exactly "2.0".');
  if ('method' in value) {
    if (typeof value.method !== 'string' || value.method.length === 0)
      return invalid(id, 'The "method" member must be a non-empty string.');
    if (value.params !== undefined && !isObject(value.params))
      return invalid(id, 'The "params" member must be an object.');
    if ('id' in value && rawId !== undefined) {
      if (!isId(rawId)) return invalid(null, 'The "id" member must be a string or a number.');
      const req: JsonRpcRequest = { jsonrpc: '2.0', id: rawId, method: value.method };
      if (value.params !== undefined) req.params = value.params as JsonObject;
      return { ok: true, message: req };
    }
    const note: JsonRpcNotification = { jsonrpc: '2.0', method: value.method };
    if (value.params !== undefined) note.params = value.params as JsonObject;
    return { ok: true, message: note };
  }
  if ('result' in value) {
    if (!isId(rawId)) return invalid(null, 'A response must carry the "id" of its request.');
    if (!isObject(value.result)) return invalid(id, 'The "result" member must be an object.');
    return { ok: true, message: { jsonrpc: '2.0', id: rawId, result: value.result } };
  }
  if ('error' in value) {
    const err = value.error;
    if (!isObject(err) || typeof err.code !== 'number' || typeof err.message !== 'string') {
      return invalid(id, 'The "error" member must have a numeric "code" and a string "message".');
    }
    const eo: JsonRpcErrorObject = { code: err.code, message: err.message };
    if (err.data !== undefined) eo.data = err.data;
    return { ok: true, message: { jsonrpc: '2.0', id: isId(rawId) ? rawId : null, error: eo } };
  }
  return invalid(id, 'A JSON-RPC message needs "method", "result" or "error".');
}

/**
 * parseMessage for what a client sends. A number beyond the range of a double parses as Infinity,
 * which the policy would decide on and which re-serialises as null: what was decided would not be
 * what is forwarded, so such a message is refused.
 */
export function parseClientMessage(value: unknown): ParseOutcome {
  const parsed = parseMessage(value);
  if (!parsed.ok || !('params' in parsed.message) || !hasNonFiniteNumber(parsed.message.params)) return parsed;
  const id = 'id' in parsed.message ? parsed.message.id : null;
  return invalid(id, 'A number in the message is out of range (larger than a double can hold).');
}

/** Whether a decoded JSON value holds ±Infinity anywhere; iterative, so deep nesting is safe. */
function hasNonFiniteNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true;
    } else if (typeof v === 'object' && v !== null) {
      for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push(child);
    }
  }
  return false;
}

function invalid(id: JsonRpcId | null, message: string): ParseOutcome {
  return { ok: false, id, error: { code: ErrorCode.InvalidRequest, message } };
}

export function errorResponse(id: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcError {
  const error: JsonRpcErrorObject = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error };
}

export function resultResponse(id: JsonRpcId, result: JsonObject): JsonRpcResult {
  return { jsonrpc: '2.0', id, result };
}

/** The `_meta` object of a request's or notification's params, if any. */
export function metaOf(params: JsonObject | undefined): JsonObject | undefined {
  const meta = params?._meta;
  return isObject(meta) ? meta : undefined;
}
