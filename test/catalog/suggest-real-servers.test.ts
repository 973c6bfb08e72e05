// Proves `gatehouse policy suggest` on two real MCP servers from npm — server-everything and
// server-filesystem (on a temporary directory) — end to end: `-o FILE` writes the policy and a second
// run refuses to overwrite it without `--force` (exit 2, file untouched); `gatehouse policy check`
// accepts what was written; every tool has a YAML comment naming its category and a rule that
// follows DESIGN section 6 for the category `gatehouse catalog --json` gives it (read allowed, write
// 30 a minute per grant, execute 10 a minute per grant, destructive and financial held for
// approval). Loaded by a gateway and called with the SDK client in both eras, the policy behaves as
// written: read tools answer with the server's own result, the 31st write in a minute is
// [RATE LIMITED] for that grant only (and never reaches the server), the 11th execute call is
// [RATE LIMITED], every destructive or financial tool is held until a person answers (denied here:
// [APPROVAL DENIED] with the approver's reason, nothing written), and a tool the policy does not list is denied by its default.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseDocument } from 'yaml';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { loadConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { connectClient, firstText, type ConnectedClient, type Era } from '../helpers/index.js';
import { runCli } from '../helpers/cli.js';

const EVERYTHING = resolve('node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const FILESYSTEM = resolve('node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const SERVERS = ['everything', 'fs'] as const;
type ServerName = (typeof SERVERS)[number];
const ERAS: Era[] = ['legacy', 'modern'];

/** A read tool of the filesystem server taken out of the loaded policy, as if the server added it later. */
const UNLISTED = 'directory_tree';

interface CliResult {
  code: number;
  out: string;
  err: string;
}

async function cli(...args: string[]): Promise<CliResult> {
  const r = await runCli(args);
  return { code: r.code ?? 1, out: r.stdout, err: r.stderr };
}

interface CatalogTool {
  name: string;
  category: string;
  risk: string;
  reasons: string[];
}

interface Rule {
  action?: string;
  reason?: string;
  limits?: { max: number; window: string | number; scope?: string }[];
  [key: string]: unknown;
}

/** The rule DESIGN section 6 gives a category, as the parts a test can compare. */
function expectRuleOfCategory(name: string, category: string, rule: Rule): void {
  const what = `${name} (${category}): ${JSON.stringify(rule)}`;
  switch (category) {
    case 'read':
      expect(rule, what).toEqual({});
      break;
    case 'write':
    case 'execute':
      expect(rule.action ?? 'allow', what).toBe('allow');
      expect(rule.limits, what).toEqual([{ max: category === 'write' ? 30 : 10, window: 'minute', scope: 'grant' }]);
      break;
    case 'destructive':
    case 'financial':
      expect(rule.action, what).toBe('require_approval');
      expect(rule.limits ?? [], what).toEqual([]);
      break;
    default:
      throw new Error(`unknown category ${category} for ${name}`);
  }
}

function decisionOf(r: CallToolResult): Record<string, unknown> | undefined {
  return r._meta?.['gatehouse/decision'] as Record<string, unknown> | undefined;
}

function textOf(r: CallToolResult): string {
  const block = r.content?.find((c) => c.type === 'text');
  return block && 'text' in block ? block.text : '';
}

let dir: string;
let root: string;
let configFile: string;
const suggested = {} as Record<ServerName, string>;
const suggestStderr = {} as Record<ServerName, string>;
const catalog = {} as Record<ServerName, CatalogTool[]>;

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-suggest-')));
  root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'hello.txt'), 'hello from the temp dir\n');
  configFile = join(dir, 'gatehouse.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      state: 'memory:',
      audit: 'none',
      servers: {
        everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], timeout_ms: 20_000 },
        fs: { command: process.execPath, args: [FILESYSTEM, root], timeout_ms: 20_000 },
      },
    }),
  );
  const [everything, fs, listed] = await Promise.all([
    cli('policy', 'suggest', 'everything', '-c', configFile, '-o', join(dir, 'everything.yaml')),
    cli('policy', 'suggest', 'fs', '-c', configFile, '-o', join(dir, 'fs.yaml')),
    cli('catalog', '--json', '-c', configFile),
  ]);
  expect(everything.code, everything.err).toBe(0);
  expect(fs.code, fs.err).toBe(0);
  expect(listed.code, listed.err).toBe(0);
  suggestStderr.everything = everything.err;
  suggestStderr.fs = fs.err;
  suggested.everything = readFileSync(join(dir, 'everything.yaml'), 'utf8');
  suggested.fs = readFileSync(join(dir, 'fs.yaml'), 'utf8');
  for (const c of JSON.parse(listed.out) as { server: ServerName; ok: boolean; tools: CatalogTool[] }[]) {
    expect(c.ok, `${c.server} could not be read`).toBe(true);
    catalog[c.server] = c.tools;
  }
}, 90_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('policy suggest on real servers: the file', () => {
  it('-o writes the policy and says so, and both servers have tools in it', () => {
    for (const server of SERVERS) {
      expect(suggested[server]).toContain(`Suggested policy for "${server}"`);
      expect(catalog[server].length, server).toBeGreaterThan(5);
      expect(suggestStderr[server]).toContain(`wrote ${join(dir, `${server}.yaml`)} (${catalog[server].length} tools)`);
    }
  });

  it('refuses to overwrite the file it wrote without --force (exit 2, file untouched)', async () => {
    const file = join(dir, 'fs.yaml');
    const refused = await cli('policy', 'suggest', 'fs', '-c', configFile, '-o', file);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`${file} exists; add --force to overwrite it`);
    expect(readFileSync(file, 'utf8')).toBe(suggested.fs);
  });

  it('with --force it overwrites an existing file with the suggestion', async () => {
    const file = join(dir, 'fs-again.yaml');
    writeFileSync(file, 'my own edits\n');
    const forced = await cli('policy', 'suggest', 'fs', '-c', configFile, '-o', file, '--force');
    expect(forced.code, forced.err).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(suggested.fs);
  });

  it('gatehouse policy check accepts both written policies (exit 0)', async () => {
    const checked = await cli('policy', 'check', join(dir, 'everything.yaml'), join(dir, 'fs.yaml'));
    expect(checked.code, checked.out + checked.err).toBe(0);
    expect(checked.out).toContain(`${join(dir, 'everything.yaml')}: ok`);
    expect(checked.out).toContain(`${join(dir, 'fs.yaml')}: ok`);
  });

  it.each(SERVERS)(
    '%s: every tool of the catalog is in the policy, commented with its category, under the rule DESIGN section 6 gives that category',
    (server) => {
      const policy = parseYaml(suggested[server]) as { version: string; default: string; tools: Record<string, Rule> };
      expect(parsePolicy(policy).ok).toBe(true);
      expect(policy.version).toBe('1');
      expect(policy.default).toBe('deny');
      expect(Object.keys(policy.tools).sort()).toEqual(catalog[server].map((t) => t.name).sort());

      // The comment is the line right above the tool's key.
      const lines = suggested[server].split('\n');
      const commentAbove = (name: string): string => {
        const at = lines.findIndex((l) => l === `  ${name}:` || l.startsWith(`  ${name}: `));
        return at > 0 ? lines[at - 1]! : '';
      };
      for (const t of catalog[server]) {
        expect(commentAbove(t.name), t.name).toBe(`  # ${t.category} (risk ${t.risk}): ${t.reasons.join('; ')}`);
        expectRuleOfCategory(t.name, t.category, policy.tools[t.name]!);
      }
    },
  );

  it('the two servers together exercise read, write, execute and destructive rules', () => {
    const categories = new Set(SERVERS.flatMap((s) => catalog[s].map((t) => t.category)));
    for (const c of ['read', 'write', 'execute', 'destructive']) expect(categories).toContain(c);
  });
});

