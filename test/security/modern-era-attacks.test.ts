// Attacks on the 2026-07-28 era and its bridging to 2025-era servers and clients: caching hints a
// server writes on answers Gatehouse decides per caller, the retry fields of the modern era
// (`requestState`, `inputResponses`) sent by a client of the other era, tasks a shared server holds
// for several grants, and Mcp-Method / Mcp-Name headers on 2025 requests. Every request is sent
// byte for byte over HTTP, and a recording server shows what reached it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPHEMERAL, startFileGateway, tempDir, type FileGateway, type TempDir } from '../helpers/gateway.js';
import {
  ACCEPT_BOTH,
  modernHeaders,
  modernRequest,
  openStream,
  parseSse,
  type JsonObject,
  type SseReader,
} from '../helpers/wire.js';
import { received } from './support.js';

/**
 * A raw stdio server of either era (ERA=legacy|modern) that writes every line it receives to
 * RECORD_FILE and marks every answer as publicly cacheable for an hour.
 */
const SERVER = `
import { createInterface } from 'node:readline';
import { appendFileSync } from 'node:fs';
const legacy = process.env.ERA === 'legacy';
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const hints = { ttlMs: 3600000, cacheScope: 'public' };
const caps = { tools: {}, resources: {}, prompts: {}, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } };
const tasks = new Map();
createInterface({ input: process.stdin }).on('line', (line) => {
  appendFileSync(process.env.RECORD_FILE, line + '\\n');
  const m = JSON.parse(line);
  if (m.id === undefined || !m.method) return;
  const ok = (result) => send({ jsonrpc: '2.0', id: m.id, result: { ...result, ...hints, ...(legacy ? {} : { resultType: 'complete' }) } });
  switch (m.method) {
    case 'initialize':
      if (!legacy) break;
      return send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: caps, serverInfo: { name: 'cache', version: '1' } } });
    case 'server/discover':
      if (legacy) break;
      return send({ jsonrpc: '2.0', id: m.id, result: { supportedVersions: ['2026-07-28'], capabilities: caps, resultType: 'complete', ttlMs: 0, cacheScope: 'private', _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'cache', version: '1' } } } });
    case 'tools/list':
      return ok({ tools: [{ name: 'read_file', inputSchema: { type: 'object' } }] });
    case 'resources/list':
      return ok({ resources: [{ uri: 'doc://' + process.env.ERA + '/public', name: 'public' }, { uri: 'doc://' + process.env.ERA + '/secret', name: 'secret' }] });
    case 'resources/read':
      return ok({ contents: [{ uri: m.params.uri, text: 'the text of ' + m.params.uri }] });
    case 'prompts/get':
      return ok({ messages: [{ role: 'user', content: { type: 'text', text: 'a prompt' } }] });
    case 'tools/call': {
      const result = { content: [{ type: 'text', text: 'ran ' + m.params.name + ' ' + JSON.stringify(m.params.arguments) }] };
      if (!m.params.task) return ok(result);
      const task = { taskId: 'task-' + (tasks.size + 1), status: 'working', createdAt: new Date().toISOString(), ttl: 60000 };
      tasks.set(task.taskId, { task, result });
      send({ jsonrpc: '2.0', id: m.id, result: { task } });
      // The task completes a moment later, and every client of the server is told.
      return void setTimeout(() => {
        task.status = 'completed';
        send({ jsonrpc: '2.0', method: 'notifications/tasks/status', params: task });
      }, 200);
    }
    case 'tasks/list':
      return send({ jsonrpc: '2.0', id: m.id, result: { tasks: [...tasks.values()].map((t) => t.task) } });
    case 'tasks/get':
      if (tasks.has(m.params.taskId)) return send({ jsonrpc: '2.0', id: m.id, result: tasks.get(m.params.taskId).task });
      break;
    case 'tasks/cancel':
      if (tasks.has(m.params.taskId)) return send({ jsonrpc: '2.0', id: m.id, result: { ...tasks.get(m.params.taskId).task, status: 'cancelled' } });
      break;
    case 'tasks/result':
      if (tasks.has(m.params.taskId)) return send({ jsonrpc: '2.0', id: m.id, result: tasks.get(m.params.taskId).result });
      break;
  }
  send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } });
});
`;

