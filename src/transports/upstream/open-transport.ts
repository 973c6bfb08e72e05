// Opens the client transport for one configured upstream. The transports do the wire work
// (spawning, framing, SSE, sessions, the modern headers derived from each body); Gatehouse drives
// them at the JSON-RPC message level. Streamable HTTP goes through Gatehouse's own client on
// node:http (streamable-http.ts), which costs far less per call than the SDK's fetch-based one;
// stdio through Gatehouse's own too (stdio.ts). Only the legacy HTTP+SSE transport is the SDK's,
// and its package is loaded when such a server is first opened, not by every gateway.
import type { Transport } from '@modelcontextprotocol/client';
import type { ServerConfig } from '../../config/schema.js';
import { boundedFetch } from './bounded-fetch.js';
import { defaultEnvironment, StdioUpstreamTransport } from './stdio.js';
import { StreamableHttpClientTransport } from './streamable-http.js';

export interface OpenedTransport {
  transport: Transport;
  /** Lines the child wrote to stderr go here (stdio only). */
  onStderr?: (listener: (chunk: string) => void) => void;
}

/** An upstream Streamable HTTP session to continue rather than open (one another replica opened). */
export interface ResumedHttpSession {
  sessionId?: string;
  protocolVersion: string;
}

export async function openTransport(cfg: ServerConfig, resume?: ResumedHttpSession): Promise<OpenedTransport> {
  if (cfg.transport === 'stdio') {
    if (!cfg.command) throw new Error('A stdio server needs a command.');
    // Only the safe default environment plus what the operator configured: the gateway's own
    // secrets (admin token, grant tokens) must not leak into every child.
    const t = new StdioUpstreamTransport({
      command: cfg.command,
      ...(cfg.args ? { args: cfg.args } : {}),
      env: { ...defaultEnvironment(), ...cfg.env },
      ...(cfg.cwd ? { cwd: cfg.cwd } : {}),
    });
    return {
      transport: t,
      onStderr: (listener) => t.stderr.on('data', (c: Buffer) => listener(c.toString('utf8'))),
    };
  }
  if (!cfg.url) throw new Error('An HTTP or SSE server needs a url.');
  if (cfg.transport === 'sse') {
    const { SSEClientTransport } = await import('@modelcontextprotocol/client');
    return {
      transport: new SSEClientTransport(new URL(cfg.url), {
        requestInit: { headers: cfg.headers },
        // The SDK would read a server's answers without bound in size or time (bounded-fetch.ts).
        fetch: boundedFetch(cfg.timeout_ms),
      }),
    };
  }
  return {
    transport: new StreamableHttpClientTransport(new URL(cfg.url), {
      headers: cfg.headers,
      timeoutMs: cfg.timeout_ms,
      ...(resume?.sessionId ? { sessionId: resume.sessionId } : {}),
      ...(resume ? { protocolVersion: resume.protocolVersion } : {}),
    }),
  };
}
