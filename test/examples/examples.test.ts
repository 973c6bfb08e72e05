// Proves every folder under examples/ works as its README says: its gatehouse.yaml and policies load,
// and a gateway started from it (on a free port, with its SQLite files in a temporary folder, and for
// the Redis/PostgreSQL deployment a key prefix and schema of its own) lets an SDK client make at
// least one allowed call and sees at least one blocked. Needs `npm run build` (the example server
// runs from dist/).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { connectClient, firstText, type ConnectedClient } from '../helpers/index.js';
import { dropSchema, pgAuditUrl, uniqueSchema } from '../audit/pg.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';

const EXAMPLES = resolve('examples');
const TOKENS = {
  GATEHOUSE_ADMIN_TOKEN: 'admin-token-for-tests',
  ALICE_TOKEN: 'alice-token-for-tests',
  CI_TOKEN: 'ci-token-for-tests',
  AGENT_TOKEN: 'agent-token-for-tests',
  GATEHOUSE_PG_PASSWORD: 'unused',
};

let scratch: string;
beforeAll(() => {
  if (!existsSync('dist/example-server/main.js')) throw new Error('dist/ is missing: run `npm run build` first');
  scratch = mkdtempSync(join(tmpdir(), 'gatehouse-examples-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Loads an example as `gatehouse start -c` would, then moves what it writes out of the repository. */
async function loadExample(name: string, stores: { state?: string; audit?: string } = {}): Promise<LoadedConfig> {
  const loaded = await loadConfig({ file: join(EXAMPLES, name, 'gatehouse.yaml'), env: { ...process.env, ...TOKENS } });
  const dir = mkdtempSync(join(scratch, `${name}-`));
  const { config } = loaded;
  const local = (url: string) => (url.startsWith('sqlite:') ? `sqlite:${join(dir, 'state.db')}` : url);
  return {
    ...loaded,
    config: {
      ...config,
      listen: { ...config.listen, host: '127.0.0.1', port: 0 },
      state: stores.state ?? local(config.state),
      audit: { ...config.audit, sink: stores.audit ?? local(config.audit.sink) },
    },
  };
}

async function withGateway(loaded: LoadedConfig, fn: (gateway: Gateway) => Promise<void>): Promise<void> {
  const gateway = await startGateway(loaded, { log: () => {} });
  try {
    await fn(gateway);
  } finally {
    await gateway.close();
  }
}

async function withClient(
  url: string,
  token: string | undefined,
  fn: (c: ConnectedClient) => Promise<void>,
): Promise<void> {
  const c = await connectClient({
    era: 'legacy',
    downstream: { kind: 'http', url, ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}) },
  });
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

/** The text and decision of a blocked call. */
async function blocked(c: ConnectedClient, name: string, args: Record<string, unknown>) {
  const result = await c.client.callTool({ name, arguments: args });
  expect(result.isError, JSON.stringify(result)).toBe(true);
  const meta = result._meta as Record<string, { decision?: string }> | undefined;
  return { text: firstText(result), decision: meta?.['gatehouse/decision']?.decision };
}

describe('examples', { timeout: 90_000 }, () => {
  it('has a test below for every example folder', () => {
    const folders = readdirSync(EXAMPLES, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(folders).toEqual([
      'financial-approvals',
      'local-developer',
      'read-only',
      'redis-postgres',
      'team-grants-approvals',
    ]);
    for (const folder of folders) expect(existsSync(join(EXAMPLES, folder, 'README.md')), folder).toBe(true);
  });

  it('local-developer: the filesystem server reads the sandbox; deleting memories is refused', async () => {
    await withGateway(await loadExample('local-developer'), async (gateway) => {
      await withClient(`${gateway.url}/mcp/filesystem`, undefined, async (c) => {
        const text = await c.callText('read_text_file', { path: join(EXAMPLES, 'local-developer/sandbox/hello.txt') });
        expect(text).toContain('Notes an agent may read through Gatehouse.');
      });
      await withClient(`${gateway.url}/mcp/memory`, undefined, async (c) => {
        expect(await c.callText('read_graph', {})).toContain('entities');
        const denied = await blocked(c, 'delete_entities', { entityNames: ['x'] });
        expect(denied.text).toBe('[POLICY DENIED] Deleting memories is not allowed; ask the user to do it.');
      });
    });
  });

  it('team-grants-approvals: no token is refused, alice reads and her delete waits for approval, ci-bot may not write', async () => {
    await withGateway(await loadExample('team-grants-approvals'), async (gateway) => {
      const url = `${gateway.url}/mcp/notes`;
      const anonymous = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(anonymous.status).toBe(401);
      await withClient(url, TOKENS.ALICE_TOKEN, async (c) => {
        expect(await c.callText('echo', { message: 'hi' })).toBe('hi');
        const held = await blocked(c, 'delete_note', { id: '1' });
        expect(held.decision).toBe('approval_pending');
        expect(held.text).toMatch(/^\[APPROVAL PENDING\]/);
      });
      await withClient(url, TOKENS.CI_TOKEN, async (c) => {
        expect(await c.callText('get_time', {})).toMatch(/^\d{4}-\d\d-\d\dT/);
        const denied = await blocked(c, 'write_note', { title: 't', body: 'b' });
        expect(denied.text).toBe('[POLICY DENIED] The CI agent may read only.');
      });
    });
  });

  it('redis-postgres: limits and approvals in Redis, the audit log in PostgreSQL; an allowed and a denied call', async () => {
    const prefix = uniquePrefix();
    const schema = uniqueSchema();
    try {
      await withGateway(
        await loadExample('redis-postgres', { state: redisUrl(prefix), audit: pgAuditUrl(schema) }),
        async (gateway) => {
          await withClient(`${gateway.url}/mcp/notes`, TOKENS.AGENT_TOKEN, async (c) => {
            expect(await c.callText('echo', { message: 'replica' })).toBe('replica');
            expect(await c.callText('write_note', { title: 't', body: 'b' })).toMatch(/^Saved note \d+: t$/);
            const denied = await blocked(c, 'delete_note', { id: '1' });
            expect(denied.text).toBe('[POLICY DENIED] Notes are kept; deleting them is not allowed here.');
          });
        },
      );
    } finally {
      await deletePrefix(prefix);
      await dropSchema(schema);
    }
  });

  it('read-only: a read passes, a write is refused by its category', async () => {
    await withGateway(await loadExample('read-only'), async (gateway) => {
      await withClient(`${gateway.url}/mcp/filesystem`, undefined, async (c) => {
        expect(await c.callText('list_directory', { path: join(EXAMPLES, 'read-only/sandbox') })).toContain(
          'readme.txt',
        );
        const denied = await blocked(c, 'write_file', {
          path: join(EXAMPLES, 'read-only/sandbox/new.txt'),
          content: 'x',
        });
        expect(denied.text).toMatch(/^\[POLICY DENIED\] This gateway is read-only/);
      });
      expect(existsSync(join(EXAMPLES, 'read-only/sandbox/new.txt'))).toBe(false);
    });
  });

  it('financial-approvals: reading invoices passes, a refund waits for approval, a large refund is refused', async () => {
    await withGateway(await loadExample('financial-approvals'), async (gateway) => {
      await withClient(`${gateway.url}/mcp/payments`, undefined, async (c) => {
        expect(await c.callText('list_invoices', {})).toMatch(/^list_invoices ok/);
        const held = await blocked(c, 'create_refund', { payment_intent: 'pi_1', amount: 2500 });
        expect(held.decision).toBe('approval_pending');
        const paymentLink = await blocked(c, 'create_payment_link', { price: 'price_1', quantity: 1 });
        expect(paymentLink.decision).toBe('approval_pending');
        const large = await blocked(c, 'create_refund', { payment_intent: 'pi_1', amount: 250000 });
        expect(large.decision).toBe('deny');
        expect(large.text).toContain('Refunds above 1,000.00 are handled by the finance team');
      });
    });
  });
});
