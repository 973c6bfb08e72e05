// Proves the grants admin API end to end against a running gateway, with the official SDK clients
// of both eras and raw HTTP where the wire matters: a grant created through the API answers its
// token once (never again in a list, nor its hash) and the token works on /mcp/<server> at once;
// creating checks what `gatehouse grants create` checks, and a policy path must stay in the config
// file's folder; config grants are listed as such and cannot be revoked (409); revoking through the
// API refuses the token from the next request on, also inside a legacy session it opened and in a
// running `gatehouse stdio --grant`, which also stops an expired grant; a viewer and a policy
// manager can list but neither create nor revoke (403); a body over limits.max_body_bytes is 413.
// Sessions belong to the principal that opened them: a legacy session id without a token is 401,
// the legacy SSE transport refuses another grant's token on the session's /messages URL, and a
// 2026-07-28 requestState sealed for one grant is refused when another presents it. Finally the
// labels of a grant made with the command line reach a policy condition (grant.labels in CEL), at
// the gateway, in POST /api/v1/policy/explain and in `gatehouse policy explain --grant`, which now
// find such grants by name.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { startFileGateway, type FileGateway } from '../helpers/gateway.js';
import { featureWith, grantsHome } from './support.js';
import { runCli, CLI_MAIN } from '../helpers/cli.js';
import {
  ACCEPT_BOTH,
  StdioPeer,
  TSX_LOADER,
  connectClient,
  firstText,
  modernRequest,
  postModern,
  type Era,
} from '../helpers/index.js';

const ERAS: Era[] = ['legacy', 'modern'];
const ADMIN = 'grants-api-admin-5e2b';
const MANAGER = 'grants-api-manager-8c1d';
const VIEWER = 'grants-api-viewer-3a9f';
const CONFIG_TOKEN = 'grants-api-config-grant-7d4e';
const MAX_BODY = 16 * 1024;

let dir: string;
let file: string;
let gw: Gateway;
let started: FileGateway | undefined;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

