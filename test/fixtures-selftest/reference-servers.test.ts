// Proves that the reference MCP servers from npm that gateway tests put behind the gateway start
// and answer our SDK client: server-everything in each of its three transports (chosen by its first
// argument: `stdio`, `streamableHttp` or `sse`; the HTTP ones listen on $PORT, at /mcp and /sse)
// and server-memory over stdio (its file chosen by $MEMORY_FILE_PATH). Both are built on the v1
// SDK and speak only the 2025 era: they answer a modern server/discover probe with -32601 and a
// pinned modern client is refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  StdioPeer,
  connectClient,
  freePort,
  modernRequest,
  spawnReady,
  type ConnectedClient,
  type ReadyProcess,
} from '../helpers/index.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const MEMORY = require.resolve('@modelcontextprotocol/server-memory/dist/index.js');

describe('server-everything', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  const track = (c: ConnectedClient): ConnectedClient => {
    cleanup.push(() => c.close());
    return c;
  };
  const listen = async (
    mode: 'streamableHttp' | 'sse',
    ready: RegExp,
  ): Promise<{ port: number; proc: ReadyProcess }> => {
    const port = await freePort();
    const proc = await spawnReady({
      command: process.execPath,
      args: [EVERYTHING, mode],
      env: { PORT: String(port) },
      ready,
    });
    cleanup.push(() => proc.close());
    return { port, proc };
  };

  it('over stdio: lists its tools and echoes', async () => {
    const c = track(
      await connectClient({
        era: 'legacy',
        downstream: { kind: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'] },
      }),
    );
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum']));
    expect(await c.callText('echo', { message: 'over stdio' })).toBe('Echo: over stdio');
  });

  it('over Streamable HTTP (sessionful, 2025): lists its tools and adds', async () => {
    const { port } = await listen('streamableHttp', /listening on port/);
    const c = track(
      await connectClient({ era: 'legacy', downstream: { kind: 'http', url: `http://127.0.0.1:${port}/mcp` } }),
    );
    expect((await c.client.listTools()).tools.map((t) => t.name)).toContain('get-sum');
    expect(await c.callText('get-sum', { a: 19, b: 23 })).toMatch(/\b42\b/);
  });

  it('over HTTP+SSE: lists its tools and echoes', async () => {
    const { port } = await listen('sse', /running on port/);
    const c = track(
      await connectClient({ era: 'legacy', downstream: { kind: 'sse', url: `http://127.0.0.1:${port}/sse` } }),
    );
    expect((await c.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(await c.callText('echo', { message: 'over sse' })).toBe('Echo: over sse');
  });

  it('answers a modern server/discover probe with -32601, then accepts initialize', async () => {
    const peer = StdioPeer.spawn(process.execPath, [EVERYTHING, 'stdio']);
    cleanup.push(() => peer.close());
    peer.send(modernRequest(1, 'server/discover'));
    expect(await peer.response(1)).toMatchObject({ error: { code: -32601 } });
    peer.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
    });
    expect(await peer.response(2)).toMatchObject({
      result: { protocolVersion: '2025-11-25', serverInfo: { name: 'mcp-servers/everything' } },
    });
  });
});

describe('server-memory over stdio', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-memory-'));
  let c: ConnectedClient | undefined;
  afterAll(async () => {
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists its knowledge-graph tools and stores an entity that read_graph returns', async () => {
    c = await connectClient({
      era: 'legacy',
      downstream: {
        kind: 'stdio',
        command: process.execPath,
        args: [MEMORY],
        env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') },
      },
    });
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['create_entities', 'read_graph', 'delete_entities']));
    await c.client.callTool({
      name: 'create_entities',
      arguments: { entities: [{ name: 'Ada', entityType: 'person', observations: ['wrote the first program'] }] },
    });
    expect(await c.callText('read_graph')).toContain('wrote the first program');
  });

  it('refuses a client pinned to the modern era', async () => {
    await expect(
      connectClient({
        era: 'modern',
        downstream: {
          kind: 'stdio',
          command: process.execPath,
          args: [MEMORY],
          env: { MEMORY_FILE_PATH: join(dir, 'm2.jsonl') },
        },
      }),
    ).rejects.toThrow(/did not offer pinned protocol version/);
  });
});
