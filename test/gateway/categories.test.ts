// Proves the policy's `categories` rules (DESIGN sections 1 and 6) through the gateway, with the SDK
// client in both eras, on the real Supabase tool set (served by the dataset fixture), whose tools the
// classifier puts in all five categories. Under a policy of only category rules and `default: deny`,
// every tool gets the rule of the category the classifier gives it: read passes with the upstream's
// answer, write is denied with its rule's reason, execute passes under its rule's limit and is then
// [RATE LIMITED], destructive is denied, financial is held for approval (retry mode: [APPROVAL
// PENDING] at once, with the approval's id); tools/list shows exactly the tools not denied outright. An exact `tools` entry beats
// the category rule in both directions (a destructive tool allowed, a read tool denied), and so does
// a glob (a write tool allowed). Under `all_tools`, CEL `deny_if` conditions on `tool.risk` and
// `tool.category` block exactly the critical and the execute tools. And when the category cannot be
// known (the server's tools/list fails), a policy with category rules does not let the call through.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { ProtocolError, ProtocolErrorCode, Server } from '@modelcontextprotocol/server';
import { classifyTool, type ToolCategory } from '../../src/catalog/classify.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { datasetTools } from '../fixtures/servers/dataset-server.js';
import { serveMcp } from '../helpers/http-server.js';
import {
  EPHEMERAL,
  TSX_LOADER,
  connectClient,
  startParsedGateway,
  type ConnectedClient,
  type Era,
} from '../helpers/index.js';

const DATASET_SERVER = fileURLToPath(new URL('../fixtures/servers/dataset-server.ts', import.meta.url));
const ERAS: Era[] = ['legacy', 'modern'];

/** The real tools, each with the category the classifier gives it. */
const TOOLS = datasetTools('supabase').map((tool) => ({
  tool,
  name: tool.name,
  category: classifyTool(tool as Parameters<typeof classifyTool>[0]).category,
}));
const inCategory = (c: ToolCategory) => TOOLS.filter((t) => t.category === c).map((t) => t.name);

/** A glob whose tools include a write tool: the glob's `{}` beats the write category's deny. */
const GLOB = '*_storage_config';
const GLOB_MATCHES = (name: string) => name.endsWith('_storage_config');
/** A destructive tool that an exact entry allows, and a read tool that an exact entry denies. */
const EXACT_ALLOWED = inCategory('destructive')[0]!;
const EXACT_DENIED = inCategory('read').find((n) => !GLOB_MATCHES(n))!;

const CATEGORY_POLICY = {
  version: '1',
  default: 'deny',
  categories: {
    read: {},
    write: { action: 'deny', reason: 'No writes.' },
    execute: { limits: [{ max: 1, window: 'hour', scope: 'grant' }] },
    destructive: { action: 'deny' },
    financial: { action: 'require_approval', reason: 'Money needs a person.', approval: { mode: 'retry' } },
  },
  tools: {
    [EXACT_ALLOWED]: {},
    [EXACT_DENIED]: { action: 'deny', reason: 'Denied by name.' },
    [GLOB]: {},
  },
};

const CEL_POLICY = {
  version: '1',
  default: 'allow',
  all_tools: {
    deny_if: [
      { when: 'tool.risk == "critical"' },
      { when: 'tool.category == "execute"', reason: 'Nothing that runs.' },
    ],
  },
};

/** What a call must meet under CATEGORY_POLICY: forwarded, or blocked with this text and rule. */
type Expected = { forwarded: true } | { text: string; rule: string; decision?: string };

function expectedUnderCategories(name: string, category: ToolCategory): Expected {
  if (name === EXACT_ALLOWED) return { forwarded: true };
  if (name === EXACT_DENIED) return { text: '[POLICY DENIED] Denied by name.', rule: `/tools/${name}` };
  if (GLOB_MATCHES(name)) return { forwarded: true };
  switch (category) {
    case 'read':
    case 'execute':
      return { forwarded: true };
    case 'write':
      return { text: '[POLICY DENIED] No writes.', rule: '/categories/write' };
    case 'destructive':
      return { text: `[POLICY DENIED] Tool "${name}" is not allowed by the policy.`, rule: '/categories/destructive' };
    case 'financial':
      return {
        text: /^\[APPROVAL PENDING\] Money needs a person\. Approval apr_[0-9a-f]{32} is pending/.source,
        rule: '/categories/financial',
        decision: 'approval_pending',
      };
  }
}

function expectedUnderCel(category: ToolCategory): Expected {
  if (category === 'destructive' || category === 'financial')
    return { text: /denied by the condition tool\.risk == "critical"/.source, rule: '/all_tools/deny_if/0/when' };
  if (category === 'execute') return { text: '[POLICY DENIED] Nothing that runs.', rule: '/all_tools/deny_if/1/when' };
  return { forwarded: true };
}

