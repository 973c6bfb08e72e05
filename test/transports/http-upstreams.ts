// Real Streamable HTTP servers for the upstream transport tests: the SDK's sessionful legacy
// server (NodeStreamableHTTPServerTransport with an event store, so it primes and resumes its
// streams) and its modern per-request handler (createMcpHandler), both on node:http and both
// recording every request's method and headers; and a bare node:http server for the answers no
// SDK server gives (errors, redirects, hangs).
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import { McpServer, createMcpHandler, type EventStore, type JSONRPCMessage } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { listenLoopback } from '../helpers/http-server.js';
import { sleep } from '../helpers/wait.js';

export interface SeenRequest {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestServer {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

export interface LegacyServer extends TestServer {
  /** Ends every session on the server side, as a server restart would. */
  forgetSessions(): Promise<void>;
  /** Tells every session's client that the tool list changed (a server-initiated message). */
  toolListChanged(): Promise<void>;
  /** Ids of tool calls whose abort signal fired on the server. */
  cancelled: string[];
}

const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });

function tools(server: McpServer, cancelled: string[]): McpServer {
  server.registerTool('echo', { inputSchema: z.object({ message: z.string() }) }, ({ message }) => text(message));
  server.registerTool('progress', { inputSchema: z.object({ steps: z.number() }) }, async ({ steps }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (let i = 1; i <= steps && token !== undefined; i++)
      await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i } });
    return text('done');
  });
  // Closes its own response stream mid-call, so that the client must resume it (SSE polling).
  server.registerTool('poll', { inputSchema: z.object({}) }, async (_args, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    if (token !== undefined)
      await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 1 } });
    ctx.http?.closeSSE?.();
    await sleep(150);
    if (token !== undefined)
      await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 2 } });
    return text('polled');
  });
  server.registerTool('wait', { inputSchema: z.object({ tag: z.string() }) }, async ({ tag }, ctx) => {
    await new Promise<void>((resolve) => ctx.mcpReq.signal.addEventListener('abort', () => resolve()));
    cancelled.push(tag);
    return text('cancelled');
  });
  return server;
}

function record(seen: SeenRequest[], req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', headers: req.headers, body });
      resolve(body);
    });
  });
}

/** Listens on a free loopback port: the server's /mcp URL, and how to close it. */
async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  const { origin, close } = await listenLoopback(server);
  return { url: `${origin}/mcp`, close };
}

/** Keeps every event, so that a stream closed mid-call can be resumed from any of them. */
class MemoryEventStore implements EventStore {
  private readonly events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  async storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    const id = `${stream}_${this.events.length}`;
    this.events.push({ id, stream, message });
    return id;
  }
  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (id: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const at = this.events.findIndex((e) => e.id === lastEventId);
    const stream = this.events[at]?.stream ?? '';
    for (const e of this.events.slice(at + 1)) if (e.stream === stream) await send(e.id, e.message);
    return stream;
  }
}

/** The SDK's sessionful 2025 server: one transport and server per session, resumable streams. */
export async function startLegacyServer(): Promise<LegacyServer> {
  const seen: SeenRequest[] = [];
  const cancelled: string[] = [];
  const sessions = new Map<string, { transport: NodeStreamableHTTPServerTransport; server: McpServer }>();
  const http = createServer((req, res) => {
    void (async () => {
      const raw = await record(seen, req);
      const body: unknown = raw ? JSON.parse(raw) : undefined;
      const id = req.headers['mcp-session-id'];
      if (typeof id === 'string') {
        const s = sessions.get(id);
        if (!s) return jsonError(res, 404, 'Session not found');
        return s.transport.handleRequest(req, res, body);
      }
      const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: new MemoryEventStore(),
        retryInterval: 20,
        onsessioninitialized: (sid) => void sessions.set(sid, { transport, server }),
      });
      const server = tools(
        new McpServer({ name: 'legacy', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } }),
        cancelled,
      );
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })();
  });
  const { url, close } = await listen(http);
  return {
    url,
    seen,
    cancelled,
    close,
    forgetSessions: async () => {
      for (const s of sessions.values()) await s.transport.close();
      sessions.clear();
    },
    toolListChanged: async () => {
      for (const s of sessions.values()) await s.server.sendToolListChanged();
    },
  };
}

/** The SDK's 2026-07-28 handler: a fresh server per request, no sessions. */
export async function startModernServer(): Promise<TestServer & { cancelled: string[] }> {
  const seen: SeenRequest[] = [];
  const cancelled: string[] = [];
  const handler = toNodeHandler(
    createMcpHandler(() => tools(new McpServer({ name: 'modern', version: '1.0.0' }), cancelled), { legacy: 'reject' }),
  );
  const http = createServer((req, res) => {
    void record(seen, req).then((raw) => handler(req, res, raw ? JSON.parse(raw) : undefined));
  });
  const { url, close } = await listen(http);
  return { url, seen, cancelled, close };
}

/** A bare server: `answer` decides every response from the request and its body. */
export async function startRawServer(
  answer: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<TestServer & { server: Server }> {
  const seen: SeenRequest[] = [];
  const http = createServer((req, res) => void record(seen, req).then((body) => answer(req, res, body)));
  const { url, close } = await listen(http);
  return { url, seen, server: http, close };
}

function jsonError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}
