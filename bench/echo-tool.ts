// The one tool every benchmark upstream serves: `echo {message}` returns the message as text.
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

export function createEchoServer(name: string): McpServer {
  const server = new McpServer({ name, version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool(
    'echo',
    {
      description: 'Echo the message back.',
      inputSchema: z.object({ message: z.string() }),
    },
    async ({ message }) => ({ content: [{ type: 'text', text: message }] }),
  );
  return server;
}