const ALICE = 'tok-alice-modern-era-0001';
const BOB = 'tok-bob-modern-era-0002';
/** The server's own policy lets alice read both documents; bob's grant policy hides the secret one. */
const SERVER_POLICY = { version: '1', default: 'allow', resources: { 'doc://*': {} } };
const BOB_POLICY = {
  version: '1',
  default: 'allow',
  resources: { 'doc://*/public': {}, 'doc://*/secret': { action: 'hide' } },
};

interface Setup {
  gw: FileGateway;
  dir: TempDir;
  record: (server: string) => string;
}

async function start(): Promise<Setup> {
  const dir = tempDir('gatehouse-modern-era-');
  const script = dir.write('server.mjs', SERVER);
  const record = (server: string) => `${dir.path}/${server}.jsonl`;
  const entry = (server: string, era: 'legacy' | 'modern') => ({
    command: process.execPath,
    args: [script],
    env: { RECORD_FILE: record(server), ERA: era },
    era,
    timeout_ms: 10_000,
    policy: SERVER_POLICY,
  });
  const gw = await startFileGateway(dir, {
    ...EPHEMERAL,
    auth: { mode: 'grants' },
    servers: { modern: entry('modern', 'modern'), legacy: entry('legacy', 'legacy') },
    grants: {
      alice: { token: ALICE, servers: ['modern', 'legacy'] },
      bob: { token: BOB, servers: ['modern', 'legacy'], policy: BOB_POLICY },
    },
  });
  return { gw, dir, record };
}

/** One POST; resolves with its status and the JSON-RPC message answering it. */
async function post(
  url: string,
  token: string,
  message: JsonObject,
  headers: Record<string, string> = {},
): Promise<{ status: number; message: JsonObject; sessionId: string | null }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  const messages = (res.headers.get('content-type') ?? '').includes('text/event-stream')
    ? parseSse(text)
    : text.trim().startsWith('{')
      ? [JSON.parse(text) as JsonObject]
      : [];
  const answer = messages.find((m) => m['id'] === message['id']) ?? { httpStatus: res.status };
  return { status: res.status, message: answer, sessionId: res.headers.get('mcp-session-id') };
}

const postModern = (url: string, token: string, message: JsonObject) =>
  post(url, token, message, modernHeaders(message));
const resultOf = (m: JsonObject) => (m['result'] ?? {}) as JsonObject;

/** A 2025 session on `url`: its id, ready for requests. */
async function legacySession(url: string, token: string): Promise<string> {
  const init = await post(url, token, {
    jsonrpc: '2.0',
    id: 'init',
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'attacker', version: '1' } },
  });
  if (!init.sessionId) throw new Error(`initialize failed: ${JSON.stringify(init.message)}`);
  await post(url, token, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': init.sessionId });
  return init.sessionId;
}

