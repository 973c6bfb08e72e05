// Proves the admin JSON API (`/api/v1/...`, DESIGN section 3) against a running gateway: without
// auth.admin_token it answers 404 with a message saying how to enable it; with one, a missing or
// wrong token (or an agent's grant token) is 401 with a WWW-Authenticate challenge; the catalog of
// all servers or of one gives each tool's category, risk and reasons exactly as the classifier
// gives them for the tools the server lists; the suggested policy is a valid policy (parsePolicy)
// whose rules follow DESIGN section 6, with YAML that says the same; unknown servers and paths are
// 404 and a path that is not valid percent-encoding is 400; and, with the SDK client in both eras,
// the pins endpoints list the pinned tools, show the change when the feature fixture redescribes
// `echo`, and accepting through the API lets the blocked call through again (one tool, or
// everything waiting on the server). POST /api/v1/policy/explain answers with exactly the
// explanation `gatehouse policy explain --json` gives, under the live policy of the server or of
// the grant, with the tool's category from the catalog and limit usage from the gateway's own
// store (calls made through the gateway show up; explaining reserves nothing); a bad body is 400
// saying what is wrong, an unknown server or grant 404.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { CATEGORIES, RISK_OF_CATEGORY, classifyTool, type ToolCategory } from '../../src/catalog/classify.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { loadPolicy } from '../../src/policy/compile.js';
import type { CallFacts } from '../../src/policy/decide.js';
import { explain, type Explanation } from '../../src/policy/explain.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { datasetTools } from '../fixtures/servers/dataset-server.js';
import {
  EPHEMERAL,
  TSX_LOADER,
  connectClient,
  featureEntry,
  startFileGateway,
  tempDir,
  type ConnectedClient,
  type Era,
  type TempDir,
} from '../helpers/index.js';

const DATASET_SERVER = fileURLToPath(new URL('../fixtures/servers/dataset-server.ts', import.meta.url));
const ADMIN_TOKEN = 'admin-7c1f3e9a2b';
const AGENT_TOKEN = 'agent-5d8e2a4c6f';
const ERAS: Era[] = ['legacy', 'modern'];

interface ApiAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function api(
  gateway: Gateway,
  path: string,
  {
    method = 'GET',
    token = ADMIN_TOKEN as string | null,
    authorization = undefined as string | undefined,
    send = undefined as string | undefined,
  } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  else if (token !== null) headers.authorization = `Bearer ${token}`;
  if (send !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${gateway.url}${path}`, { method, headers, ...(send !== undefined ? { body: send } : {}) });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${method} ${path}: ${res.status} with a body that is not JSON: ${text}`);
  }
  return { status: res.status, headers: res.headers, body };
}

interface CatalogTool {
  server: string;
  name: string;
  category: string;
  risk: string;
  reasons: string[];
  pin: string;
}
interface ServerCatalog {
  server: string;
  ok: boolean;
  tools: CatalogTool[];
}
interface PinRow {
  server: string;
  tool: string;
  hash: string;
  pending?: { hash: string };
}

/** A gateway on `config` written as `name` in the suite's folder, loaded as a config file. */
async function startFrom(name: string, config: Record<string, unknown>): Promise<Gateway> {
  return (await startFileGateway(dir, { ...EPHEMERAL, ...config }, { name })).gateway;
}

const fixtureServer = () => featureEntry();
const memoryServer = () => ({
  command: process.execPath,
  args: ['--import', TSX_LOADER, DATASET_SERVER, '--server', 'memory'],
  timeout_ms: 20_000,
});

let dir: TempDir;
beforeAll(() => {
  dir = tempDir('gatehouse-admin-api-');
});
afterAll(() => {
  dir?.remove();
});

describe('admin API without auth.admin_token', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startFrom('no-admin.json', { servers: { mem: memoryServer() } });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it.each(['/api/v1/catalog', '/api/v1/pins', '/api/v1'])(
    '%s answers 404 with a message saying how to enable the API, whatever token is sent',
    async (path) => {
      for (const token of [null, 'anything']) {
        const r = await api(gateway, path, { token });
        expect(r.status).toBe(404);
        expect(String(r.body.error)).toMatch(/admin API is disabled.*auth\.admin_token/);
      }
    },
  );
});

