// What changes while a call waits for a person applies to it when the answer comes: a tool whose
// definition the server changed since it was pinned is not run on an approval given for the tool as
// it was, nor is a tool the server dropped meanwhile; and a client's own answer to the approval
// question counts only while the policy in force still asks the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditRecord } from '../../src/audit/query.js';
import {
  connectClient,
  featureServerCommand,
  modernRequest,
  postModern,
  startFileGateway,
  tempDir,
  type ConnectedClient,
  type FileGateway,
} from '../helpers/index.js';
import { readUntil } from '../helpers/wait.js';

/** The gateway's audit records, oldest first. */
async function recordsOf(fgw: FileGateway): Promise<StoredAuditRecord[]> {
  await fgw.gateway.core.audit.flush();
  return (await fgw.gateway.core.audit.query!({ limit: 100 })).records.reverse();
}

const textOf = (r: { content?: unknown }): string =>
  String(((r.content as { text?: string }[] | undefined) ?? [])[0]?.text ?? '');

/** A gateway whose feature server `fx` holds every echo for approval, with `extra` in the server's entry. */
function heldEchoGateway(prefix: string, extra: Record<string, unknown> = {}): Promise<FileGateway> {
  const { command, args } = featureServerCommand('stdio', 'legacy');
  return startFileGateway(prefix, {
    listen: { host: '127.0.0.1', port: 0 },
    state: 'sqlite:./state.db',
    audit: { sink: 'jsonl:./audit.jsonl', spool: 'off' },
    servers: {
      fx: {
        command,
        args,
        ...extra,
        policy: {
          version: '1',
          default: 'allow',
          tools: { echo: { action: 'require_approval', approval: { timeout: '2m' } } },
        },
      },
    },
  });
}

describe('a call held for approval while the server changes the tool', () => {
  let fgw: FileGateway;
  let client: ConnectedClient;

  beforeAll(async () => {
    fgw = await heldEchoGateway('gatehouse-held-pin-');
    client = await connectClient({ era: 'legacy', downstream: { kind: 'http', url: `${fgw.gateway.url}/mcp/fx` } });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await fgw?.close();
  });

  it('is blocked by the pin when approved after the definition changed, and never reaches the server', async () => {
    // Pinned as the person will see it.
    expect((await client.client.listTools()).tools.some((t) => t.name === 'echo')).toBe(true);
    const held = client.client.callTool({ name: 'echo', arguments: { message: 'held-hello' } }, { timeout: 60_000 });
    const [approval] = await readUntil(
      () => fgw.gateway.core.store.listApprovals({ server: 'fx', tool: 'echo', status: ['pending'] }),
      (pending) => pending.length > 0,
      10_000,
    );
    expect(approval, 'the call is held').toBeDefined();
    // The server changes echo under its clients, and the gateway sees it in the next list.
    await client.client.callTool({ name: 'redescribe_echo', arguments: { description: 'Uploads ~/.ssh somewhere.' } });
    expect((await client.client.listTools()).tools.some((t) => t.name === 'echo')).toBe(false);
    await fgw.gateway.core.approvals.answer(approval!.id, { approve: true, by: 'ops', channel: 'api' });
    const answer = await held;
    expect(answer.isError).toBe(true);
    expect(textOf(answer)).toMatch(/definition of echo changed since it was pinned/);
    const records = await recordsOf(fgw);
    const last = records.filter((r) => r.tool === 'echo').at(-1)!;
    expect(last).toMatchObject({ decision: 'deny', blocked_by: 'pin', rule: '/pins' });
    expect(JSON.stringify(records.filter((r) => r.tool === 'echo' && r.outcome === 'ok'))).not.toContain('held-hello');
  });
});

describe('a call held for approval while the server drops the tool', () => {
  it.each(['on', 'off'] as const)(
    'pins %s: approved after the server dropped the tool, it is answered as a tool the server lacks, and audited so',
    async (pins) => {
      const fgw = await heldEchoGateway('gatehouse-held-drop-', { pins });
      const client = await connectClient({
        era: 'legacy',
        downstream: { kind: 'http', url: `${fgw.gateway.url}/mcp/fx` },
      });
      try {
        expect((await client.client.listTools()).tools.some((t) => t.name === 'echo')).toBe(true);
        const held = client.client
          .callTool({ name: 'echo', arguments: { message: 'dropped-hello' } }, { timeout: 60_000 })
          .then(
            (r) => ({ ok: r }),
            (e: Error) => ({ error: e.message }),
          );
        const [approval] = await readUntil(
          () => fgw.gateway.core.store.listApprovals({ server: 'fx', tool: 'echo', status: ['pending'] }),
          (pending) => pending.length > 0,
          10_000,
        );
        expect(approval, 'the call is held').toBeDefined();
        expect(await client.callText('drop_echo')).toBe('dropped');
        expect((await client.client.listTools()).tools.some((t) => t.name === 'echo')).toBe(false);
        await fgw.gateway.core.approvals.answer(approval!.id, { approve: true, by: 'ops', channel: 'api' });
        // Forwarded, the server itself would have answered "Tool echo disabled".
        expect(await held).toEqual({ error: expect.stringMatching(/Unknown tool: echo/) });
        const records = await recordsOf(fgw);
        expect(records.filter((r) => r.tool === 'echo').at(-1)).toMatchObject({
          decision: 'hidden',
          blocked_by: 'unknown_tool',
        });
        expect(JSON.stringify(records.filter((r) => r.outcome === 'ok'))).not.toContain('dropped-hello');
      } finally {
        await client.close();
        await fgw.close();
      }
    },
    60_000,
  );
});

describe("a client's answer to the approval question after a reload that no longer asks the client", () => {
  it('counts for nothing: the call stays pending for the people the policy names now', async () => {
    const dir = tempDir('gatehouse-ask-reload-');
    const policy = (notify: string[]) => ({
      version: '1',
      default: 'allow',
      tools: { add: { action: 'require_approval', approval: { notify, mode: 'retry', timeout: '10m' } } },
    });
    dir.write('ask.json', policy(['client']));
    const { command, args } = featureServerCommand('stdio', 'both');
    const fgw = await startFileGateway(dir, {
      listen: { host: '127.0.0.1', port: 0 },
      state: 'memory:',
      audit: { sink: 'jsonl:./audit.jsonl', spool: 'off' },
      servers: { ask: { command, args, policy: './ask.json' } },
    });
    try {
      const call = (id: number, extra: Record<string, unknown> = {}) =>
        modernRequest(
          id,
          'tools/call',
          { name: 'add', arguments: { a: 20, b: 1 }, ...extra },
          { elicitation: { form: {} } },
        );
      const first = (await postModern(`${fgw.gateway.url}/mcp/ask`, call(1))).messages.at(-1)?.['result'] as
        Record<string, unknown> | undefined;
      expect(first?.['resultType']).toBe('input_required');
      const key = Object.keys(first!['inputRequests'] as object)[0]!;
      dir.write('ask.json', policy(['ops']));
      await fgw.gateway.core.reloader.reload();
      const retry = await postModern(
        `${fgw.gateway.url}/mcp/ask`,
        call(2, {
          requestState: first!['requestState'],
          inputResponses: { [key]: { action: 'accept', content: { decision: 'approve' } } },
        }),
      );
      const answer = JSON.stringify(retry.messages.at(-1));
      expect(answer).not.toContain('"21"');
      expect(answer).toMatch(/approval/i);
      const [approval] = await fgw.gateway.core.store.listApprovals({ server: 'ask', tool: 'add' });
      expect(approval?.status).toBe('pending');
    } finally {
      await fgw.close();
    }
  });
});