/** Arguments that satisfy a JSON Schema's required properties (enough for the fixture's checks). */
function argsFor(schema: unknown): Record<string, unknown> {
  const s = (schema ?? {}) as { properties?: Record<string, unknown>; required?: string[] };
  const out: Record<string, unknown> = {};
  for (const key of s.required ?? []) out[key] = valueFor(s.properties?.[key]);
  return out;
}

function valueFor(schema: unknown): unknown {
  const s = (schema ?? {}) as { type?: string; enum?: unknown[]; minimum?: number; items?: unknown; minItems?: number };
  if (Array.isArray(s.enum)) return s.enum[0];
  switch (s.type) {
    case 'number':
    case 'integer':
      return s.minimum ?? 1;
    case 'boolean':
      return false;
    case 'array':
      return Array.from({ length: s.minItems ?? 0 }, () => valueFor(s.items));
    case 'object':
      return argsFor(s);
    default:
      return 'x';
  }
}

function decisionOf(r: CallToolResult): Record<string, unknown> | undefined {
  return r._meta?.['gatehouse/decision'] as Record<string, unknown> | undefined;
}

function textOf(r: CallToolResult): string {
  const block = r.content?.find((c) => c.type === 'text');
  return block && 'text' in block ? block.text : '';
}

async function call(c: ConnectedClient, name: string): Promise<{ args: Record<string, unknown>; r: CallToolResult }> {
  const args = argsFor(TOOLS.find((t) => t.name === name)!.tool.inputSchema);
  return { args, r: (await c.client.callTool({ name, arguments: args })) as CallToolResult };
}

function expectOutcome(name: string, args: Record<string, unknown>, r: CallToolResult, expected: Expected): void {
  const what = `${name}: ${JSON.stringify(r)}`;
  if ('forwarded' in expected) {
    expect(r.isError, what).toBeFalsy();
    expect(textOf(r), what).toBe(`${name} ok: ${JSON.stringify(args)}`);
    return;
  }
  expect(r.isError, what).toBe(true);
  if (expected.text.startsWith('[')) expect(textOf(r), what).toBe(expected.text);
  else if (expected.text.startsWith('^')) expect(textOf(r), what).toMatch(new RegExp(expected.text));
  else expect(textOf(r), what).toMatch(new RegExp(`^\\[POLICY DENIED\\] .*${expected.text}`));
  expect(decisionOf(r), what).toMatchObject({ decision: expected.decision ?? 'deny', rule: expected.rule });
}

function datasetServer(policy: unknown) {
  return {
    command: process.execPath,
    args: ['--import', TSX_LOADER, DATASET_SERVER, '--server', 'supabase'],
    policy,
    timeout_ms: 20_000,
  };
}

it('the fixture spans every category, and the exact and glob entries cover the cases they are meant to', () => {
  for (const c of ['read', 'write', 'execute', 'destructive', 'financial'] as const) {
    expect(inCategory(c).length, c).toBeGreaterThan(0);
  }
  expect(TOOLS.find((t) => t.name === EXACT_ALLOWED)?.category).toBe('destructive');
  expect(TOOLS.find((t) => t.name === EXACT_DENIED)?.category).toBe('read');
  expect(TOOLS.filter((t) => GLOB_MATCHES(t.name)).map((t) => t.category)).toContain('write');
});

