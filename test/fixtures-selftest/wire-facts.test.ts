// Proves, on the raw wire with no SDK client in between, the behaviours of the fixture server (that
// is, of the MCP SDK v2 serving entries it is built on) that a relay between the two eras has to
// respect: which headers and status codes the modern HTTP entry demands and returns, how
// input_required rounds and subscriptions/listen streams look, how legacy sessions and their GET
// stream behave, how each stdio posture answers the other era's opening, and that an SDK client
// pinned to the wrong era is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCEPT_BOTH,
  MODERN_VERSION,
  StdioPeer,
  connectClient,
  featureServerCommand,
  modernRequest,
  openStream,
  post,
  postModern,
  spawnFixture,
  type JsonObject,
  type SpawnedFixture,
} from '../helpers/index.js';

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const initialize = (id: number, capabilities: JsonObject = {}): JsonObject => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 'wire-test', version: '1.0.0' } },
});
const errorOf = (m: JsonObject | undefined): { code?: number; message?: string; data?: JsonObject } =>
  (m?.['error'] ?? {}) as { code?: number; message?: string; data?: JsonObject };
const resultOf = (m: JsonObject | undefined): JsonObject => (m?.['result'] ?? {}) as JsonObject;

describe('modern Streamable HTTP (createMcpHandler, legacy: reject)', () => {
  let fixture: SpawnedFixture;
  let url: string;
  beforeAll(async () => {
    fixture = await spawnFixture({ transport: 'http', era: 'modern' });
    url = fixture.url!;
  });
  afterAll(() => fixture.close());

  it('answers a request whose headers agree with its body as JSON, without a session id', async () => {
    const res = await postModern(url, modernRequest(1, 'tools/list'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    const result = resultOf(res.messages[0]);
    expect(result['resultType']).toBe('complete');
    expect(result['cacheScope']).toBe('private');
    expect(result['ttlMs']).toBe(0);
    expect((result['_meta'] as JsonObject)['io.modelcontextprotocol/serverInfo']).toEqual({
      name: 'feature-server',
      version: '1.0.0',
    });
  });

  it('refuses with 400 / -32020 when MCP-Protocol-Version, Mcp-Method or Mcp-Name is missing or disagrees', async () => {
    const list = modernRequest(1, 'tools/list');
    const call = modernRequest(2, 'tools/call', { name: 'echo', arguments: { message: 'x' } });
    const cases = [
      post(url, list, { 'mcp-method': 'tools/list' }),
      post(url, list, { 'mcp-protocol-version': MODERN_VERSION }),
      post(url, list, { 'mcp-protocol-version': MODERN_VERSION, 'mcp-method': 'prompts/list' }),
      post(url, call, { 'mcp-protocol-version': MODERN_VERSION, 'mcp-method': 'tools/call' }),
      post(url, call, { 'mcp-protocol-version': MODERN_VERSION, 'mcp-method': 'tools/call', 'mcp-name': 'add' }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.status).toBe(400);
      expect(errorOf(res.messages[0]).code).toBe(-32020);
    }
  });

  it('refuses a 2025 initialize with 400 / -32022 naming the supported revision, and GET with 405', async () => {
    const res = await post(url, initialize(1));
    expect(res.status).toBe(400);
    expect(errorOf(res.messages[0])).toMatchObject({
      code: -32022,
      data: { supported: [MODERN_VERSION], requested: '2025-11-25' },
    });
    const get = await fetch(url, { headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(405);
    await get.body?.cancel();
  });

  it('acknowledges a notification with 202 and no body', async () => {
    const meta = (modernRequest(0, 'unused')['params'] as JsonObject)['_meta'];
    const note = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 99, _meta: meta } };
    const res = await post(url, note, {
      'mcp-protocol-version': MODERN_VERSION,
      'mcp-method': 'notifications/cancelled',
    });
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
  });

  it('asks for input with an input_required result, and the retry carries inputResponses and requestState', async () => {
    const caps = { elicitation: { form: {} } };
    const first = await postModern(url, modernRequest(1, 'tools/call', { name: 'ask_name', arguments: {} }, caps));
    const ask = resultOf(first.messages[0]);
    expect(ask['resultType']).toBe('input_required');
    expect(ask['requestState']).toBe('ask_name:1');
    expect((ask['inputRequests'] as JsonObject)['name']).toMatchObject({
      method: 'elicitation/create',
      params: { mode: 'form' },
    });
    const retry = modernRequest(
      2,
      'tools/call',
      {
        name: 'ask_name',
        arguments: {},
        inputResponses: { name: { action: 'accept', content: { name: 'Bob' } } },
        requestState: 'ask_name:1',
      },
      caps,
    );
    const done = resultOf((await postModern(url, retry)).messages[0]);
    expect(done['resultType']).toBe('complete');
    expect(done['content']).toEqual([{ type: 'text', text: 'hello Bob' }]);
  });

  it('refuses (-32021) an input request that the envelope capabilities do not declare', async () => {
    const res = await postModern(url, modernRequest(1, 'tools/call', { name: 'ask_name', arguments: {} }, {}));
    expect(errorOf(res.messages[0])).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { elicitation: { form: {} } } },
    });
  });

  it('upgrades a call that emits progress to an SSE response: progress events, then the result', async () => {
    const call = modernRequest(1, 'tools/call', {
      name: 'progress',
      arguments: { steps: 2 },
      _meta: { progressToken: 't1' },
    });
    const res = await postModern(url, call);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(res.messages.map((m) => m['method'] ?? 'result')).toEqual([
      'notifications/progress',
      'notifications/progress',
      'result',
    ]);
    expect((res.messages[0]!['params'] as JsonObject)['progressToken']).toBe('t1');
  });

  it('serves subscriptions/listen as an SSE stream: an acknowledgement, then stamped change notifications', async () => {
    const listen = modernRequest('L1', 'subscriptions/listen', {
      notifications: { toolsListChanged: true, resourceSubscriptions: ['fixture://hello'] },
    });
    const stream = await openStream(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: ACCEPT_BOTH,
        'mcp-protocol-version': MODERN_VERSION,
        'mcp-method': 'subscriptions/listen',
      },
      body: JSON.stringify(listen),
    });
    try {
      expect(stream.response.headers.get('content-type')).toMatch(/text\/event-stream/);
      const ack = await stream.next();
      expect(ack).toMatchObject({
        method: 'notifications/subscriptions/acknowledged',
        params: {
          notifications: { toolsListChanged: true, resourceSubscriptions: ['fixture://hello'] },
          _meta: { [SUBSCRIPTION_ID]: 'L1' },
        },
      });
      await postModern(url, modernRequest(2, 'tools/call', { name: 'add_tool', arguments: {} }));
      await postModern(url, modernRequest(3, 'tools/call', { name: 'touch', arguments: { uri: 'fixture://hello' } }));
      expect(await stream.next()).toEqual({
        jsonrpc: '2.0',
        method: 'notifications/tools/list_changed',
        params: { _meta: { [SUBSCRIPTION_ID]: 'L1' } },
      });
      expect(await stream.next()).toMatchObject({
        method: 'notifications/resources/updated',
        params: { uri: 'fixture://hello', _meta: { [SUBSCRIPTION_ID]: 'L1' } },
      });
    } finally {
      await stream.close();
    }
  });
});

