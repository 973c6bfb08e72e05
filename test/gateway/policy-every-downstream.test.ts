// Proves that a server's policy holds on every downstream, not only Streamable HTTP: through the
// legacy HTTP+SSE transport (/sse/<server>), through `gatehouse stdio` with a legacy and a modern
// client, and through the /mcp aggregate in both eras, tools/list shows only the allowed tools, a
// denied tool answers [POLICY DENIED] with its reason, a tool no rule allows is denied by the
// default, and a hidden tool answers -32602 Unknown tool exactly like a missing one. It also proves
// that an input_required retry is the same logical call: under `max: 1`, ask_name (which needs an
// elicitation round) succeeds once and the next call is [RATE LIMITED], whether the gateway parks a
// legacy upstream's call for a modern client, relays a modern upstream's own round, or turns a
// modern upstream's round into a real elicitation for a legacy client.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult, ElicitResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  TSX_LOADER,
  connectClient,
  featureEntry,
  firstText,
  startParsedGateway,
  tempDir,
  type ConnectedClient,
  type Downstream,
  type TempDir,
  type Era,
} from '../helpers/index.js';

const CLI = resolve('src/cli/main.ts');
const SERVER = 'fx';

const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['add'],
  tools: {
    echo: {},
    ask_name: { limits: [{ max: 1, window: 'minute' }] },
    add_tool: { action: 'deny', reason: 'No new tools.' },
  },
};
const ALLOWED = ['ask_name', 'echo'];

const fixtureEntry = (era: Era) => featureEntry({ policy: POLICY }, era);

function configOf(servers: Record<string, unknown>): Record<string, unknown> {
  return { ...EPHEMERAL, servers };
}

function gatewayWith(servers: Record<string, unknown>): Promise<Gateway> {
  return startParsedGateway(configOf(servers));
}

/** The decision a blocked result carries in `_meta["gatehouse/decision"]`. */
function decisionOf(r: CallToolResult): Record<string, unknown> | undefined {
  return r._meta?.['gatehouse/decision'] as Record<string, unknown> | undefined;
}

/** Calls a tool and returns the JSON-RPC error it answered (fails if it answered a result). */
async function callError(c: ConnectedClient, name: string): Promise<{ code: number; message: string }> {
  const outcome = await c.client.callTool({ name, arguments: {} }).then(
    (result) => ({ result }),
    (error: unknown) => ({ error: error as { code?: number; message?: string } }),
  );
  if ('result' in outcome)
    throw new Error(`expected a JSON-RPC error from ${name}, got ${JSON.stringify(outcome.result)}`);
  return { code: Number(outcome.error.code), message: String(outcome.error.message) };
}

