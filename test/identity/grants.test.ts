// Proves grants end to end with the official SDK clients of both eras: `gatehouse grants create`
// prints a recognisable token once and the store keeps only its hash; the token works at once in a
// running gateway sharing the store; no token, a wrong one, an expired or a revoked one answer 401
// (revocation also ends an open session on its next request); a grant reaches only its servers
// (403 on another, absent from the /mcp aggregate and from its server/discover); a legacy session
// cannot be used with another grant's token; limit counters are per grant; and a grant's own
// policy replaces the server's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { startFileGateway, type FileGateway } from '../helpers/gateway.js';
import { featureWith, grantsHome } from './support.js';
import { runCli } from '../helpers/cli.js';
import { ACCEPT_BOTH, connectClient, firstText, type Era } from '../helpers/index.js';
import { TSX_LOADER } from '../helpers/fixture.js';
import { modernRequest, postModern } from '../helpers/wire.js';

const SELF_DESCRIBED = fileURLToPath(new URL('../fixtures/servers/self-described-server.ts', import.meta.url));
const SECRET_INSTRUCTIONS = 'Internal HR system: payroll at payroll.internal.';

const ERAS: Era[] = ['legacy', 'modern'];
const CONFIG_TOKEN = 'config-grant-token-0123456789';

let dir: string;
let file: string;
let gw: Gateway;
let started: FileGateway | undefined;

/** Creates a grant with the CLI and returns its token. */
async function create(name: string, ...flags: string[]): Promise<string> {
  const run = await runCli(['grants', 'create', name, '-c', file, '--json', ...flags]);
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as { token: string }).token;
}

function connect(era: Era, token: string | undefined, server = 'feat') {
  return connectClient({
    era,
    downstream: {
      kind: 'http',
      url: `${gw.url}/mcp${server === '*' ? '' : `/${server}`}`,
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    },
  });
}

