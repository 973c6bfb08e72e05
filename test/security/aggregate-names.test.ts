// The `<server>__<name>` names of the /mcp aggregate: a name is split at its first `__` (server
// names cannot hold `_`), so tools/list and tools/call agree on which server and which tool a name
// means, and a call reaches only the server its prefix names, decided by that server's policy.
// A server outside the caller's grant, and a tool or prompt its policy hides, answer on /mcp
// exactly like missing ones, also where the tool has `Mcp-Param-*` headers to check.
// The upstreams are the named-tools fixture, which records every line it receives.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import type { AggregateEndpoint } from '../../src/gateway/aggregate-endpoint.js';
import { encodeMcpName } from '../../src/mcp/param-headers.js';
import { EPHEMERAL, startParsedGateway, tempDir, type TempDir } from '../helpers/gateway.js';
import { TSX_LOADER } from '../helpers/index.js';
import { modernRequest, postModern, type JsonObject, type WireResponse } from '../helpers/wire.js';

const SERVER = fileURLToPath(new URL('../fixtures/servers/named-tools-server.ts', import.meta.url));
const ALICE = 'tok-alice-aggregate-names-00001';
const BOB = 'tok-bob-aggregate-names-0000002';

/** An input schema whose `region` argument is mirrored in an `Mcp-Param-Region` header. */
const REGION = { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } } };

interface Setup {
  gateway: Gateway;
  dir: TempDir;
  record: (server: string) => string;
}

let setup: Setup | undefined;

afterEach(async () => {
  if (!setup) return;
  await setup.gateway.close();
  setup.dir.remove();
  setup = undefined;
});

/**
 * Servers `a` (tools with `__` in their names, a hidden and a denied one, two pages per list),
 * `a-b` and `x`; alice may use `a` and `a-b`, bob only `a`.
 */
async function start(): Promise<Setup> {
  const dir = tempDir('gatehouse-aggregate-names-');
  const record = (server: string) => join(dir.path, `${server}.jsonl`);
  const entry = (
    name: string,
    tools: unknown[],
    prompts: string[],
    policy: unknown,
    env: Record<string, string> = {},
  ) => ({
    command: process.execPath,
    args: ['--import', TSX_LOADER, SERVER],
    env: {
      SERVER_NAME: name,
      TOOLS: JSON.stringify(tools),
      PROMPTS: JSON.stringify(prompts),
      RECORD_FILE: record(name),
      ...env,
    },
    timeout_ms: 20_000,
    policy,
  });
  const gateway = await startParsedGateway({
    ...EPHEMERAL,
    auth: { mode: 'grants' },
    servers: {
      a: entry(
        'a',
        [
          { name: 'read', inputSchema: REGION },
          { name: 'secret', inputSchema: REGION },
          { name: 'danger' },
          { name: 'x__read' },
          { name: 'b__c' },
          { name: '_x' },
        ],
        ['p', 'hidden_p', 'x__p'],
        {
          version: '1',
          default: 'allow',
          hide: ['secret'],
          tools: { danger: { action: 'deny' } },
          prompts: { hidden_p: { action: 'hide' } },
        },
        { PAGE_SIZE: '2' },
      ),
      'a-b': entry('a-b', [{ name: 'c' }], [], { version: '1', default: 'allow' }),
      x: entry('x', [{ name: 'read', inputSchema: REGION }], ['p'], { version: '1', default: 'allow' }),
    },
    grants: {
      alice: { token: ALICE, agent: 'alice', servers: ['a', 'a-b'] },
      bob: { token: BOB, agent: 'bob', servers: ['a'] },
    },
  });
  setup = { gateway, dir, record };
  return setup;
}

/** A 2026-07-28 request to /mcp as `token`, its Mcp-Name header encoded as clients encode it. */
function send(s: Setup, token: string, method: string, params: JsonObject = {}, path = '/mcp'): Promise<WireResponse> {
  const message = modernRequest(1, method, params);
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (typeof params.name === 'string') headers['mcp-name'] = encodeMcpName(params.name);
  return postModern(`${s.gateway.url}${path}`, message, headers);
}

function answer(r: WireResponse): JsonObject {
  return r.messages.find((m) => 'result' in m || 'error' in m) ?? {};
}

function text(r: WireResponse): string {
  const a = answer(r);
  if (a.error) return `error ${JSON.stringify(a.error)}`;
  const result = a.result as { content?: { text?: string }[] };
  return result.content?.[0]?.text ?? JSON.stringify(result);
}

/** The requests of `method` a server received, as `name` (or `ref.name`). */
function received(s: Setup, server: string, method: string): string[] {
  if (!existsSync(s.record(server))) return [];
  return readFileSync(s.record(server), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { method?: string; params?: { name?: string; ref?: { name?: string } } })
    .filter((m) => m.method === method)
    .map((m) => String(m.params?.name ?? m.params?.ref?.name));
}