describe('legacy sessionful Streamable HTTP', () => {
  let fixture: SpawnedFixture;
  let url: string;
  beforeAll(async () => {
    fixture = await spawnFixture({ transport: 'http', era: 'legacy' });
    url = fixture.url!;
  });
  afterAll(() => fixture.close());

  const openSession = async (): Promise<Record<string, string>> => {
    const init = await post(url, initialize(1, { elicitation: {}, roots: {} }));
    expect(init.status).toBe(200);
    const sessionId = init.headers.get('mcp-session-id');
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const headers = { 'mcp-session-id': sessionId!, 'mcp-protocol-version': '2025-11-25' };
    expect((await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status).toBe(202);
    return headers;
  };

  it('gives each initialize a session id; an unknown session is 404; DELETE ends the session', async () => {
    const headers = await openSession();
    const list = await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, headers);
    expect(list.status).toBe(200);
    expect((resultOf(list.messages[0])['tools'] as unknown[]).length).toBeGreaterThan(10);
    expect(
      (await post(url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { ...headers, 'mcp-session-id': 'nope' }))
        .status,
    ).toBe(404);
    expect((await fetch(url, { method: 'DELETE', headers })).status).toBe(200);
    expect((await post(url, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, headers)).status).toBe(404);
  });

  it('refuses a modern server/discover probe (no session, not initialize) with 400', async () => {
    const res = await postModern(url, modernRequest(1, 'server/discover'));
    expect(res.status).toBe(400);
  });

  it("sends ask_name's elicitation on the GET stream and list_roots' roots/list on the call's POST stream", async () => {
    const headers = await openSession();
    const get = await openStream(url, { headers: { ...headers, accept: 'text/event-stream' } });
    try {
      // ask_name blocks until answered, so read its POST stream without awaiting the end.
      const askPost = fetch(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', accept: ACCEPT_BOTH },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 10,
          method: 'tools/call',
          params: { name: 'ask_name', arguments: {} },
        }),
      });
      const elicit = await get.next();
      expect(elicit).toMatchObject({ method: 'elicitation/create', params: { message: 'What is your name?' } });
      const answer = { jsonrpc: '2.0', id: elicit['id'], result: { action: 'accept', content: { name: 'Eve' } } };
      expect((await post(url, answer, headers)).status).toBe(202);
      const askText = await (await askPost).text();
      expect(askText).toContain('hello Eve');

      const rootsPost = await openStream(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', accept: ACCEPT_BOTH },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 11,
          method: 'tools/call',
          params: { name: 'list_roots', arguments: {} },
        }),
      });
      const rootsRequest = await rootsPost.next();
      expect(rootsRequest).toMatchObject({ method: 'roots/list' });
      await post(url, { jsonrpc: '2.0', id: rootsRequest['id'], result: { roots: [{ uri: 'file:///x' }] } }, headers);
      expect(await rootsPost.next()).toMatchObject({
        id: 11,
        result: { content: [{ type: 'text', text: '[{"uri":"file:///x"}]' }] },
      });
      await rootsPost.close();
    } finally {
      await get.close();
    }
  });
});