async function status(pathname: string, token: string | undefined): Promise<number> {
  const res = await fetch(`${gw.url}${pathname}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    }),
  });
  await res.text();
  return res.status;
}

beforeAll(async () => {
  const home = grantsHome('gatehouse-grants-');
  dir = home.path;
  started = await startFileGateway(home, {
    listen: { host: '127.0.0.1', port: 0 },
    state: `sqlite:${path.join(dir, 'state.db')}`,
    audit: 'none',
    auth: { mode: 'grants' },
    servers: {
      feat: featureWith({ version: '1', default: 'allow', tools: { add: { limits: [{ max: 1, window: 'hour' }] } } }),
      other: featureWith({ version: '1', default: 'allow' }),
      // Says more about itself than its tools: its instructions, which only its grants may read.
      hr: {
        command: process.execPath,
        args: ['--import', TSX_LOADER, SELF_DESCRIBED],
        env: { LISTED_INSTRUCTIONS: SECRET_INSTRUCTIONS },
        timeout_ms: 20_000,
      },
    },
    grants: {
      cfg: { token: CONFIG_TOKEN, servers: ['feat', 'other'] },
      old: { token: 'expired-grant-token-0123456789', servers: ['feat'], expires: '2020-01-01' },
    },
  });
  ({ gateway: gw, file } = started);
});

afterAll(async () => {
  await started?.close();
});

describe('grants created with the command line', () => {
  it('the token is printed once, recognisable by its prefix; the store keeps only its hash; list never shows it', async () => {
    const run = await runCli([
      'grants',
      'create',
      'shown',
      '--server',
      'feat',
      '--agent',
      'bot',
      '--label',
      'team=blue',
      '-c',
      file,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const token = /(gth_[A-Za-z0-9_-]{43})/.exec(run.stdout)?.[1];
    expect(token).toBeDefined();
    expect(run.stdout).toContain(`"Authorization": "Bearer ${token}"`);
    expect(readFileSync(path.join(dir, 'state.db')).includes(Buffer.from(token!))).toBe(false);
    const list = await runCli(['grants', 'list', '--json', '-c', file]);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(token!);
    expect(JSON.parse(list.stdout)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'shown',
          agent: 'bot',
          labels: { team: 'blue' },
          status: 'active',
          source: 'store',
        }),
        expect.objectContaining({ name: 'cfg', source: 'config' }),
      ]),
    );
  });

  it('bad requests are refused with a clear message: unknown server, taken name, bad expiry', async () => {
    const unknown = await runCli(['grants', 'create', 'x1', '--server', 'nope', '-c', file]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown server(s) "nope"');
    const taken = await runCli(['grants', 'create', 'cfg', '--server', 'feat', '-c', file]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('defined in the config file');
    const expiry = await runCli(['grants', 'create', 'x2', '--server', 'feat', '--expires', 'soon', '-c', file]);
    expect(expiry.code).toBe(2);
    expect(expiry.stderr).toContain('expires');
  });

  it.each(ERAS)('%s: a new token works at once in the running gateway, beside config grants', async (era) => {
    const token = await create(`fresh-${era}`, '--server', 'feat');
    const c = await connect(era, token);
    expect(firstText((await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as CallToolResult)).toBe(
      'hi',
    );
    await c.close();
    const viaConfig = await connect(era, CONFIG_TOKEN);
    expect(
      firstText((await viaConfig.client.callTool({ name: 'echo', arguments: { message: 'yo' } })) as CallToolResult),
    ).toBe('yo');
    await viaConfig.close();
  });
});

describe('who gets in', () => {
  it('no token, a wrong token and an expired grant answer 401 with WWW-Authenticate', async () => {
    expect(await status('/mcp/feat', undefined)).toBe(401);
    expect(await status('/mcp/feat', 'gth_not-a-real-token-at-all-000000000000000000')).toBe(401);
    expect(await status('/mcp/feat', 'expired-grant-token-0123456789')).toBe(401);
    const res = await fetch(`${gw.url}/mcp/feat`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it.each(ERAS)('%s: a revoked grant is refused from the next request on, also in a session it opened', async (era) => {
    const token = await create(`revoked-${era}`, '--server', 'feat');
    const c = await connect(era, token);
    expect(firstText((await c.client.callTool({ name: 'echo', arguments: { message: 'a' } })) as CallToolResult)).toBe(
      'a',
    );
    const revoke = await runCli(['grants', 'revoke', `revoked-${era}`, '-c', file]);
    expect(revoke.code, revoke.stderr).toBe(0);
    await expect(c.client.callTool({ name: 'echo', arguments: { message: 'b' } })).rejects.toThrow(
      /401|revoked|Unauthorized/i,
    );
    await c.close().catch(() => {});
    expect(await status('/mcp/feat', token)).toBe(401);
    const again = await runCli(['grants', 'revoke', `revoked-${era}`, '-c', file]);
    expect(again.code).toBe(1);
  });

  it('a grant reaches only its servers: 403 on another server directly', async () => {
    const token = await create('only-feat', '--server', 'feat');
    expect(await status('/mcp/feat', token)).toBe(200);
    expect(await status('/mcp/other', token)).toBe(403);
  });

  it.each(ERAS)('%s: on the /mcp aggregate, the tools of servers outside the grant are absent', async (era) => {
    const narrow = await create(`narrow-${era}`, '--server', 'feat');
    const c = await connect(era, narrow, '*');
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('feat__echo');
    expect(names.some((n) => n.startsWith('other__'))).toBe(false);
    const r = await c.client.callTool({ name: 'other__echo', arguments: { message: 'x' } }).catch((e: unknown) => e);
    expect(String(r instanceof Error ? r.message : JSON.stringify(r))).toMatch(/Unknown tool|not|-32602/i);
    await c.close();
  });

  it('on the /mcp aggregate, server/discover tells only of the servers the grant may use', async () => {
    const discover = async (token: string): Promise<Record<string, unknown>> => {
      const res = await postModern(`${gw.url}/mcp`, modernRequest(1, 'server/discover'), {
        authorization: `Bearer ${token}`,
      });
      expect(res.status).toBe(200);
      return (res.messages[0]?.result ?? {}) as Record<string, unknown>;
    };
    const narrow = await discover(await create('discover-feat', '--server', 'feat'));
    expect(JSON.stringify(narrow)).not.toContain('payroll');
    expect(narrow.capabilities).toHaveProperty('prompts');
    // The same question from a grant that may use the server: its instructions are there to hide.
    const wide = await discover(await create('discover-hr', '--server', 'feat', '--server', 'hr'));
    expect(wide.instructions).toContain(SECRET_INSTRUCTIONS);
  });

  it("a legacy session cannot be used with another grant's token", async () => {
    const a = await create('owner', '--server', 'feat');
    const b = await create('intruder', '--server', 'feat');
    const init = await fetch(`${gw.url}/mcp/feat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, authorization: `Bearer ${a}` },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });
    await init.text();
    const sid = init.headers.get('mcp-session-id')!;
    expect(sid.length).toBeGreaterThanOrEqual(40);
    const hijack = await fetch(`${gw.url}/mcp/feat`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: ACCEPT_BOTH,
        authorization: `Bearer ${b}`,
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    await hijack.text();
    expect(hijack.status).toBe(404);
  });
});

describe('what a grant brings to the policy', () => {
  it.each(ERAS)('%s: limit counters are per grant: each grant gets its own one call an hour', async (era) => {
    const first = await create(`lim-a-${era}`, '--server', 'feat');
    const second = await create(`lim-b-${era}`, '--server', 'feat');
    for (const token of [first, second]) {
      const c = await connect(era, token);
      expect(firstText((await c.client.callTool({ name: 'add', arguments: { a: 1, b: 1 } })) as CallToolResult)).toBe(
        '2',
      );
      expect(
        firstText((await c.client.callTool({ name: 'add', arguments: { a: 1, b: 1 } })) as CallToolResult),
      ).toMatch(/^\[RATE LIMITED\] .*per grant/);
      await c.close();
    }
  });

  it.each(ERAS)("%s: a grant's own policy replaces the server's", async (era) => {
    const token = await create(`own-policy-${era}`, '--server', 'feat', '--policy', path.join(dir, 'no-echo.json'));
    const c = await connect(era, token);
    const r = (await c.client.callTool({ name: 'echo', arguments: { message: 'x' } })) as CallToolResult;
    expect(firstText(r)).toBe('[POLICY DENIED] Not for this grant.');
    // The server's policy limits add to one an hour; the grant's does not.
    for (let i = 0; i < 3; i++)
      expect(firstText((await c.client.callTool({ name: 'add', arguments: { a: i, b: 1 } })) as CallToolResult)).toBe(
        String(i + 1),
      );
    await c.close();
  });
});
