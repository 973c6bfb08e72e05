// The one tool every benchmark upstream serves: `echo {message}` returns the message as text.
// With `probeTools`, two more tools with the same behaviour, used only by the checks that run
// before timing (a policy must deny `probe_denied` and rate-limit `probe_limited`); they are
// never timed.
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

/** Tools registered only with `probeTools`: the policy cases list one with a tiny limit and leave the other out. */
export const PROBE_TOOLS = ['probe_denied', 'probe_limited'] as const;

export function createEchoServer(name: string, options: { probeTools?: boolean } = {}): McpServer {
  const server = new McpServer({ name, version: '1.0.0' }, { capabilities: { tools: {} } });
  const tools = options.probeTools ? ['echo', ...PROBE_TOOLS] : ['echo'];
  for (const tool of tools) {
    server.registerTool(
      tool,
      {
        description: tool === 'echo' ? 'Echo the message back.' : 'Echo the message back (pre-timing checks only).',
        inputSchema: z.object({ message: z.string() }),
      },
      async ({ message }) => ({ content: [{ type: 'text', text: message }] }),
    );
  }
  return server;
}