const callResult = async (
  c: ConnectedClient,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> => (await c.client.callTool({ name, arguments: args })) as CallToolResult;

interface DownstreamCase {
  title: string;
  era: Era;
  kind: 'sse' | 'stdio' | 'aggregate';
}

const DOWNSTREAMS: DownstreamCase[] = [
  { title: 'legacy HTTP+SSE (/sse/fx)', era: 'legacy', kind: 'sse' },
  { title: 'gatehouse stdio, legacy client', era: 'legacy', kind: 'stdio' },
  { title: 'gatehouse stdio, modern client', era: 'modern', kind: 'stdio' },
  { title: '/mcp aggregate, legacy client', era: 'legacy', kind: 'aggregate' },
  { title: '/mcp aggregate, modern client', era: 'modern', kind: 'aggregate' },
];

describe('the policy holds on every downstream', () => {
  let gateway: Gateway;
  let configFile: string;
  let configDir: TempDir | undefined;
  beforeAll(async () => {
    const servers = { [SERVER]: fixtureEntry('legacy') };
    gateway = await gatewayWith(servers);
    configDir = tempDir('gatehouse-policy-downstream-');
    configFile = configDir.write('gatehouse.json', configOf(servers));
  });
  afterAll(async () => {
    await gateway?.close();
    configDir?.remove();
  });

  for (const down of DOWNSTREAMS) {
    describe(down.title, () => {
      const shown = (name: string) => (down.kind === 'aggregate' ? `${SERVER}__${name}` : name);
      let c: ConnectedClient;
      beforeAll(async () => {
        const downstream: Downstream =
          down.kind === 'stdio'
            ? {
                kind: 'stdio',
                command: process.execPath,
                args: ['--import', TSX_LOADER, CLI, 'stdio', SERVER, '-c', configFile],
              }
            : down.kind === 'sse'
              ? { kind: 'sse', url: `${gateway.url}/sse/${SERVER}` }
              : { kind: 'http', url: `${gateway.url}/mcp` };
        c = await connectClient({ era: down.era, downstream });
      });
      afterAll(async () => {
        await c?.close();
      });

      it('tools/list shows exactly the allowed tools', async () => {
        const { tools } = await c.client.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual(ALLOWED.map(shown));
      });

      it("an allowed tool is forwarded and answers with the upstream's result", async () => {
        expect(await c.callText(shown('echo'), { message: 'through the policy' })).toBe('through the policy');
      });

      it('a denied tool answers [POLICY DENIED] with its reason', async () => {
        const r = await callResult(c, shown('add_tool'));
        expect(r.isError).toBe(true);
        expect(r.content).toEqual([{ type: 'text', text: '[POLICY DENIED] No new tools.' }]);
        expect(decisionOf(r)).toEqual({ decision: 'deny', rule: '/tools/add_tool', reason: 'No new tools.' });
      });

      it('a tool no rule allows is denied by the default', async () => {
        const r = await callResult(c, shown('whoami'));
        expect(r.isError).toBe(true);
        expect(firstText(r)).toMatch(/^\[POLICY DENIED\] /);
        expect(decisionOf(r)).toMatchObject({ decision: 'deny', rule: '/default' });
      });

      it('a hidden tool answers -32602 Unknown tool, exactly like a missing one', async () => {
        const hidden = await callError(c, shown('add'));
        expect(hidden.code).toBe(-32602);
        expect(hidden.message).toMatch(new RegExp(`Unknown tool: ${shown('add')}$`));
        const missing = await callError(c, shown('no_such_tool'));
        expect(missing.code).toBe(hidden.code);
        expect(missing.message.replace(shown('no_such_tool'), 'NAME')).toBe(
          hidden.message.replace(shown('add'), 'NAME'),
        );
      });
    });
  }
});

describe('an input_required retry is the same logical call: counted once under max: 1', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    // One server per case: the default counter (ask_name_rate) is kept per server.
    gateway = await gatewayWith({
      'legacy-up': fixtureEntry('legacy'),
      'modern-up': fixtureEntry('modern'),
      'modern-up-b': fixtureEntry('modern'),
    });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const CASES: { title: string; era: Era; server: string }[] = [
    { title: 'modern client, legacy stdio upstream (the gateway parks the call)', era: 'modern', server: 'legacy-up' },
    { title: "modern client, modern stdio upstream (the upstream's own round)", era: 'modern', server: 'modern-up' },
    {
      title: 'legacy client, modern stdio upstream (the gateway turns the round into a real elicitation)',
      era: 'legacy',
      server: 'modern-up-b',
    },
  ];

  for (const k of CASES) {
    it(`${k.title}: ask_name succeeds once, and the next call is [RATE LIMITED]`, async () => {
      const c = await connectClient({
        era: k.era,
        downstream: { kind: 'http', url: `${gateway.url}/mcp/${k.server}` },
      });
      try {
        let asked = 0;
        c.client.setRequestHandler('elicitation/create', (): ElicitResult => {
          asked++;
          return { action: 'accept', content: { name: 'Ada' } };
        });
        // The answer can only reach the server through the round: one elicitation, then the retry.
        const first = await callResult(c, 'ask_name');
        expect(first.isError, JSON.stringify(first)).toBeFalsy();
        expect(firstText(first)).toBe('hello Ada');
        expect(asked).toBe(1);

        const second = await callResult(c, 'ask_name');
        expect(second.isError).toBe(true);
        expect(firstText(second)).toMatch(/^\[RATE LIMITED\] /);
        expect(decisionOf(second)).toMatchObject({ decision: 'rate_limited', rule: '/tools/ask_name/limits/0' });
        // Blocked before forwarding: the upstream never asked again.
        expect(asked).toBe(1);
      } finally {
        await c.close();
      }
    });
  }
});