describe.each(ERAS)('policy suggest on real servers: loaded by a gateway, %s client', (era) => {
  let gateway: Gateway;
  let alice: ConnectedClient;
  let bob: ConnectedClient;
  let aliceEverything: ConnectedClient;
  let work: string;

  beforeAll(async () => {
    // The filesystem policy as suggested, minus one tool: a tool the server offers that the policy
    // does not list, as when a server adds a tool after the suggestion was made.
    const fsDoc = parseDocument(suggested.fs);
    expect(fsDoc.deleteIn(['tools', UNLISTED])).toBe(true);
    writeFileSync(join(dir, `fs-loaded-${era}.yaml`), fsDoc.toString({ lineWidth: 0 }));
    work = join(root, era);
    mkdirSync(work);
    const file = join(dir, `gatehouse-${era}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        state: 'memory:',
        audit: 'none',
        auth: { mode: 'grants' },
        grants: {
          alice: { token: `alice-${era}`, servers: ['everything', 'fs'] },
          bob: { token: `bob-${era}`, servers: ['fs'] },
        },
        servers: {
          everything: {
            command: process.execPath,
            args: [EVERYTHING, 'stdio'],
            timeout_ms: 20_000,
            policy: './everything.yaml',
          },
          fs: {
            command: process.execPath,
            args: [FILESYSTEM, root],
            timeout_ms: 20_000,
            policy: `./fs-loaded-${era}.yaml`,
          },
        },
      }),
    );
    gateway = await startGateway(await loadConfig({ file }), { log: () => undefined });
    const as = (token: string, server: ServerName) =>
      connectClient({
        era,
        downstream: {
          kind: 'http',
          url: `${gateway.url}/mcp/${server}`,
          headers: { authorization: `Bearer ${token}` },
        },
      });
    alice = await as(`alice-${era}`, 'fs');
    bob = await as(`bob-${era}`, 'fs');
    aliceEverything = await as(`alice-${era}`, 'everything');
  }, 60_000);

  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    await aliceEverything?.close();
    await gateway?.close();
  });

  it('tools/list shows every tool the policy lists, and not the one it leaves out', async () => {
    const fsTools = (await alice.client.listTools()).tools.map((t) => t.name).sort();
    expect(fsTools).toEqual(
      catalog.fs
        .map((t) => t.name)
        .filter((n) => n !== UNLISTED)
        .sort(),
    );
    const everythingTools = (await aliceEverything.client.listTools()).tools.map((t) => t.name).sort();
    expect(everythingTools).toEqual(catalog.everything.map((t) => t.name).sort());
  });

  it("read tools pass with the server's own answer", async () => {
    expect(catalog.fs.find((t) => t.name === 'read_text_file')?.category).toBe('read');
    expect(catalog.fs.find((t) => t.name === 'list_directory')?.category).toBe('read');
    expect(await alice.callText('read_text_file', { path: join(root, 'hello.txt') })).toBe('hello from the temp dir\n');
    expect(await alice.callText('list_directory', { path: root })).toContain('[FILE] hello.txt');
    expect(catalog.everything.find((t) => t.name === 'get-sum')?.category).toBe('read');
    expect(await aliceEverything.callText('get-sum', { a: 2, b: 3 })).toBe('The sum of 2 and 3 is 5.');
    expect(await aliceEverything.callText('echo', { message: 'hi' })).toBe('Echo: hi');
  });

  it('a write tool admits 30 calls a minute per grant: the 31st is [RATE LIMITED] and never reaches the server; another grant still has its quota', async () => {
    expect(catalog.fs.find((t) => t.name === 'create_directory')?.category).toBe('write');
    for (let i = 1; i <= 30; i++) {
      const r = (await alice.client.callTool({
        name: 'create_directory',
        arguments: { path: join(work, `d${i}`) },
      })) as CallToolResult;
      expect(r.isError, `call ${i}: ${JSON.stringify(r)}`).toBeFalsy();
      expect(existsSync(join(work, `d${i}`))).toBe(true);
    }
    const limited = (await alice.client.callTool({
      name: 'create_directory',
      arguments: { path: join(work, 'd31') },
    })) as CallToolResult;
    expect(limited.isError).toBe(true);
    expect(textOf(limited)).toMatch(/^\[RATE LIMITED\] /);
    expect(decisionOf(limited)).toMatchObject({ decision: 'rate_limited', rule: '/tools/create_directory/limits/0' });
    expect(decisionOf(limited)?.retry_after_s).toBeGreaterThan(0);
    expect(decisionOf(limited)?.retry_after_s).toBeLessThanOrEqual(60);
    expect(existsSync(join(work, 'd31'))).toBe(false);

    const other = (await bob.client.callTool({
      name: 'create_directory',
      arguments: { path: join(work, 'bob') },
    })) as CallToolResult;
    expect(other.isError, JSON.stringify(other)).toBeFalsy();
    expect(existsSync(join(work, 'bob'))).toBe(true);
  });

  it("an execute tool admits 10 calls a minute per grant (each answered by the server after the client's elicitation): the 11th is [RATE LIMITED]", async () => {
    const tool = 'trigger-elicitation-request';
    expect(catalog.everything.find((t) => t.name === tool)?.category).toBe('execute');
    for (let i = 1; i <= 10; i++) {
      const r = (await aliceEverything.client.callTool({ name: tool, arguments: {} })) as CallToolResult;
      expect(decisionOf(r), `call ${i}`).toBeUndefined();
      expect(textOf(r), `call ${i}`).toBe('✅ User provided the requested information!');
    }
    const limited = (await aliceEverything.client.callTool({ name: tool, arguments: {} })) as CallToolResult;
    expect(limited.isError).toBe(true);
    expect(textOf(limited)).toMatch(/^\[RATE LIMITED\] /);
    expect(decisionOf(limited)).toMatchObject({ decision: 'rate_limited', rule: `/tools/${tool}/limits/0` });
  });

  it('every destructive or financial tool is held for a person, and a denial reaches the agent', async () => {
    const held = SERVERS.flatMap((server) =>
      catalog[server]
        .filter((t) => t.category === 'destructive' || t.category === 'financial')
        .map((t) => ({ server, tool: t })),
    );
    expect(held.map((h) => h.tool.name)).toContain('write_file');
    for (const { server, tool } of held) {
      const c = server === 'fs' ? alice : aliceEverything;
      const target = join(work, `${tool.name}.txt`);
      const call = c.client.callTool({
        name: tool.name,
        arguments: { path: target, content: 'must not be written', edits: [], source: target, destination: target },
      });
      const approval = await heldApproval(gateway, server, tool.name);
      await gateway.core.approvals.answer(approval.id, {
        approve: false,
        by: 'reviewer',
        channel: 'api',
        reason: 'Not today.',
      });
      const r = (await call) as CallToolResult;
      expect(r.isError, tool.name).toBe(true);
      expect(textOf(r), tool.name).toMatch(/^\[APPROVAL DENIED\] Not today\./);
      expect(decisionOf(r), tool.name).toMatchObject({
        decision: 'approval_denied',
        rule: `/tools/${tool.name}`,
        approval_id: approval.id,
      });
      expect(existsSync(target), tool.name).toBe(false);
    }
  });

  it("a tool the policy does not list is denied by the policy's default", async () => {
    const r = (await alice.client.callTool({ name: UNLISTED, arguments: { path: root } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(firstText(r)).toBe(
      `[POLICY DENIED] Tool "${UNLISTED}" is not allowed: the policy denies anything it does not list.`,
    );
    expect(decisionOf(r)).toMatchObject({ decision: 'deny', rule: '/default' });
  });
});

/** The pending approval a held call opened. */
async function heldApproval(gateway: Gateway, server: string, tool: string) {
  for (let i = 0; i < 400; i++) {
    const [a] = await gateway.core.store.listApprovals({ server, tool, status: ['pending'] });
    if (a) return a;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no pending approval for ${server}/${tool}`);
}