describe('caching hints on answers Gatehouse decides per caller', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await start();
  }, 30_000);
  afterAll(async () => {
    await s?.gw.close();
  });

  it('a server marking its answers publicly cacheable cannot make a shared cache serve one grant’s read, call or prompt to another: every 2026-07-28 answer is private', async () => {
    const base = s.gw.gateway.url;
    let n = 0;
    for (const server of ['modern', 'legacy']) {
      for (const [path, prefix] of [
        [`/mcp/${server}`, ''],
        ['/mcp', `${server}__`],
      ] as const) {
        const url = `${base}${path}`;
        const read = modernRequest(`r${n++}`, 'resources/read', { uri: `doc://${server}/secret` });
        // Bob may not read it: an answer a shared cache keeps for him must never be alice's.
        const refused = await postModern(url, BOB, read);
        expect(refused.message['error'], `${url} bob`).toMatchObject({ code: -32602 });
        const requests = [
          read,
          modernRequest(`c${n++}`, 'tools/call', { name: `${prefix}read_file`, arguments: {} }),
          modernRequest(`p${n++}`, 'prompts/get', { name: `${prefix}greeting` }),
        ];
        for (const request of requests) {
          const answer = await postModern(url, ALICE, request);
          const r = resultOf(answer.message);
          expect(r['resultType'], `${url} ${String(request['method'])}: ${JSON.stringify(answer)}`).toBe('complete');
          expect(r['cacheScope'], `${url} ${String(request['method'])}`).toBe('private');
        }
      }
    }
  });
});

describe('retry fields sent by a 2025 client to a 2026-07-28 server', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await start();
  }, 30_000);
  afterAll(async () => {
    await s?.gw.close();
  });

  it('a 2025 client’s own requestState and inputResponses never reach a 2026-07-28 server: only states Gatehouse checked are forwarded', async () => {
    for (const path of ['/mcp/modern', '/mcp']) {
      const url = `${s.gw.gateway.url}${path}`;
      const sid = await legacySession(url, ALICE);
      const call = {
        jsonrpc: '2.0',
        id: `smuggle-${path}`,
        method: 'tools/call',
        params: {
          name: path === '/mcp' ? 'modern__read_file' : 'read_file',
          arguments: { path: '/public/a' },
          requestState: 'state-the-server-minted-for-delete_file',
          inputResponses: { confirm: { action: 'accept', content: { confirmed: true } } },
        },
      };
      const answer = await post(url, ALICE, call, { 'mcp-session-id': sid });
      expect(answer.message['result'], JSON.stringify(answer)).toBeDefined();
    }
    const calls = received(s.record('modern')).filter((m) => m['method'] === 'tools/call');
    expect(calls).toHaveLength(2);
    for (const c of calls) {
      const params = c['params'] as JsonObject;
      expect(params['name']).toBe('read_file');
      expect(params).not.toHaveProperty('requestState');
      expect(params).not.toHaveProperty('inputResponses');
    }
  });
});

/** The GET stream of a 2025 session. */
const getStream = (url: string, token: string, sid: string): Promise<SseReader> =>
  openStream(url, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, 'mcp-session-id': sid },
  });

