// The one place HTTP-edge failures become responses: a status and, for MCP paths, a JSON-RPC
// error body that says what was wrong.
import type { ServerResponse } from 'node:http';
import { errorResponse, type JsonRpcId } from '../mcp/jsonrpc.js';

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
