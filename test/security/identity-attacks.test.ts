// Attacks on who a caller is: a grant created at run time whose name a config grant takes later
// (its token must not become a second key to that grant's principal), what a refused grant's 401
// tells the agent about the operator's files, what the admin API quotes back from a file named as
// a grant's policy, and a grant checked again when a call goes on after waiting. Real gateways on
// loopback, a real SQLite state store, raw HTTP so that the wire is as written.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGrant, revokeGrant } from '../../src/identity/create-grant.js';
import { GrantRegistry } from '../../src/identity/grants.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openStore } from '../../src/store/open-store.js';
import { EPHEMERAL, featureEntry, startFileGateway, tempDir, type FileGateway } from '../helpers/gateway.js';
import { post, type JsonObject } from '../helpers/wire.js';
import { sleep } from '../helpers/wait.js';

const ADMIN = 'identity-attacks-admin-41c7';
const CONFIG_BOB = 'identity-attacks-config-bob-93aa';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'identity-attacks', version: '1' } },
};

const echo = (id: number, message = `call ${id}`): JsonObject => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message } },
});

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: JsonObject }> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { ...bearer(ADMIN), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as JsonObject };
}

describe('a stored grant whose name a config grant takes later', () => {
  let started: FileGateway;
  let storedToken: string;

  beforeAll(async () => {
    const home = tempDir('gatehouse-identity-clash-');
    const state = `sqlite:${join(home.path, 'state.db')}`;
    // "bob" is created at run time first; the operator later adds a grant "bob" to the config file.
    const store = openStore(state, home.path);
    const created = await createGrant(
      { name: 'bob', servers: ['feat'] },
      { store, servers: ['feat'], configGrants: new Set(), baseDir: home.path },
    );
    await store.close();
    if (!created.ok) throw new Error(created.message);
    storedToken = created.token;
    started = await startFileGateway(home, {
      ...EPHEMERAL,
      state,
      auth: { mode: 'grants', admin_token: ADMIN },
      servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
      grants: { bob: { token: CONFIG_BOB, servers: ['feat'] } },
    });
  });
  afterAll(async () => {
    await started?.close();
  });

  it("the stored grant's token is refused: it can neither act as the config grant nor join its sessions", async () => {
    const url = `${started.gateway.url}/mcp/feat`;
    const init = await post(url, INITIALIZE, bearer(CONFIG_BOB));
    expect(init.status).toBe(200);
    const sid = init.headers.get('mcp-session-id')!;
    await post(
      url,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { ...bearer(CONFIG_BOB), 'mcp-session-id': sid },
    );
    const session = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };

    const intruder = await post(url, echo(2, 'from the stored token'), { ...bearer(storedToken), ...session });
    expect(intruder.status).toBe(401);
    expect(intruder.text).toContain('defined in the config file');
    expect((await post(url, INITIALIZE, bearer(storedToken))).status).toBe(401);
    // Before, that token worked and could not be revoked either: the name is the config file's.
    expect((await api(started.gateway.url, 'DELETE', '/grants/bob')).status).toBe(409);
    // The config grant itself goes on working.
    const own = await post(url, echo(3, 'config bob'), { ...bearer(CONFIG_BOB), ...session });
    expect(own.status).toBe(200);
    expect(own.text).toContain('config bob');
  });
});

describe('a stored grant whose policy file stops compiling', () => {
  let started: FileGateway;

  beforeAll(async () => {
    started = await startFileGateway('gatehouse-identity-policy-', {
      ...EPHEMERAL,
      auth: { mode: 'grants', admin_token: ADMIN },
      servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
    });
  });
  afterAll(async () => {
    await started?.close();
  });

  it("the agent's 401 names neither the policy file nor anything in it", async () => {
    const file = started.dir.write('agent-policy.json', { version: '1', default: 'allow' });
    const created = await api(started.gateway.url, 'POST', '/grants', {
      name: 'agent-x',
      servers: ['feat'],
      policy: 'agent-policy.json',
    });
    expect(created.status).toBe(201);
    const token = String(created.body.token);
    const url = `${started.gateway.url}/mcp/feat`;
    expect((await post(url, INITIALIZE, bearer(token))).status).toBe(200);

    started.dir.write('agent-policy.json', { version: '1', default: 'op-secret-7f2' });
    await sleep(1100); // a stored grant's policy file is looked at again at most once a second
    const refused = await post(url, INITIALIZE, bearer(token));
    expect(refused.status).toBe(401);
    expect(refused.text).toContain('agent-x');
    const told = `${refused.text}\n${refused.headers.get('www-authenticate') ?? ''}`;
    expect(told).not.toContain('op-secret-7f2');
    expect(told).not.toContain(file);
    expect(told).not.toContain(started.dir.path);
  });
});

describe('the admin API naming a file in the config folder as a grant policy', () => {
  let started: FileGateway;

  beforeAll(async () => {
    started = await startFileGateway('gatehouse-identity-quote-', {
      ...EPHEMERAL,
      auth: { mode: 'grants', admin_token: ADMIN },
      servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
    });
  });
  afterAll(async () => {
    await started?.close();
  });

  it.each([
    ['a file holding one secret', 'github-token', 'ghp_0123456789abcdefghijABCDEFGHIJ0123', 'ghp_0123456789'],
    ['an .env file', '.env', 'API_KEY=sk-live-4f9a2c', 'sk-live-4f9a2c'],
    [
      'a document with a secret where a policy has a field',
      'values.yaml',
      'version: "1"\ndefault: pw-9c1e77',
      'pw-9c1e77',
    ],
  ])(
    'the refusal of %s names where it is invalid but does not quote what the file holds',
    async (_what, name, content, secret) => {
      started.dir.write(name, content);
      const r = await api(started.gateway.url, 'POST', '/grants', {
        name: `quote-${name.replace(/[^a-z]/g, '')}`,
        servers: ['feat'],
        policy: name,
      });
      expect(r.status).toBe(400);
      expect(String(r.body.error)).toMatch(/is invalid at \/.*gatehouse policy check/);
      expect(String(r.body.error)).not.toContain(secret);
    },
  );
});