describe('tasks a shared server holds for several grants', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await start();
  }, 30_000);
  afterAll(async () => {
    await s?.gw.close();
  });

  it('another grant can neither list, read, cancel nor hear of a task a shared server made for alice’s call, in either era', async () => {
    for (const server of ['modern', 'legacy']) {
      const url = `${s.gw.gateway.url}/mcp/${server}`;
      const [aliceSid, bobSid] = [await legacySession(url, ALICE), await legacySession(url, BOB)];
      const [aliceStream, bobStream] = [await getStream(url, ALICE, aliceSid), await getStream(url, BOB, bobSid)];
      try {
        const call = modernRequest(`${server}-t`, 'tools/call', {
          name: 'read_file',
          arguments: { path: '/alice/diary' },
          task: { ttl: 60_000 },
        });
        const created = resultOf((await postModern(url, ALICE, call)).message);
        const taskId = String((created['task'] as JsonObject | undefined)?.['taskId']);
        expect(taskId, JSON.stringify(created)).toMatch(/^task-/);
        // Alice's own session hears of her task; bob's does not.
        expect(await aliceStream.next()).toMatchObject({
          method: 'notifications/tasks/status',
          params: { taskId, status: 'completed' },
        });
        await expect(bobStream.next(500)).rejects.toThrow(/no SSE message/);

        const bobSent = received(s.record(server)).length;
        const list = await postModern(url, BOB, modernRequest(`${server}-l`, 'tasks/list', {}));
        expect(resultOf(list.message)['tasks'], JSON.stringify(list)).toEqual([]);
        for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
          const modern = await postModern(url, BOB, modernRequest(`${server}-${method}`, method, { taskId }));
          expect(modern.message['error'], `${method}: ${JSON.stringify(modern)}`).toMatchObject({ code: -32602 });
          const legacy = await post(
            url,
            BOB,
            { jsonrpc: '2.0', id: `${server}-${method}-legacy`, method, params: { taskId } },
            { 'mcp-session-id': bobSid },
          );
          expect(legacy.message['error'], `${method}: ${JSON.stringify(legacy)}`).toMatchObject({ code: -32602 });
        }
        // Only tasks/list reached the server for bob (and showed him nothing).
        expect(
          received(s.record(server))
            .slice(bobSent)
            .map((m) => m['method']),
        ).toEqual(['tasks/list']);

        // Alice still has her task, in either era.
        const mine = await postModern(url, ALICE, modernRequest(`${server}-r`, 'tasks/result', { taskId }));
        expect(JSON.stringify(resultOf(mine.message)['content'])).toContain('/alice/diary');
        const listed = await post(
          url,
          ALICE,
          { jsonrpc: '2.0', id: `${server}-al`, method: 'tasks/list', params: {} },
          { 'mcp-session-id': aliceSid },
        );
        expect(resultOf(listed.message)['tasks']).toEqual([expect.objectContaining({ taskId })]);
      } finally {
        await aliceStream.close();
        await bobStream.close();
      }
    }
  });
});

describe('Mcp-Method and Mcp-Name headers on 2025 requests', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await start();
  }, 30_000);
  afterAll(async () => {
    await s?.gw.close();
  });

  it('a 2025 request whose Mcp-Method or Mcp-Name header names another method or tool is refused 400 (-32020) and never forwarded', async () => {
    for (const server of ['modern', 'legacy']) {
      const url = `${s.gw.gateway.url}/mcp/${server}`;
      const sid = await legacySession(url, ALICE);
      const call = (id: string, path: string) => ({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name: 'read_file', arguments: { path } },
      });
      const disagreeing: Record<string, string>[] = [
        { 'mcp-method': 'tools/list' },
        { 'mcp-name': 'list_files' },
        { 'mcp-method': 'tools/call', 'mcp-name': '=?base64?bGlzdF9maWxlcw==?=' },
        { 'mcp-protocol-version': '2025-06-18', 'mcp-method': 'prompts/get' },
      ];
      for (const [i, headers] of disagreeing.entries()) {
        const answer = await post(url, ALICE, call(`bad-${i}`, `/disagreeing/${i}`), {
          'mcp-session-id': sid,
          ...headers,
        });
        expect(answer.status, JSON.stringify(headers)).toBe(400);
        expect(answer.message['error'], JSON.stringify(headers)).toMatchObject({ code: -32020 });
      }
      // Headers that agree with the body, plain or base64-wrapped, are fine.
      const agreeing: Record<string, string>[] = [
        { 'mcp-method': 'tools/call', 'mcp-name': 'read_file' },
        { 'mcp-name': '=?base64?cmVhZF9maWxl?=' },
      ];
      for (const headers of agreeing) {
        const answer = await post(url, ALICE, call(`good-${server}`, '/agreeing'), {
          'mcp-session-id': sid,
          ...headers,
        });
        expect(JSON.stringify(answer.message['result']), JSON.stringify(answer)).toContain('ran read_file');
      }
      const paths = received(s.record(server))
        .filter((m) => m['method'] === 'tools/call')
        .map((m) => JSON.stringify((m['params'] as JsonObject)['arguments']));
      expect(paths.filter((p) => p.includes('/disagreeing/'))).toEqual([]);
      expect(paths.filter((p) => p.includes('/agreeing'))).toHaveLength(2);
    }
  });
});