describe('names on the /mcp aggregate', () => {
  it('tools/list and tools/call agree on every `__` name, each call reaching only the server its first `__` names', async () => {
    const s = await start();
    const listed = answer(await send(s, ALICE, 'tools/list', { cursor: '4' })).result as { tools: { name: string }[] };
    // Every page of every server, whatever cursor the client sends; hidden and denied tools left out.
    expect(listed.tools.map((t) => t.name).sort()).toEqual(
      ['a___x', 'a__b__c', 'a__read', 'a__x__read', 'a-b__c'].sort(),
    );
    expect(text(await send(s, ALICE, 'tools/call', { name: 'a__x__read', arguments: {} }))).toBe('a ran x__read');
    expect(text(await send(s, ALICE, 'tools/call', { name: 'a__b__c', arguments: {} }))).toBe('a ran b__c');
    expect(text(await send(s, ALICE, 'tools/call', { name: 'a-b__c', arguments: {} }))).toBe('a-b ran c');
    expect(text(await send(s, ALICE, 'tools/call', { name: 'a___x', arguments: {} }))).toBe('a ran _x');
    // `a`'s policy decides a name under `a__`: its hidden tool is unknown, its denied one blocked.
    expect(text(await send(s, ALICE, 'tools/call', { name: 'a__danger', arguments: {} }))).toContain('[POLICY DENIED]');
    for (const name of [
      'a__secret',
      'x__read',
      'A__read',
      '__a__read',
      'a_\u200b_read',
      '\uff41__read',
      'a-b__x__read',
    ])
      expect(text(await send(s, ALICE, 'tools/call', { name, arguments: {} }))).toBe(
        `error ${JSON.stringify({ code: -32602, message: `Unknown tool: ${name}` })}`,
      );
    expect(received(s, 'a', 'tools/call').sort()).toEqual(['_x', 'b__c', 'x__read']);
    expect(received(s, 'a-b', 'tools/call')).toEqual(['c']);
    expect(received(s, 'x', 'tools/call')).toEqual([]);
  });

  it('prompts and completion on /mcp: a hidden prompt and one of a server outside the grant answer like missing ones and reach no server', async () => {
    const s = await start();
    const listed = answer(await send(s, BOB, 'prompts/list')).result as { prompts: { name: string }[] };
    expect(listed.prompts.map((p) => p.name).sort()).toEqual(['a__p', 'a__x__p']);
    expect(answer(await send(s, BOB, 'prompts/get', { name: 'a__hidden_p' })).error).toEqual({
      code: -32602,
      message: 'Prompt hidden_p not found',
    });
    expect(answer(await send(s, BOB, 'prompts/get', { name: 'x__p' })).error).toMatchObject({ code: -32602 });
    const complete = (name: string) =>
      send(s, BOB, 'completion/complete', {
        ref: { type: 'ref/prompt', name },
        argument: { name: 'topic', value: '' },
      });
    expect(answer(await complete('a__hidden_p')).error).toEqual({ code: -32602, message: 'Prompt hidden_p not found' });
    expect(answer(await complete('x__p')).error).toMatchObject({ code: -32602 });
    expect(answer(await complete('a__x__p')).result).toMatchObject({ completion: { values: ['a:x__p'] } });
    expect(received(s, 'a', 'prompts/get')).toEqual([]);
    expect(received(s, 'a', 'completion/complete')).toEqual(['x__p']);
    expect(received(s, 'x', 'prompts/get')).toEqual([]);
    expect(received(s, 'x', 'completion/complete')).toEqual([]);
  });

  it('the tool whose Mcp-Param headers /mcp checks is one the caller may see: none for a server outside its grant or a hidden tool', async () => {
    const s = await start();
    const aggregate = s.gateway.core.endpoint('*') as AggregateEndpoint;
    const auth = await s.gateway.core.grants.authenticate(`Bearer ${BOB}`);
    if (!auth.ok) throw new Error(auth.reason);
    const bob = auth.identity;
    const listsBefore = received(s, 'x', 'tools/list').length;
    expect(await aggregate.toolEntry('x__read', bob)).toBeUndefined();
    expect(await aggregate.toolEntry('a__secret', bob)).toBeUndefined();
    expect((await aggregate.toolEntry('a__read', bob))?.paramHeaders).toEqual([
      { name: 'Region', path: ['region'], type: 'string' },
    ]);
    // Server `x` was not listed on behalf of a caller that may not use it.
    expect(received(s, 'x', 'tools/list').length).toBe(listsBefore);
  });

  it('on /mcp (and /mcp/<server>) a tool of a server outside the grant, or a hidden one, answers Unknown tool whatever its Mcp-Param headers', async () => {
    const s = await start();
    const unknown = (name: string) => ({ code: -32602, message: `Unknown tool: ${name}` });
    for (const name of ['x__read', 'a__secret', 'x__missing']) {
      const r = await send(s, BOB, 'tools/call', { name, arguments: { region: 'eu' } });
      expect({ status: r.status, error: answer(r).error }).toEqual({ status: 200, error: unknown(name) });
    }
    // On the server's own endpoint the hidden tool answers the same.
    const own = await send(s, BOB, 'tools/call', { name: 'secret', arguments: { region: 'eu' } }, '/mcp/a');
    expect({ status: own.status, error: answer(own).error }).toEqual({ status: 200, error: unknown('secret') });
    // A tool the caller may call still has its headers checked.
    const visible = await send(s, BOB, 'tools/call', { name: 'a__read', arguments: { region: 'eu' } });
    expect(visible.status).toBe(400);
    expect(received(s, 'x', 'tools/call')).toEqual([]);
  });
});
