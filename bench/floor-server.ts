// The floor: the SDK's recommended minimal Streamable HTTP server answering `echo` itself.
// createMcpHandler serves 2026-07-28 per request and, by default, falls back to stateless
// legacy serving for 2025-era clients. Usage: floor-server [port] [--probe-tools] (0 or absent =
// any free port; `--probe-tools` adds the pre-timing check tools, for use as a Gatehouse upstream).
// Prints `LISTENING <port>` on stdout once bound.
import { createServer } from 'node:http';
import { createMcpHandler } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createEchoServer } from './echo-tool.js';

const probeTools = process.argv.includes('--probe-tools');
const handler = createMcpHandler(() => createEchoServer('bench-floor', { probeTools }));
const node = toNodeHandler(handler);

const server = createServer((req, res) => {
  if (req.url?.split('?')[0] !== '/mcp') {
    res.writeHead(404).end();
    return;
  }
  void node(req, res);
});

const port = Number(process.argv[2] ?? 0) || 0;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`LISTENING ${bound}\n`);
});

const shutdown = (): void => {
  void handler.close().finally(() => server.close(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