async function api(method: string, pathname: string, body?: unknown, token: string | null = ADMIN): Promise<Answer> {
  const res = await fetch(`${gw.url}/api/v1${pathname}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Record<string, unknown>, text };
}

/** Creates a grant through the API and returns its token. */
async function createViaApi(request: Record<string, unknown>): Promise<string> {
  const r = await api('POST', '/grants', request);
  expect(r.status, r.text).toBe(201);
  return String(r.body.token);
}

function connect(era: Era, token: string, server = 'feat') {
  return connectClient({
    era,
    downstream: { kind: 'http', url: `${gw.url}/mcp/${server}`, headers: { authorization: `Bearer ${token}` } },
  });
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/** A raw legacy request on /mcp/feat; `token` undefined sends no Authorization header. */
async function raw(message: unknown, token: string | undefined, session?: string): Promise<Response> {
  return fetch(`${gw.url}/mcp/feat`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(session ? { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' } : {}),
    },
    body: JSON.stringify(message),
  });
}

/** Opens a legacy session with raw HTTP and returns its id. */
async function openSession(token: string): Promise<string> {
  const init = await raw(INITIALIZE, token);
  await init.text();
  expect(init.status).toBe(200);
  const sid = init.headers.get('mcp-session-id')!;
  const initialized = await raw({ jsonrpc: '2.0', method: 'notifications/initialized' }, token, sid);
  await initialized.text();
  return sid;
}

const echoCall = (id: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message: 'x' } },
});

beforeAll(async () => {
  const home = grantsHome('gatehouse-grants-api-');
  dir = home.path;
  started = await startFileGateway(home, {
    listen: { host: '127.0.0.1', port: 0 },
    state: `sqlite:${path.join(dir, 'state.db')}`,
    audit: 'none',
    auth: {
      mode: 'grants',
      admin_token: ADMIN,
      admin_tokens: {
        managers: { token: MANAGER, role: 'policy_manager' },
        dashboards: { token: VIEWER, role: 'viewer' },
      },
    },
    limits: { max_body_bytes: MAX_BODY },
    servers: {
      feat: featureWith({
        version: '1',
        default: 'allow',
        tools: {
          echo: {
            deny_if: [
              { when: "'team' in grant.labels && grant.labels.team == 'red'", reason: 'The red team may not echo.' },
            ],
          },
        },
      }),
      other: featureWith({ version: '1', default: 'allow' }),
    },
    grants: { cfg: { token: CONFIG_TOKEN, servers: ['feat'], labels: { team: 'blue' } } },
  });
  ({ gateway: gw, file } = started);
});

afterAll(async () => {
  await started?.close();
});

describe('creating grants through the admin API', () => {
  it.each(ERAS)('%s: the token is answered once and works on /mcp/<server> at once', async (era) => {
    const r = await api('POST', '/grants', {
      name: `api-${era}`,
      servers: ['feat'],
      agent: 'bot',
      labels: { team: 'blue' },
      expires: '30d',
    });
    expect(r.status, r.text).toBe(201);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const token = String(r.body.token);
    expect(token).toMatch(/^gth_[A-Za-z0-9_-]{43}$/);
    expect(r.body.grant).toMatchObject({
      name: `api-${era}`,
      agent: 'bot',
      servers: ['feat'],
      labels: { team: 'blue' },
      status: 'active',
      source: 'store',
    });
    expect(JSON.stringify(r.body.grant)).not.toContain(token);
    expect(r.body.grant).not.toHaveProperty('token_hash');

    const c = await connect(era, token);
    expect(firstText((await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as CallToolResult)).toBe(
      'hi',
    );
    await c.close();
  });

  it('lists grants of the config and the store, marked by source, with no token and no hash', async () => {
    const token = await createViaApi({ name: 'listed', servers: ['feat', 'other'] });
    const hash = createHash('sha256').update(token).digest('hex');
    const list = await api('GET', '/grants', undefined, VIEWER);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(token);
    expect(list.text).not.toContain(hash);
    expect(list.text).not.toContain(CONFIG_TOKEN);
    const grants = list.body.grants as Record<string, unknown>[];
    for (const g of grants) expect(Object.keys(g).filter((k) => k.includes('token'))).toEqual([]);
    expect(grants).toContainEqual(expect.objectContaining({ name: 'cfg', source: 'config', status: 'active' }));
    expect(grants).toContainEqual(
      expect.objectContaining({ name: 'listed', source: 'store', status: 'active', servers: ['feat', 'other'] }),
    );
    const one = await api('GET', '/grants/listed', undefined, VIEWER);
    expect(one.body.grant).toMatchObject({ name: 'listed', source: 'store' });
    expect((await api('GET', '/grants/nobody')).status).toBe(404);
  });

  it.each([
    ['an unknown server', { name: 'x1', servers: ['nope'] }, 400, /unknown server\(s\) "nope"/],
    ['no server', { name: 'x2', servers: [] }, 400, /at least one server/],
    ['a bad name', { name: '-bad', servers: ['feat'] }, 400, /grant name must match/],
    ['a bad expiry', { name: 'x3', servers: ['feat'], expires: 'soon' }, 400, /expires/],
    ['an expiry in the past', { name: 'x4', servers: ['feat'], expires: '2020-01-01' }, 400, /past/],
    ['labels that are not an object', { name: 'x5', servers: ['feat'], labels: 'team=red' }, 400, /labels/],
    ['a label that is not text', { name: 'x6', servers: ['feat'], labels: { n: 1 } }, 400, /label values/],
    ['an unknown key', { name: 'x7', servers: ['feat'], token: 'mine' }, 400, /Unknown key "token"/],
    ['the name of a config grant', { name: 'cfg', servers: ['feat'] }, 409, /defined in the config file/],
    ['a policy outside the config folder', { name: 'x8', servers: ['feat'], policy: '../x.json' }, 400, /outside/],
    ['a policy that does not exist', { name: 'x9', servers: ['feat'], policy: 'none.json' }, 400, /cannot be read/],
  ])('refuses %s with a message saying what is wrong', async (_what, request, status, message) => {
    const r = await api('POST', '/grants', request);
    expect(r.status, r.text).toBe(status);
    expect(String(r.body.error)).toMatch(message);
    expect(r.body.token).toBeUndefined();
  });

  it('refuses a policy reached through a symbolic link in the config folder to a file outside it', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'gatehouse-outside-'));
    try {
      writeFileSync(path.join(outside, 'policy.json'), JSON.stringify({ version: '1', default: 'allow' }));
      symlinkSync(path.join(outside, 'policy.json'), path.join(dir, 'linked.json'));
      const r = await api('POST', '/grants', { name: 'linked', servers: ['feat'], policy: 'linked.json' });
      expect(r.status, r.text).toBe(400);
      expect(String(r.body.error)).toMatch(/outside the config file's folder/);
      expect((await api('GET', '/grants/linked')).status).toBe(404);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses a name taken before (409), a body that is not JSON (400) and one over limits.max_body_bytes (413)', async () => {
    await createViaApi({ name: 'taken', servers: ['feat'] });
    const again = await api('POST', '/grants', { name: 'taken', servers: ['feat'] });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('conflict');
    expect((await api('POST', '/grants', '{"name":')).status).toBe(400);
    const big = await api('POST', '/grants', { name: 'big', servers: ['feat'], agent: 'a'.repeat(MAX_BODY) });
    expect(big.status).toBe(413);
    expect((await api('GET', '/grants/big')).status).toBe(404);
  });

  it('refuses an expiry beyond what a date holds (400), and a stored grant with one does not break the list', async () => {
    for (const expires of ['99999999999d', 9_007_199_254_740_991]) {
      const far = await api('POST', '/grants', { name: 'far-future', servers: ['feat'], expires });
      expect(far.status, far.text).toBe(400);
      expect(String(far.body.error)).toMatch(/expires: too far in the future/);
    }
    expect((await api('GET', '/grants/far-future')).status).toBe(404);
    // A row stored before such expiries were refused.
    await gw.core.store.createGrant({
      name: 'stored-far',
      token_hash: createHash('sha256').update('stored-far-token').digest('hex'),
      agent: 'stored-far',
      servers: ['feat'],
      labels: {},
      created: Date.now(),
      expires: 8.64e21,
    });
    const list = await api('GET', '/grants');
    expect(list.status, list.text).toBe(200);
    expect(list.text).toContain('"stored-far"');
    const one = await api('GET', '/grants/stored-far');
    expect(one.status, one.text).toBe(200);
    expect(one.body.grant).not.toHaveProperty('expires');
    expect((await api('DELETE', '/grants/stored-far')).status).toBe(200);
  });

  it.each(ERAS)("%s: a grant's policy file (inside the config folder) replaces the server's", async (era) => {
    const token = await createViaApi({ name: `own-policy-${era}`, servers: ['feat'], policy: 'no-echo.json' });
    const c = await connect(era, token);
    const r = (await c.client.callTool({ name: 'echo', arguments: { message: 'x' } })) as CallToolResult;
    expect(firstText(r)).toBe('[POLICY DENIED] Not for this grant.');
    await c.close();
  });
});

describe('revoking grants through the admin API', () => {
  it.each(ERAS)('%s: the next request with the token is 401, also in a session it opened', async (era) => {
    const token = await createViaApi({ name: `gone-${era}`, servers: ['feat'] });
    const c = await connect(era, token);
    expect(firstText((await c.client.callTool({ name: 'echo', arguments: { message: 'a' } })) as CallToolResult)).toBe(
      'a',
    );
    const r = await api('DELETE', `/grants/gone-${era}`);
    expect(r.status, r.text).toBe(200);
    expect(r.body.grant).toMatchObject({ name: `gone-${era}`, status: 'revoked' });
    await expect(c.client.callTool({ name: 'echo', arguments: { message: 'b' } })).rejects.toThrow(
      /401|revoked|Unauthorized/i,
    );
    await c.close().catch(() => {});
  });

  it('a legacy session opened before the revocation answers 401 on its next request', async () => {
    const token = await createViaApi({ name: 'gone-raw', servers: ['feat'] });
    const sid = await openSession(token);
    const before = await raw(echoCall(2), token, sid);
    await before.text();
    expect(before.status).toBe(200);
    expect((await api('DELETE', '/grants/gone-raw')).status).toBe(200);
    const after = await raw(echoCall(3), token, sid);
    expect(after.status).toBe(401);
    expect(await after.text()).toContain('revoked');
    // Its GET stream and DELETE are refused too.
    const stream = await fetch(`${gw.url}/mcp/feat`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, 'mcp-session-id': sid },
    });
    await stream.body?.cancel();
    expect(stream.status).toBe(401);
  });

  it('revoking twice is 409, an unknown grant 404, a config grant 409 with a message saying where to change it', async () => {
    await createViaApi({ name: 'twice', servers: ['feat'] });
    expect((await api('DELETE', '/grants/twice')).status).toBe(200);
    const again = await api('DELETE', '/grants/twice');
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('already_revoked');
    expect((await api('DELETE', '/grants/nobody')).status).toBe(404);
    const config = await api('DELETE', '/grants/cfg');
    expect(config.status).toBe(409);
    expect(config.body).toMatchObject({ code: 'config_grant' });
    expect(String(config.body.error)).toMatch(/defined in the config file: remove it there/);
    // The config grant still works.
    const c = await connect('legacy', CONFIG_TOKEN);
    expect(await c.callText('echo', { message: 'still' })).toBe('still');
    await c.close();
  });
});

describe('who may manage grants', () => {
  it.each([
    ['a viewer', VIEWER, 'kept-from-viewer'],
    ['a policy manager', MANAGER, 'kept-from-manager'],
  ])('%s can list grants but neither create nor revoke one (403)', async (_who, token, kept) => {
    expect((await api('GET', '/grants', undefined, token)).status).toBe(200);
    const create = await api('POST', '/grants', { name: 'not-allowed', servers: ['feat'] }, token);
    expect(create.status).toBe(403);
    expect(create.body.token).toBeUndefined();
    expect((await api('GET', '/grants/not-allowed')).status).toBe(404);
    const token2 = await createViaApi({ name: kept, servers: ['feat'] });
    const revoke = await api('DELETE', `/grants/${kept}`, undefined, token);
    expect(revoke.status).toBe(403);
    expect((await api('GET', `/grants/${kept}`)).body.grant).toMatchObject({ status: 'active' });
    const c = await connect('legacy', token2);
    expect(await c.callText('echo', { message: 'kept' })).toBe('kept');
    await c.close();
  });
});

describe('sessions belong to the principal that opened them', () => {
  it('a legacy session id presented with no token is 401, on POST, GET and DELETE', async () => {
    const token = await createViaApi({ name: 'session-owner', servers: ['feat'] });
    const sid = await openSession(token);
    const post = await raw(echoCall(2), undefined, sid);
    await post.text();
    expect(post.status).toBe(401);
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${gw.url}/mcp/feat`, {
        method,
        headers: { accept: 'text/event-stream', 'mcp-session-id': sid },
      });
      await res.body?.cancel();
      expect(res.status, method).toBe(401);
    }
    // The session is intact for its owner.
    const owner = await raw(echoCall(3), token, sid);
    expect(owner.status).toBe(200);
    expect(await owner.text()).toContain('"text":"x"');
  });

  it("legacy SSE: another grant's token on the session's /messages URL is refused, no token is 401", async () => {
    const a = await createViaApi({ name: 'sse-owner', servers: ['feat'] });
    const b = await createViaApi({ name: 'sse-intruder', servers: ['feat'] });
    const abort = new AbortController();
    const stream = await fetch(`${gw.url}/sse/feat`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${a}` },
      signal: abort.signal,
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    let endpoint: string | undefined;
    while (endpoint === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the SSE stream ended before naming its endpoint: ${seen}`);
      seen += value;
      endpoint = /event: endpoint\ndata: (\S+)\n/.exec(seen)?.[1];
    }
    const send = (token: string | undefined) =>
      fetch(`${gw.url}${endpoint}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(INITIALIZE),
      });
    const intruder = await send(b);
    await intruder.text();
    expect(intruder.status).toBe(404);
    const anonymous = await send(undefined);
    await anonymous.text();
    expect(anonymous.status).toBe(401);
    const owner = await send(a);
    await owner.text();
    expect(owner.status).toBe(202);
    // The owner's answer arrives on the stream; the intruder's message never reached the session.
    while (!/"id":1/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    expect(seen.match(/"serverInfo"/g)).toHaveLength(1);
    abort.abort();
  });

  it('a 2026-07-28 requestState issued to one grant is refused when another grant presents it', async () => {
    const a = await createViaApi({ name: 'state-owner', servers: ['feat'] });
    const b = await createViaApi({ name: 'state-intruder', servers: ['feat'] });
    const call = (id: number, extra: Record<string, unknown> = {}) =>
      modernRequest(id, 'tools/call', { name: 'ask_name', arguments: {}, ...extra }, { elicitation: { form: {} } });
    const first = await postModern(`${gw.url}/mcp/feat`, call(1), { authorization: `Bearer ${a}` });
    const result = first.messages.at(-1)?.result as Record<string, unknown>;
    expect(result.resultType).toBe('input_required');
    const requestState = String(result.requestState);
    expect(requestState).toMatch(/^gh1\./);
    const key = Object.keys(result.inputRequests as object)[0]!;
    const retry = call(2, { requestState, inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } } });
    const stolen = await postModern(`${gw.url}/mcp/feat`, retry, { authorization: `Bearer ${b}` });
    expect(stolen.messages.at(-1)?.error).toMatchObject({ code: -32602 });
    expect(String((stolen.messages.at(-1)?.error as { message: string }).message)).toMatch(/requestState/);
    const own = await postModern(`${gw.url}/mcp/feat`, { ...retry, id: 3 }, { authorization: `Bearer ${a}` });
    expect((own.messages.at(-1)?.result as CallToolResult).content).toEqual([{ type: 'text', text: 'hello Ada' }]);
  });
});

describe('labels of a grant made with the command line', () => {
  it.each(ERAS)('%s: reach grant.labels in a policy condition at the gateway', async (era) => {
    const create = async (name: string, team: string) => {
      const run = await runCli([
        'grants',
        'create',
        name,
        '--server',
        'feat',
        '--label',
        `team=${team}`,
        '-c',
        file,
        '--json',
      ]);
      expect(run.code, run.stderr).toBe(0);
      return (JSON.parse(run.stdout) as { token: string }).token;
    };
    const red = await connect(era, await create(`red-${era}`, 'red'));
    const denied = (await red.client.callTool({ name: 'echo', arguments: { message: 'x' } })) as CallToolResult;
    expect(firstText(denied)).toBe('[POLICY DENIED] The red team may not echo.');
    expect(denied.isError).toBe(true);
    await red.close();
    const blue = await connect(era, await create(`blue-${era}`, 'blue'));
    expect(await blue.callText('echo', { message: 'ok' })).toBe('ok');
    await blue.close();
  });

  it('and POST /api/v1/policy/explain finds the grant by name and explains the same decision', async () => {
    const run = await runCli([
      'grants',
      'create',
      'red-explained',
      '--server',
      'feat',
      '--label',
      'team=red',
      '-c',
      file,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const r = await api('POST', '/policy/explain', { server: 'feat', tool: 'echo', grant: 'red-explained' }, VIEWER);
    expect(r.status, r.text).toBe(200);
    expect(r.body.explanation).toMatchObject({
      verdict: 'deny',
      rule: '/tools/echo/deny_if/0/when',
      reason: 'The red team may not echo.',
      call: { grant: { name: 'red-explained', labels: { team: 'red' } } },
    });
    const other = await api('POST', '/policy/explain', { server: 'other', tool: 'echo', grant: 'red-explained' });
    expect(other.body.notes).toContainEqual(expect.stringContaining('may not use server other'));
    expect((await api('DELETE', '/grants/red-explained')).status).toBe(200);
    const revoked = await api('POST', '/policy/explain', { server: 'feat', tool: 'echo', grant: 'red-explained' });
    expect(revoked.body.notes).toContainEqual(expect.stringContaining('is revoked'));
  });

  it('and gatehouse policy explain --grant finds it in the state store too', async () => {
    const made = await runCli(['grants', 'create', 'red-cli', '--server', 'feat', '--label', 'team=red', '-c', file]);
    expect(made.code, made.stderr).toBe(0);
    const run = await runCli(['policy', 'explain', 'feat', 'echo', '--grant', 'red-cli', '--json', '-c', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      explanation: {
        verdict: 'deny',
        reason: 'The red team may not echo.',
        call: { grant: { labels: { team: 'red' } } },
      },
    });
    const unknown = await runCli(['policy', 'explain', 'feat', 'echo', '--grant', 'nobody', '-c', file]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /unknown grant "nobody"; configured grants: cfg; created with gatehouse grants: .*red-cli/,
    );
  }, 60_000);
});

describe('gatehouse stdio --grant', () => {
  /** A `gatehouse stdio feat` process with the grant token; initialized. */
  async function stdio(token: string): Promise<StdioPeer> {
    const peer = StdioPeer.spawn(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, 'stdio', 'feat', '-c', file], {
      GATEHOUSE_GRANT: token,
      GATEHOUSE_CONFIG: '',
    });
    peer.send(INITIALIZE);
    expect((await peer.response(1, 30_000)).result).toBeDefined();
    peer.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return peer;
  }

  it('stops working from the next request on once the grant is revoked', async () => {
    const token = await createViaApi({ name: 'stdio-revoked', servers: ['feat'] });
    const peer = await stdio(token);
    try {
      peer.send(echoCall(2));
      expect(await peer.response(2)).toMatchObject({ result: { content: [{ type: 'text', text: 'x' }] } });
      expect((await api('DELETE', '/grants/stdio-revoked')).status).toBe(200);
      peer.send(echoCall(3));
      const refused = await peer.response(3);
      expect(refused.error).toMatchObject({ code: -32600 });
      expect(String((refused.error as { message: string }).message)).toMatch(/Unauthorized: .*revoked/);
      expect(peer.stderr).toContain('--grant refused');
    } finally {
      await peer.close();
    }
  }, 60_000);

  it("decides each message with the grant's policy file as it is now: rewritten to deny, the next call after it is read again is denied", async () => {
    const policyFile = path.join(dir, 'stdio-policy.json');
    writeFileSync(policyFile, JSON.stringify({ version: '1', default: 'allow' }));
    const token = await createViaApi({ name: 'stdio-reread', servers: ['feat'], policy: 'stdio-policy.json' });
    const peer = await stdio(token);
    try {
      peer.send(echoCall(2));
      expect(await peer.response(2)).toMatchObject({ result: { content: [{ type: 'text', text: 'x' }] } });
      writeFileSync(
        policyFile,
        JSON.stringify({
          version: '1',
          default: 'allow',
          tools: { echo: { action: 'deny', reason: 'Echo is off now.' } },
        }),
      );
      // A grant's policy file is read again at most once a second.
      await new Promise((r) => setTimeout(r, 1_300));
      peer.send(echoCall(3));
      expect(await peer.response(3)).toMatchObject({
        result: { isError: true, content: [{ type: 'text', text: '[POLICY DENIED] Echo is off now.' }] },
      });
    } finally {
      await peer.close();
    }
  }, 60_000);

  it('stops working once the grant expires', async () => {
    // Long enough for the process to start and serve one call first, even on a loaded machine
    // (it loads the CLI from source; 10 s was once not enough while other suites ran).
    const expiry = new Date(Date.now() + 20_000).toISOString();
    const token = await createViaApi({ name: 'stdio-expiring', servers: ['feat'], expires: expiry });
    const peer = await stdio(token);
    try {
      peer.send(echoCall(2));
      expect(await peer.response(2)).toMatchObject({ result: { content: [{ type: 'text', text: 'x' }] } });
      const grant = (await api('GET', '/grants/stdio-expiring')).body.grant as { expires: string };
      const expires = Date.parse(grant.expires);
      await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now()) + 200));
      peer.send(echoCall(3));
      const refused = await peer.response(3);
      expect(String((refused.error as { message: string }).message)).toMatch(/expired/);
    } finally {
      await peer.close();
    }
  }, 60_000);
});