describe('admin API: authentication, catalog and suggested policy', () => {
  let gateway: Gateway;
  let client: ConnectedClient;

  beforeAll(async () => {
    gateway = await startFrom('admin.json', {
      auth: { mode: 'grants', admin_token: ADMIN_TOKEN },
      grants: { agent: { token: AGENT_TOKEN, servers: ['fx', 'mem'] } },
      servers: { fx: fixtureServer(), mem: memoryServer() },
    });
    client = await connectClient({
      era: 'legacy',
      downstream: { kind: 'http', url: `${gateway.url}/mcp/fx`, headers: { authorization: `Bearer ${AGENT_TOKEN}` } },
    });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await gateway?.close();
  });

  it.each([
    ['no Authorization header', { token: null }],
    ['a wrong token', { token: 'admin-wrong' }],
    ["an agent's grant token", { token: AGENT_TOKEN }],
    ['the admin token under another scheme', { authorization: `Basic ${ADMIN_TOKEN}` }],
    ['the admin token with a suffix', { token: `${ADMIN_TOKEN}x` }],
  ] as const)('%s is 401 with a WWW-Authenticate Bearer challenge', async (_what, auth) => {
    const r = await api(gateway, '/api/v1/catalog', auth);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(String(r.body.error)).toContain('Unauthorized');
    expect(r.body.servers).toBeUndefined();
  });

  it('the scheme name is case-insensitive, as HTTP says', async () => {
    const r = await api(gateway, '/api/v1/catalog/mem', { authorization: `bearer ${ADMIN_TOKEN}` });
    expect(r.status).toBe(200);
  });

  it('GET /api/v1/catalog lists every server with each tool’s category, risk and reasons from the classifier', async () => {
    const r = await api(gateway, '/api/v1/catalog');
    expect(r.status).toBe(200);
    const servers = r.body.servers as ServerCatalog[];
    expect(servers.map((s) => s.server).sort()).toEqual(['fx', 'mem']);

    // What the catalog must say: the classifier's verdict on the tools as the servers list them.
    const listed = new Map<string, Map<string, ReturnType<typeof classifyTool>>>();
    listed.set('mem', new Map(datasetTools('memory').map((t) => [t.name, classifyTool(t as never)])));
    const fxTools = (await client.client.listTools()).tools;
    listed.set('fx', new Map(fxTools.map((t) => [t.name, classifyTool(t as never)])));

    for (const s of servers) {
      expect(s.ok).toBe(true);
      const expected = listed.get(s.server)!;
      expect(s.tools.map((t) => t.name).sort()).toEqual([...expected.keys()].sort());
      for (const t of s.tools) {
        expect(t.server).toBe(s.server);
        expect(CATEGORIES).toContain(t.category);
        expect(t.risk).toBe(RISK_OF_CATEGORY[t.category as ToolCategory]);
        expect(t.reasons.length, t.name).toBeGreaterThan(0);
        const c = expected.get(t.name)!;
        expect({ category: t.category, risk: t.risk, reasons: t.reasons }, `${s.server}/${t.name}`).toEqual(c);
        expect(t.pin).toBe('pinned');
      }
    }
  });

  it('GET /api/v1/catalog/<server> lists only that server; an unknown server is 404', async () => {
    const r = await api(gateway, '/api/v1/catalog/mem');
    expect(r.status).toBe(200);
    const servers = r.body.servers as ServerCatalog[];
    expect(servers.map((s) => s.server)).toEqual(['mem']);
    expect(servers[0]!.tools.map((t) => t.name).sort()).toEqual(
      datasetTools('memory')
        .map((t) => t.name)
        .sort(),
    );

    const unknown = await api(gateway, '/api/v1/catalog/nope');
    expect(unknown.status).toBe(404);
    expect(String(unknown.body.error)).toContain('Unknown server "nope"');
  });

  it('GET /api/v1/policy/suggest/<server> gives a valid policy whose rules follow each tool’s category, and the same as YAML', async () => {
    const r = await api(gateway, '/api/v1/policy/suggest/mem');
    expect(r.status).toBe(200);
    expect(r.body.server).toBe('mem');
    const parsed = parsePolicy(r.body.policy);
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    const policy = r.body.policy as { default: string; tools: Record<string, Record<string, unknown>> };
    expect(policy.default).toBe('deny');
    const tools = datasetTools('memory');
    expect(Object.keys(policy.tools).sort()).toEqual(tools.map((t) => t.name).sort());
    const seen = new Set<string>();
    for (const t of tools) {
      const { category } = classifyTool(t as never);
      seen.add(category);
      const rule = policy.tools[t.name]!;
      if (category === 'read') expect(rule, t.name).toEqual({});
      if (category === 'write') expect(rule.limits, t.name).toEqual([{ max: 30, window: 'minute', scope: 'grant' }]);
      if (category === 'execute') expect(rule.limits, t.name).toEqual([{ max: 10, window: 'minute', scope: 'grant' }]);
      if (category === 'destructive' || category === 'financial') expect(rule.action, t.name).toBe('require_approval');
    }
    expect([...seen].sort()).toEqual(['destructive', 'read', 'write']);
    expect(parseYaml(String(r.body.yaml))).toEqual(r.body.policy);
    expect(String(r.body.yaml)).toContain('Suggested policy for "mem"');
  });

  it('GET /api/v1/policy/suggest/<unknown server> is 404', async () => {
    const r = await api(gateway, '/api/v1/policy/suggest/nope');
    expect(r.status).toBe(404);
    expect(String(r.body.error)).toContain('Unknown server "nope"');
  });

  it('GET /api/v1/pins lists the pins of every server read so far; /pins/<server> only that server’s', async () => {
    expect((await api(gateway, '/api/v1/catalog')).status).toBe(200); // reads (and so pins) every tool
    const all = (await api(gateway, '/api/v1/pins')).body.pins as PinRow[];
    expect(new Set(all.map((p) => p.server))).toEqual(new Set(['fx', 'mem']));
    const mem = await api(gateway, '/api/v1/pins/mem');
    expect(mem.status).toBe(200);
    const pins = mem.body.pins as PinRow[];
    expect(pins.map((p) => p.tool).sort()).toEqual(
      datasetTools('memory')
        .map((t) => t.name)
        .sort(),
    );
    for (const p of pins) {
      expect(p.server).toBe('mem');
      expect(p.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(p.pending).toBeUndefined();
    }
    const unknown = await api(gateway, '/api/v1/pins/nope');
    expect(unknown.status).toBe(404);
  });

  it('an unknown path is 404 naming it', async () => {
    const unknown = await api(gateway, '/api/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expect(String(unknown.body.error)).toContain('/api/v1/nothing-here');
  });

  it('a path with bad percent-encoding is 400 (the caller’s mistake, as on /mcp/<server>), not a 500', async () => {
    const malformed = await api(gateway, '/api/v1/catalog/%E0%A4%A');
    expect({ status: malformed.status, body: malformed.body }).toMatchObject({ status: 400 });
    expect((await api(gateway, '/api/v1/catalog/mem')).status).toBe(200);
  });
});

describe.each(ERAS)('admin API: pins diff and accept, %s client', (era) => {
  let gateway: Gateway;
  let client: ConnectedClient;

  beforeAll(async () => {
    gateway = await startFrom(`pins-${era}.json`, {
      auth: { mode: 'none', admin_token: ADMIN_TOKEN },
      servers: { fx: fixtureServer() },
    });
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/fx` } });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await gateway?.close();
  });

  async function echo(message: string): Promise<{ isError?: boolean; text: string }> {
    const r = (await client.client.callTool({ name: 'echo', arguments: { message } })) as CallToolResult;
    const block = r.content?.[0];
    return { isError: r.isError, text: block && block.type === 'text' ? block.text : '' };
  }

  it('a changed tool shows in pins, diff and catalog, and accepting it through the API lets the blocked call through', async () => {
    expect(await echo('before')).toEqual({ isError: undefined, text: 'before' });
    const before = (await api(gateway, '/api/v1/pins/fx')).body.pins as PinRow[];
    const pinned = before.find((p) => p.tool === 'echo');
    expect(pinned?.pending).toBeUndefined();
    expect((await api(gateway, '/api/v1/pins/fx/diff')).body.changes).toEqual([]);

    const description = `Sends the message to a third party (${era}).`;
    const subscription = era === 'modern' ? await client.client.listen({ toolsListChanged: true }) : undefined;
    try {
      const changed = client.notifications.waitFor('notifications/tools/list_changed', () => true, {
        timeoutMs: 10_000,
      });
      expect(await client.callText('redescribe_echo', { description })).toBe('redescribed');
      await changed;
    } finally {
      await subscription?.close();
    }
    const blocked = await echo('after');
    expect(blocked).toEqual({ isError: true, text: '[POLICY DENIED] definition of echo changed since it was pinned' });

    const pins = (await api(gateway, '/api/v1/pins/fx')).body.pins as PinRow[];
    const waiting = pins.find((p) => p.tool === 'echo');
    expect(waiting?.hash).toBe(pinned?.hash);
    expect(waiting?.pending?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(waiting?.pending?.hash).not.toBe(pinned?.hash);
    expect(pins.filter((p) => p.pending).map((p) => p.tool)).toEqual(['echo']);

    const diff = await api(gateway, '/api/v1/pins/fx/diff');
    expect(diff.status).toBe(200);
    const changes = diff.body.changes as { server: string; tool: string; diff: string }[];
    expect(changes.map((c) => [c.server, c.tool])).toEqual([['fx', 'echo']]);
    expect(changes[0]!.diff).toContain('-  "description": "Returns the message it was given."');
    expect(changes[0]!.diff).toContain(`+  "description": "${description}"`);

    const catalog = (await api(gateway, '/api/v1/catalog/fx')).body.servers as ServerCatalog[];
    expect(catalog[0]!.tools.find((t) => t.name === 'echo')?.pin).toBe('changed');

    // Legacy accepts the one tool, modern everything waiting on the server.
    const accept = await api(gateway, era === 'legacy' ? '/api/v1/pins/fx/accept/echo' : '/api/v1/pins/fx/accept', {
      method: 'POST',
    });
    expect(accept.status).toBe(200);
    expect(accept.body.accepted).toEqual(['echo']);

    expect(await echo('again')).toEqual({ isError: undefined, text: 'again' });
    expect((await client.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect((await api(gateway, '/api/v1/pins/fx/diff')).body.changes).toEqual([]);
    const after = (await api(gateway, '/api/v1/pins/fx')).body.pins as PinRow[];
    expect(after.find((p) => p.tool === 'echo')?.hash).toBe(waiting?.pending?.hash);
    const recatalogued = (await api(gateway, '/api/v1/catalog/fx')).body.servers as ServerCatalog[];
    expect(recatalogued[0]!.tools.find((t) => t.name === 'echo')?.pin).toBe('pinned');
  });

  it('accepting when nothing is waiting is 404 with nothing accepted; accept needs POST and the admin token', async () => {
    const none = await api(gateway, '/api/v1/pins/fx/accept', { method: 'POST' });
    expect(none.status).toBe(404);
    expect(none.body.accepted).toEqual([]);
    const get = await api(gateway, '/api/v1/pins/fx/accept');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const anonymous = await api(gateway, '/api/v1/pins/fx/accept', { method: 'POST', token: null });
    expect(anonymous.status).toBe(401);
    const unknown = await api(gateway, '/api/v1/pins/nope/accept', { method: 'POST' });
    expect(unknown.status).toBe(404);
  });
});

describe('admin API: POST /api/v1/policy/explain', () => {
  const SUPPORT_TOKEN = 'support-3b9d1f7e2a';
  const NOW = '2026-03-02T10:00:00Z';
  const MEM_POLICY = {
    version: '1',
    default: 'deny',
    hide: ['open_*'],
    tools: {
      read_graph: {},
      search_nodes: { deny_if: [{ when: "has(args.query) && args.query == 'secret'", reason: 'No secrets.' }] },
      create_entities: { limits: [{ max: 2, window: 'hour', scope: 'grant' }] },
    },
    categories: { destructive: { action: 'require_approval' } },
    resources: { 'secret://*': { action: 'hide' } },
  };
  let gateway: Gateway;
  let client: ConnectedClient;

  beforeAll(async () => {
    gateway = await startFrom('explain.json', {
      auth: { mode: 'grants', admin_token: ADMIN_TOKEN },
      grants: {
        support: { token: SUPPORT_TOKEN, agent: 'support-bot', servers: ['mem'], labels: { team: 'emea' } },
        strict: {
          token: 'strict-8c2e4a6b1d',
          servers: ['mem'],
          policy: { version: '1', default: 'deny', tools: { read_graph: {} } },
        },
        elsewhere: { token: 'elsewhere-1a2b3c4d5e', servers: ['bare'] },
      },
      servers: { mem: { ...memoryServer(), policy: MEM_POLICY }, bare: memoryServer() },
    });
    client = await connectClient({
      era: 'legacy',
      downstream: {
        kind: 'http',
        url: `${gateway.url}/mcp/mem`,
        headers: { authorization: `Bearer ${SUPPORT_TOKEN}` },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await gateway?.close();
  });

  const explainApi = (body: unknown, opts: { token?: string | null } = {}) =>
    api(gateway, '/api/v1/policy/explain', {
      method: 'POST',
      send: typeof body === 'string' ? body : JSON.stringify(body),
      ...opts,
    });

  /** The facts `gatehouse policy explain` builds for a memory tool, with the catalog's category. */
  function memFacts(tool: string, args: Record<string, unknown> = {}): CallFacts {
    const listed = datasetTools('memory').find((t) => t.name === tool)!;
    const { category, risk } = classifyTool(listed as never);
    return {
      subject: 'tool',
      name: tool,
      server: 'mem',
      args,
      category,
      risk,
      grant: { name: 'anonymous', agent: 'anonymous', labels: {} },
      session: { id: 'principal:anonymous' },
      now: new Date(NOW),
    };
  }

  it('answers with the explanation `policy explain --json` gives, from the server’s policy and the catalog', async () => {
    for (const [tool, args] of [
      ['read_graph', {}],
      ['search_nodes', { query: 'secret' }],
      ['search_nodes', { query: 'ada' }],
      ['delete_entities', { entityNames: ['a'] }],
      ['open_nodes', { names: ['a'] }],
    ] as const) {
      const r = await explainApi({ server: 'mem', tool, args, now: NOW });
      expect(r.status, tool).toBe(200);
      expect(r.body).toMatchObject({ server: 'mem', tool, subject: 'tool', policy: 'server mem', listed: true });
      expect(r.body.notes).toEqual([]);
      const expected = await explain(loadPolicy(MEM_POLICY), memFacts(tool, { ...args }));
      expect(r.body.explanation, tool).toEqual(JSON.parse(JSON.stringify(expected)));
    }
    const denied = (await explainApi({ server: 'mem', tool: 'search_nodes', args: { query: 'secret' } })).body
      .explanation as Explanation;
    expect(denied).toMatchObject({
      verdict: 'deny',
      rule: '/tools/search_nodes/deny_if/0/when',
      reason: 'No secrets.',
    });
    const held = (await explainApi({ server: 'mem', tool: 'delete_entities' })).body.explanation as Explanation;
    expect(held).toMatchObject({ verdict: 'approval_required', rule: '/categories/destructive' });
    expect(held.match.by).toBe('category');
    const hidden = (await explainApi({ server: 'mem', tool: 'open_nodes' })).body.explanation as Explanation;
    expect(hidden).toMatchObject({ verdict: 'hidden', rule: '/hide' });
  });

  it('reads limit usage from the gateway’s own store: after two calls of a grant, the third is rate limited', async () => {
    const before = (await explainApi({ server: 'mem', tool: 'create_entities', grant: 'support' })).body;
    expect(before.explanation).toMatchObject({
      verdict: 'allow',
      call: { grant: { name: 'support', agent: 'support-bot' } },
    });
    const entities = [{ name: 'ada', entityType: 'person', observations: [] }];
    for (let i = 0; i < 2; i++) {
      const r = (await client.client.callTool({ name: 'create_entities', arguments: { entities } })) as CallToolResult;
      expect(r.isError).toBeFalsy();
    }
    const after = (await explainApi({ server: 'mem', tool: 'create_entities', grant: 'support' })).body
      .explanation as Explanation;
    expect(after).toMatchObject({ verdict: 'rate_limited', rule: '/tools/create_entities/limits/0' });
    const step = after.steps.find((s) => s.kind === 'limit');
    expect(step?.kind === 'limit' && step.limit.usage).toMatchObject({ used: 2, max: 2, remaining: 0, admits: false });
    // Anonymous calls count under their own grant, which has used nothing.
    const anonymous = (await explainApi({ server: 'mem', tool: 'create_entities' })).body.explanation as Explanation;
    expect(anonymous.verdict).toBe('allow');
    // Explaining reserves nothing.
    const again = (await explainApi({ server: 'mem', tool: 'create_entities', grant: 'support' })).body
      .explanation as Explanation;
    expect(again.steps.find((s) => s.kind === 'limit')).toMatchObject({ limit: { usage: { used: 2 } } });
  });

  it('a grant with its own policy is explained under it; a grant that may not use the server says so', async () => {
    const strict = await explainApi({ server: 'mem', tool: 'search_nodes', grant: 'strict' });
    expect(strict.status).toBe(200);
    expect(strict.body.policy).toBe('grant strict');
    expect(strict.body.explanation).toMatchObject({ verdict: 'deny', rule: '/default' });
    const elsewhere = await explainApi({ server: 'mem', tool: 'read_graph', grant: 'elsewhere' });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body.policy).toBe('server mem');
    expect(elsewhere.body.notes).toEqual([
      'grant elsewhere may not use server mem: the gateway refuses its calls there (HTTP 403)',
    ]);
  });

  it('a server without a policy is allow with a note; an unlisted tool and a resource are explained too', async () => {
    const bare = await explainApi({ server: 'bare', tool: 'delete_entities' });
    expect(bare.status).toBe(200);
    expect(bare.body).toEqual({
      server: 'bare',
      tool: 'delete_entities',
      subject: 'tool',
      policy: null,
      verdict: 'allow',
      notes: ['server bare has no policy: the gateway forwards every call to it'],
    });
    const unlisted = await explainApi({ server: 'mem', tool: 'no_such_tool' });
    expect(unlisted.body).toMatchObject({ listed: false, explanation: { verdict: 'deny', rule: '/default' } });
    expect(String((unlisted.body.notes as string[])[0])).toContain('does not list a tool "no_such_tool"');
    const resource = await explainApi({ server: 'mem', tool: 'secret://keys', subject: 'resource' });
    expect(resource.body).toMatchObject({
      subject: 'resource',
      listed: null,
      explanation: { verdict: 'hidden', rule: '/resources/secret:~1~1*', call: { subject: 'resource' } },
    });
  });

  it.each([
    ['not JSON', '{"server": "mem",', /not valid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['no server', { tool: 'read_graph' }, /"server" must be/],
    ['no tool', { server: 'mem' }, /"tool" must be/],
    ['args that are not an object', { server: 'mem', tool: 'read_graph', args: [1] }, /"args" must be a JSON object/],
    ['a grant that is not a string', { server: 'mem', tool: 'read_graph', grant: 7 }, /"grant" must be/],
    ['an unknown subject', { server: 'mem', tool: 'read_graph', subject: 'tools' }, /"subject" must be/],
    ['a time without a zone', { server: 'mem', tool: 'read_graph', now: '2026-03-02T10:00:00' }, /"now" must be/],
    ['an unknown key', { server: 'mem', tool: 'read_graph', arguments: {} }, /unknown key "arguments"/],
  ])('a body with %s is 400 saying what is wrong', async (_what, body, message) => {
    const r = await explainApi(body);
    expect(r.status).toBe(400);
    expect(String(r.body.error)).toMatch(message);
  });

  it('an unknown server or grant is 404; GET is 405; without the admin token it is 401', async () => {
    const server = await explainApi({ server: 'nope', tool: 'read_graph' });
    expect(server.status).toBe(404);
    expect(String(server.body.error)).toContain('Unknown server "nope"');
    const grant = await explainApi({ server: 'mem', tool: 'read_graph', grant: 'nobody' });
    expect(grant.status).toBe(404);
    expect(String(grant.body.error)).toContain('Unknown grant "nobody"');
    const get = await api(gateway, '/api/v1/policy/explain');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const anonymous = await explainApi({ server: 'mem', tool: 'read_graph' }, { token: null });
    expect(anonymous.status).toBe(401);
    const agent = await explainApi({ server: 'mem', tool: 'read_graph' }, { token: SUPPORT_TOKEN });
    expect(agent.status).toBe(401);
  });
});
