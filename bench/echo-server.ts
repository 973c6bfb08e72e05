// Minimal stdio MCP server with one tool, `echo {message}`. Serves both protocol eras:
// serveStdio pins a 2025-era instance on an `initialize` opening and a 2026-07-28 instance
// on a `server/discover` opening, from the same factory.
// `--probe-tools` also registers the tools the pre-timing policy checks call (see echo-tool.ts).
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { createEchoServer } from './echo-tool.js';

const probeTools = process.argv.includes('--probe-tools');
serveStdio(() => createEchoServer('bench-echo', { probeTools }));
