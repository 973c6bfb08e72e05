// Reads the JSON-RPC messages a stdio upstream writes, one per line, as the SDK's own reader does,
// without running the SDK's zod message schema on the common shapes. The schema is strict at the
// top level and strips unknown keys from an error object; a message whose shape is plainly one of
// its four kinds (ids that are strings or safe integers; params without `_meta`; a result whose
// `_meta`, if any, carries a plain server info, as every 2026-07-28 result does; an error object
// with code, message and data) comes out of it as the same object with its keys in schema order.
// Those are built here directly; anything else goes through the schema itself, so what is
// accepted, rejected or changed is always exactly what the SDK would do.
// From the server package, which the gateway loads anyway (its HTTP edge uses it): the same schema.
import { parseJSONRPCMessage, STDIO_DEFAULT_MAX_BUFFER_SIZE, type JSONRPCMessage } from '@modelcontextprotocol/server';
import { isObject, isSdkRequestId, JSONRPC_REQUEST_KEYS, onlyKeys, type JsonObject } from '../../mcp/jsonrpc.js';

/**
 * An object the schema passes through as it is: params or a result without `_meta`. An own
 * `__proto__` key is left to the schema, whose copy of the object drops it.
 */
const isLooseBody = (v: unknown): boolean =>
  isObject(v) && !Object.hasOwn(v, '_meta') && !Object.hasOwn(v, '__proto__');

const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
/** The Implementation schema's string keys, in its order (its `icons` are left to the schema). */
const IMPLEMENTATION_KEYS = ['name', 'title', 'version', 'websiteUrl', 'description'] as const;

/** A server info the schema passes unchanged but for key order: its own keys, strings only. */
function plainImplementation(v: unknown): JsonObject | undefined {
  if (!isObject(v) || typeof v.name !== 'string' || typeof v.version !== 'string') return undefined;
  for (const k in v)
    if (!(IMPLEMENTATION_KEYS as readonly string[]).includes(k) || typeof v[k] !== 'string') return undefined;
  const out: JsonObject = {};
  for (const k of IMPLEMENTATION_KEYS) if (Object.hasOwn(v, k)) out[k] = v[k];
  return out;
}

/**
 * A result as the schema gives it: a loose object whose `_meta`, if present, is a loose object
 * whose server info is an Implementation. Loose objects come out with their schema's own keys
 * first, then the others in their order.
 */
function plainResult(v: unknown): JsonObject | undefined {
  if (!isObject(v) || Object.hasOwn(v, '__proto__')) return undefined;
  if (!Object.hasOwn(v, '_meta')) return v;
  const meta = v._meta;
  if (!isObject(meta) || Object.hasOwn(meta, '__proto__')) return undefined;
  let outMeta: JsonObject = meta;
  if (Object.hasOwn(meta, SERVER_INFO)) {
    const info = plainImplementation(meta[SERVER_INFO]);
    if (!info) return undefined;
    outMeta = { [SERVER_INFO]: info };
    for (const k in meta) if (k !== SERVER_INFO) outMeta[k] = meta[k];
  }
  const out: JsonObject = { _meta: outMeta };
  for (const k in v) if (k !== '_meta') out[k] = v[k];
  return out;
}

const NOTIFICATION_KEYS = ['jsonrpc', 'method', 'params'] as const;
const RESULT_KEYS = ['jsonrpc', 'id', 'result'] as const;
const ERROR_KEYS = ['jsonrpc', 'id', 'error'] as const;

/** The message as the SDK's schema would give it, or undefined when only the schema can say. */
export function plainMessage(v: JsonObject): JSONRPCMessage | undefined {
  if (v.jsonrpc !== '2.0') return undefined;
  if (typeof v.method === 'string') {
    if (v.params !== undefined && !isLooseBody(v.params)) return undefined;
    const params = v.params === undefined ? {} : { params: v.params };
    if (Object.hasOwn(v, 'id'))
      return isSdkRequestId(v.id) && onlyKeys(v, JSONRPC_REQUEST_KEYS)
        ? ({ jsonrpc: '2.0', id: v.id, method: v.method, ...params } as JSONRPCMessage)
        : undefined;
    return onlyKeys(v, NOTIFICATION_KEYS)
      ? ({ jsonrpc: '2.0', method: v.method, ...params } as JSONRPCMessage)
      : undefined;
  }
  if (Object.hasOwn(v, 'result')) {
    const result = isSdkRequestId(v.id) && onlyKeys(v, RESULT_KEYS) ? plainResult(v.result) : undefined;
    return result ? ({ jsonrpc: '2.0', id: v.id, result } as JSONRPCMessage) : undefined;
  }
  if (Object.hasOwn(v, 'error')) {
    const e = v.error;
    if (!isObject(e) || !onlyKeys(v, ERROR_KEYS)) return undefined;
    if (!Number.isSafeInteger(e.code) || typeof e.message !== 'string') return undefined;
    if (Object.hasOwn(v, 'id') && !isSdkRequestId(v.id)) return undefined;
    // Other keys of the error object are dropped, as the schema strips them.
    const error = { code: e.code, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) };
    return (Object.hasOwn(v, 'id') ? { jsonrpc: '2.0', id: v.id, error } : { jsonrpc: '2.0', error }) as JSONRPCMessage;
  }
  return undefined;
}

/** A parsed JSON value as a message, exactly as the SDK's schema gives it; throws as it does. */
export function toMessage(value: unknown): JSONRPCMessage {
  return (isObject(value) ? plainMessage(value) : undefined) ?? parseJSONRPCMessage(value);
}

/** One line of a stdio upstream as a message; throws as the SDK's `deserializeMessage` would. */
export function readMessageLine(line: string): JSONRPCMessage {
  return toMessage(JSON.parse(line));
}

/**
 * The most Gatehouse reads of one upstream message, on any transport: the SDK's stdio limit, also
 * for a Streamable HTTP response body and one SSE event, so that an upstream cannot make the
 * gateway buffer without end.
 */
export const MAX_MESSAGE_BYTES: number = STDIO_DEFAULT_MAX_BUFFER_SIZE;

/**
 * The SDK's stdio read buffer, with the same framing and limits (newline-delimited, a trailing
 * `\r` dropped, a line that is not JSON skipped, the buffer cleared and an error thrown beyond
 * its maximum size), reading each line with readMessageLine.
 */
export class MessageLineBuffer {
  private buffer: Buffer | undefined;

  constructor(private readonly maxBufferSize = MAX_MESSAGE_BYTES) {}

  append(chunk: Buffer): void {
    if ((this.buffer?.length ?? 0) + chunk.length > this.maxBufferSize) {
      this.clear();
      throw new Error(`ReadBuffer exceeded maximum size of ${this.maxBufferSize} bytes`);
    }
    this.buffer = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
  }

  readMessage(): JSONRPCMessage | null {
    while (this.buffer) {
      const index = this.buffer.indexOf('\n');
      if (index === -1) return null;
      const line = this.buffer.toString('utf8', 0, index).replace(/\r$/, '');
      this.buffer = this.buffer.subarray(index + 1);
      try {
        return readMessageLine(line);
      } catch (error) {
        if (error instanceof SyntaxError) continue;
        throw error;
      }
    }
    return null;
  }

  clear(): void {
    this.buffer = undefined;
  }
}