describe('stdio: how each serving posture answers the other era', () => {
  const discover = modernRequest(1, 'server/discover');
  const peers: StdioPeer[] = [];
  const start = (era: 'legacy' | 'modern' | 'both'): StdioPeer => {
    const { command, args } = featureServerCommand('stdio', era);
    const peer = StdioPeer.spawn(command, args);
    peers.push(peer);
    return peer;
  };
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close()));
  });

  it('a legacy-only server answers server/discover with -32601 and still accepts initialize', async () => {
    const peer = start('legacy');
    peer.send(discover);
    expect(errorOf(await peer.response(1)).code).toBe(-32601);
    peer.send(initialize(2));
    expect(resultOf(await peer.response(2))['protocolVersion']).toBe('2025-11-25');
  });

  it('a modern-only server (serveStdio legacy: reject) answers initialize with -32022 and serves discover', async () => {
    const peer = start('modern');
    peer.send(initialize(1));
    expect(errorOf(await peer.response(1))).toMatchObject({ code: -32022, data: { supported: [MODERN_VERSION] } });
    peer.send({ ...discover, id: 2 });
    expect(resultOf(await peer.response(2))['supportedVersions']).toEqual([MODERN_VERSION]);
  });

  it('a both-era server answers discover, and an initialize after it falls back to the legacy era', async () => {
    const peer = start('both');
    peer.send(discover);
    expect(resultOf(await peer.response(1))).toMatchObject({
      supportedVersions: [MODERN_VERSION],
      resultType: 'complete',
    });
    peer.send(initialize(2));
    expect(resultOf(await peer.response(2))['protocolVersion']).toBe('2025-11-25');
  });
});

describe('an SDK client pinned to the other era is refused', () => {
  it('a modern client cannot connect to legacy-only servers (stdio or HTTP)', async () => {
    const stdio = await spawnFixture({ transport: 'stdio', era: 'legacy' });
    await expect(connectClient({ era: 'modern', downstream: stdio.downstream })).rejects.toThrow(
      /did not offer pinned protocol version/,
    );
    const http = await spawnFixture({ transport: 'http', era: 'legacy' });
    try {
      await expect(connectClient({ era: 'modern', downstream: http.downstream })).rejects.toThrow(
        /did not offer pinned protocol version/,
      );
    } finally {
      await http.close();
    }
  });

  it('a legacy client cannot connect to modern-only servers (stdio or HTTP)', async () => {
    const stdio = await spawnFixture({ transport: 'stdio', era: 'modern' });
    await expect(connectClient({ era: 'legacy', downstream: stdio.downstream })).rejects.toThrow(
      /Unsupported protocol version/,
    );
    const http = await spawnFixture({ transport: 'http', era: 'modern' });
    try {
      await expect(connectClient({ era: 'legacy', downstream: http.downstream })).rejects.toThrow(
        /-32022.*Unsupported protocol version/,
      );
    } finally {
      await http.close();
    }
  });
});
