// Loopback HTTP servers for tests: listen on a free port, and close without waiting for the
// keep-alive connections a client (the gateway among them) holds open. Also a real Streamable HTTP
// MCP server on one, for the tests that need an upstream of their own making.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler } from '@modelcontextprotocol/server';

export interface Listening {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  close(): Promise<void>;
}

export async function listenLoopback(server: Server): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A Streamable HTTP MCP server for both eras at `<origin>/mcp`, built by the SDK's handler from
 * `makeServer`; `onRequest` sees every request before it is handled.
 */
export async function serveMcp(
  makeServer: Parameters<typeof createMcpHandler>[0],
  onRequest: (req: IncomingMessage) => void = () => undefined,
): Promise<{ url: string; close(): Promise<void> }> {
  const node = toNodeHandler(createMcpHandler(makeServer));
  const http = createServer((req, res) => {
    onRequest(req);
    void Promise.resolve(node(req, res)).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const { origin, close } = await listenLoopback(http);
  return { url: `${origin}/mcp`, close };
}