describe('a grant checked again when a call goes on after waiting', () => {
  it('refusalNow says a stored grant revoked or expired since it authenticated is refused, and passes one in force', async () => {
    const store = new MemoryStore();
    let now = Date.now();
    const registry = new GrantRegistry(
      { cfg: { token: CONFIG_BOB, servers: ['feat'], labels: {} } },
      () => undefined,
      store,
    );
    const ctx = { store, servers: ['feat'], configGrants: new Set(['cfg']), baseDir: process.cwd(), now };
    const kept = await createGrant({ name: 'kept', servers: ['feat'] }, ctx);
    const gone = await createGrant({ name: 'gone', servers: ['feat'] }, ctx);
    const brief = await createGrant({ name: 'brief', servers: ['feat'], expires: '60s' }, ctx);
    if (!kept.ok || !gone.ok || !brief.ok) throw new Error('grants not created');
    const as = async (token: string) => {
      const auth = await registry.authenticate(`Bearer ${token}`, now);
      if (!auth.ok) throw new Error(auth.reason);
      return auth.identity;
    };
    const [k, g, b, c] = await Promise.all([as(kept.token), as(gone.token), as(brief.token), as(CONFIG_BOB)]);
    expect((await revokeGrant('gone', { store, configGrants: ctx.configGrants, now: now + 1 })).ok).toBe(true);
    now += 61_000;
    expect(await registry.refusalNow(k, now)).toBeUndefined();
    expect(await registry.refusalNow(c, now)).toBeUndefined();
    expect(await registry.refusalNow(g, now)).toBe('The grant "gone" has been revoked.');
    expect(await registry.refusalNow(b, now)).toBe('The grant "brief" has expired.');
    expect(await registry.refusalNow({ principal: 'anonymous' }, now)).toBeUndefined();
  });
});

describe('a call held for approval whose grant is revoked while it waits', () => {
  let started: FileGateway;

  beforeAll(async () => {
    started = await startFileGateway(
      'gatehouse-identity-held-',
      {
        ...EPHEMERAL,
        auth: { mode: 'grants', admin_token: ADMIN },
        servers: {
          feat: featureEntry({
            policy: {
              version: '1',
              default: 'allow',
              tools: { echo: { action: 'require_approval', approval: { mode: 'hold', timeout: '1m' } } },
            },
          }),
        },
      },
      // The periodic check of open sessions out of the way: the store revocation below must reach
      // the held call through the approval, not through the session ending first.
      { grantCheckMs: 3_600_000 },
    );
  });
  afterAll(async () => {
    await started?.close();
  });

  /** Opens a session under a new grant `name` and holds an echo call in it; the call's answer and its approval id. */
  async function holdCall(
    name: string,
  ): Promise<{ held: Promise<{ status: number; text: string }>; approval: string }> {
    const base = started.gateway.url;
    const created = await api(base, 'POST', '/grants', { name, servers: ['feat'] });
    expect(created.status).toBe(201);
    const token = String(created.body.token);
    const url = `${base}/mcp/feat`;
    const init = await post(url, INITIALIZE, bearer(token));
    expect(init.status).toBe(200);
    const session = {
      ...bearer(token),
      'mcp-session-id': init.headers.get('mcp-session-id')!,
      'mcp-protocol-version': '2025-06-18',
    };
    await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session);
    const held = post(url, echo(7, 'after revoke'), session);
    let pending: JsonObject[] = [];
    for (let i = 0; i < 100 && pending.length === 0; i++) {
      await sleep(50);
      pending = ((await api(base, 'GET', `/approvals?status=pending`)).body.approvals ?? []) as JsonObject[];
      pending = pending.filter((a) => a.grant === name);
    }
    expect(pending).toHaveLength(1);
    return { held, approval: String(pending[0]!.id) };
  }

  it('revoked in the state store (as the CLI does, from another process): refused when a person approves it after, and never reaches the server', async () => {
    const base = started.gateway.url;
    const { held, approval } = await holdCall('held');
    // Not through this gateway's API, so its open session is looked at only at the next periodic check.
    await started.gateway.core.store.revokeGrant('held', Date.now());
    expect((await api(base, 'POST', `/approvals/${approval}/approve`, {})).status).toBe(200);

    const answer = await held;
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('[POLICY DENIED]');
    expect(answer.text).toContain('The grant \\"held\\" has been revoked.');
    expect(answer.text).not.toContain('"text":"after revoke"');
  });

  it('revoked through the admin API: its session ends at once, the call is withdrawn and told why, and never reaches the server', async () => {
    const base = started.gateway.url;
    const { held, approval } = await holdCall('held-api');
    expect((await api(base, 'DELETE', '/grants/held-api')).status).toBe(200);
    const answer = await held;
    expect(answer.status).toBe(200);
    expect(answer.text).toContain(
      'The session ended before this request\'s answer was sent: The grant \\"held-api\\" has been revoked.',
    );
    expect(answer.text).not.toContain('"text":"after revoke"');
    const after = await api(base, 'GET', `/approvals/${approval}`);
    expect(after.body.approval).toMatchObject({ status: 'withdrawn' });
    expect((await api(base, 'POST', `/approvals/${approval}/approve`, {})).status).toBe(409);
  });
});