describe.each(ERAS)('categories in the policy, %s client', (era) => {
  let gateway: Gateway;
  let byCategory: ConnectedClient;
  let byCel: ConnectedClient;
  let aggregate: ConnectedClient;

  beforeAll(async () => {
    gateway = await startParsedGateway({
      ...EPHEMERAL,
      servers: { supa: datasetServer(CATEGORY_POLICY), 'supa-cel': datasetServer(CEL_POLICY) },
    });
    byCategory = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/supa` } });
    byCel = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/supa-cel` } });
    aggregate = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp` } });
  }, 60_000);

  afterAll(async () => {
    await byCategory?.close();
    await byCel?.close();
    await aggregate?.close();
    await gateway?.close();
  });

  it("every tool gets its category's rule, unless a tools entry (exact or glob) matches it", async () => {
    for (const { name, category } of TOOLS) {
      const { args, r } = await call(byCategory, name);
      expectOutcome(name, args, r, expectedUnderCategories(name, category));
    }
  });

  it("the execute category's limit applies to each execute tool: the second call is [RATE LIMITED]", async () => {
    // The previous test made each execute tool's one call of the hour.
    for (const name of inCategory('execute')) {
      const { r } = await call(byCategory, name);
      expect(r.isError, name).toBe(true);
      expect(textOf(r), name).toMatch(/^\[RATE LIMITED\] /);
      expect(decisionOf(r), name).toMatchObject({ decision: 'rate_limited', rule: '/categories/execute/limits/0' });
    }
  });

  it('an exact tools entry beats the category rule both ways, and a glob entry beats it too', async () => {
    const allowed = await call(byCategory, EXACT_ALLOWED);
    expect(textOf(allowed.r)).toBe(`${EXACT_ALLOWED} ok: ${JSON.stringify(allowed.args)}`);
    const denied = await call(byCategory, EXACT_DENIED);
    expect(textOf(denied.r)).toBe('[POLICY DENIED] Denied by name.');
    for (const name of TOOLS.filter((t) => GLOB_MATCHES(t.name) && t.category === 'write').map((t) => t.name)) {
      const globbed = await call(byCategory, name);
      expect(globbed.r.isError, name).toBeFalsy();
      expect(textOf(globbed.r)).toBe(`${name} ok: ${JSON.stringify(globbed.args)}`);
    }
  });

  it('tools/list shows exactly the tools whose rule does not deny them outright', async () => {
    const listed = (await byCategory.client.listTools()).tools.map((t) => t.name).sort();
    const expected = TOOLS.filter(({ name, category }) => {
      const e = expectedUnderCategories(name, category);
      return 'forwarded' in e || category === 'financial';
    })
      .map((t) => t.name)
      .sort();
    expect(listed).toEqual(expected);
    expect(listed).toContain(EXACT_ALLOWED);
    expect(listed).not.toContain(EXACT_DENIED);
    for (const name of inCategory('write').filter((n) => !GLOB_MATCHES(n))) expect(listed).not.toContain(name);
  });

  it('tool.risk and tool.category can be used in a CEL deny_if under all_tools', async () => {
    for (const { name, category } of TOOLS) {
      const { args, r } = await call(byCel, name);
      expectOutcome(name, args, r, expectedUnderCel(category));
    }
  });

  it('on the /mcp aggregate (tools named <server>__<tool>) the same category rules and CEL conditions apply', async () => {
    const listed = new Set((await aggregate.client.listTools()).tools.map((t) => t.name));
    for (const { name, category } of TOOLS) {
      if (name === EXACT_ALLOWED || name === EXACT_DENIED || GLOB_MATCHES(name)) continue;
      const args = argsFor(TOOLS.find((t) => t.name === name)!.tool.inputSchema);
      for (const [server, expected] of [
        ['supa', expectedUnderCategories(name, category)],
        ['supa-cel', expectedUnderCel(category)],
      ] as const) {
        const shown = `${server}__${name}`;
        const r = (await aggregate.client.callTool({ name: shown, arguments: args })) as CallToolResult;
        if ('forwarded' in expected && category === 'execute' && server === 'supa') {
          // Its one call of the hour was made on /mcp/supa: the same grant's counter.
          expect(textOf(r), shown).toMatch(/^\[RATE LIMITED\] /);
          continue;
        }
        expectOutcome(name, args, r, expected);
        expect(listed.has(shown), shown).toBe(
          'forwarded' in expected || (server === 'supa' && category === 'financial') || server === 'supa-cel',
        );
      }
    }
  });
});

/** A real Streamable HTTP MCP server whose tools/list fails while its tools/call works, counting calls. */
async function startUnlistableUpstream(): Promise<{ url: string; calls: string[]; close(): Promise<void> }> {
  const calls: string[] = [];
  const upstream = await serveMcp(() => {
    const server = new Server({ name: 'unlistable', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler('tools/list', () => {
      throw new ProtocolError(ProtocolErrorCode.InternalError, 'the tool list is unavailable');
    });
    server.setRequestHandler('tools/call', (request) => {
      calls.push(request.params.name);
      return { content: [{ type: 'text', text: `ran ${request.params.name}` }] };
    });
    return server;
  });
  return { ...upstream, calls };
}

describe.each(ERAS)('categories when the category cannot be known, %s client', (era) => {
  let upstream: Awaited<ReturnType<typeof startUnlistableUpstream>>;
  let gateway: Gateway;
  let client: ConnectedClient;

  beforeAll(async () => {
    upstream = await startUnlistableUpstream();
    gateway = await startParsedGateway({
      ...EPHEMERAL,
      servers: {
        unlistable: {
          url: upstream.url,
          policy: {
            version: '1',
            default: 'allow',
            categories: { destructive: { action: 'deny' }, financial: { action: 'deny' } },
          },
        },
      },
    });
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/unlistable` } });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.close();
    await upstream?.close();
  });

  it('a call is not forwarded when tools/list fails and the policy has category rules (fail closed)', async () => {
    const before = upstream.calls.length;
    const outcome = await client.client.callTool({ name: 'delete_all_files', arguments: {} }).then(
      (r) => ({ isError: (r as CallToolResult).isError === true, text: textOf(r as CallToolResult) }),
      (error: unknown) => ({ isError: true, text: String(error) }),
    );
    expect(upstream.calls.slice(before), JSON.stringify(outcome)).toEqual([]);
    expect(outcome.isError).toBe(true);
  });
});
