// Proves that real MCP servers from npm work through Gatehouse exactly as they do directly, for a
// client of each era: @modelcontextprotocol/server-everything over stdio and in its Streamable
// HTTP mode (both legacy-only servers, so a 2026-07-28 client is bridged), and
// @modelcontextprotocol/server-memory over stdio. Each is listed and called, and its resources,
// prompts and a sampling request answered by the client pass through.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  connectClient,
  freePort,
  spawnReady,
  startParsedGateway,
  tempDir,
  type ConnectedClient,
  type Era,
  type ReadyProcess,
  type TempDir,
} from '../helpers/index.js';

const EVERYTHING = resolve('node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const MEMORY = resolve('node_modules/@modelcontextprotocol/server-memory/dist/index.js');

let gateway: Gateway;
let everythingHttp: ReadyProcess;
let dir: TempDir | undefined;

beforeAll(async () => {
  const port = await freePort();
  everythingHttp = await spawnReady({
    command: process.execPath,
    args: [EVERYTHING, 'streamableHttp'],
    env: { PORT: String(port) },
    ready: /listening on port/,
  });
  dir = tempDir('gatehouse-reference-');
  gateway = await startParsedGateway(
    {
      ...EPHEMERAL,
      servers: {
        everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] },
        'everything-http': { url: `http://127.0.0.1:${port}/mcp` },
        memory: {
          command: process.execPath,
          args: [MEMORY],
          env: { MEMORY_FILE_PATH: join(dir.path, 'memory.jsonl') },
        },
      },
    },
    { dir: dir.path },
  );
});

afterAll(async () => {
  await gateway?.close();
  await everythingHttp?.close();
  dir?.remove();
});

describe.each<Era>(['legacy', 'modern'])('real servers through the gateway, %s client', (era) => {
  const clients: ConnectedClient[] = [];
  const connect = async (server: string) => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/${server}` } });
    clients.push(c);
    return c;
  };
  afterAll(async () => {
    for (const c of clients) await c.close();
  });

  it.each(['everything', 'everything-http'])('%s: lists its tools, echoes and adds', async (server) => {
    const c = await connect(server);
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum']));
    expect(await c.callText('echo', { message: `via ${server}` })).toBe(`Echo: via ${server}`);
    expect(await c.callText('get-sum', { a: 19, b: 23 })).toMatch(/\b42\b/);
  });

  it.each(['everything', 'everything-http'])('%s: reads a resource and gets a prompt', async (server) => {
    const c = await connect(server);
    const { resources } = await c.client.listResources();
    expect(resources.length).toBeGreaterThan(0);
    const read = await c.client.readResource({ uri: resources[0]!.uri });
    expect(read.contents.length).toBeGreaterThan(0);
    const { prompts } = await c.client.listPrompts();
    const simple = prompts.find((p) => !p.arguments || p.arguments.every((a) => !a.required));
    expect(simple).toBeDefined();
    const prompt = await c.client.getPrompt({ name: simple!.name });
    expect(prompt.messages.length).toBeGreaterThan(0);
  });

  it('everything: a sampling request from the server is answered by the client', async () => {
    const c = await connect('everything');
    const tool = (await c.client.listTools()).tools.find((t) => /sampl/i.test(t.name));
    expect(tool).toBeDefined();
    const text = await c.callText(tool!.name, { prompt: 'hello', maxTokens: 20 });
    // The harness's sampling handler answers "sampled: <the prompt it was given>".
    expect(text).toContain('sampled:');
    expect(text).toContain('hello');
  });

  it('memory: creates an entity and reads it back from the graph', async () => {
    const c = await connect('memory');
    const name = `Ada-${era}`;
    await c.client.callTool({
      name: 'create_entities',
      arguments: { entities: [{ name, entityType: 'person', observations: ['wrote the first program'] }] },
    });
    const graph = await c.callText('read_graph', {});
    expect(graph).toContain(name);
    expect(graph).toContain('wrote the first program');
  });
});
