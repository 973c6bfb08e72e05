// The one place HTTP-edge failures become responses: a status and, for MCP paths, a JSON-RPC
// error body that says what was wrong.
import type { ServerResponse } from 'node:http';
import { ErrorCode, errorResponse, type JsonRpcId } from '../mcp/jsonrpc.js';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  id: JsonRpcId | null = null,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, errorResponse(id, code, message), headers);
}

/**
 * Decodes a POSTed JSON-RPC body. A single message only: batches were removed in 2025-06-18 and
 * no current client sends them. Answers the 400 itself and returns undefined when the body is bad.
 */
export function decodeJsonBody(res: ServerResponse, raw: string, contentType?: string): { value: unknown } | undefined {
  // A body that says it is something else is not read as JSON-RPC (a form post from a web page,
  // say); a missing Content-Type is tolerated, as lenient peers omit it.
  const media = contentType?.split(';')[0]!.trim().toLowerCase();
  if (media && media !== 'application/json' && !media.endsWith('+json')) {
    sendRpcError(
      res,
      415,
      ErrorCode.InvalidRequest,
      `Unsupported Media Type: ${media}; MCP messages are POSTed as application/json.`,
    );
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    sendRpcError(res, 400, ErrorCode.ParseError, 'Parse error: the body is not valid JSON.');
    return undefined;
  }
  if (Array.isArray(value)) {
    sendRpcError(
      res,
      400,
      ErrorCode.InvalidRequest,
      'JSON-RPC batches are not supported: send one message per request.',
    );
    return undefined;
  }
  return { value };
}
