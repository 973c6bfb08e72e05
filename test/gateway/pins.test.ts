// Proves the pins against changed tools ("rug pulls"), end to end with the SDK client in both eras:
// a server that changes a tool's description mid-session gets that tool blocked with
// "[POLICY DENIED] definition of echo changed since it was pinned" and removed from tools/list,
// the client is told the list changed, `gatehouse pins diff` shows the change, and
// `gatehouse pins accept` lets calls through again — also in a gateway that is already running. A
// server that changes a tool without announcing it gets it blocked for calls once a list shows it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  connectClient,
  featureServerCommand,
  startFileGateway,
  type ConnectedClient,
  type Era,
  type FileGateway,
} from '../helpers/index.js';
import { runCli } from '../helpers/cli.js';

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const r = await runCli(args);
  return { code: r.code ?? 1, out: `${r.stdout}${r.stderr}` };
}

function result(r: unknown): { isError?: boolean; text: string } {
  const res = r as { isError?: boolean; content?: { type: string; text?: string }[] };
  return { isError: res.isError, text: res.content?.[0]?.text ?? '' };
}

describe.each<Era>(['legacy', 'modern'])(
  'pins against a server that does not announce the change, %s client',
  (era) => {
    let started: FileGateway | undefined;
    let client: ConnectedClient;

    beforeAll(async () => {
      const { command, args } = featureServerCommand('stdio', 'legacy');
      started = await startFileGateway('gatehouse-pins-silent-', {
        ...EPHEMERAL,
        state: 'sqlite:./state.db',
        servers: { fx: { command, args } },
      });
      client = await connectClient({ era, downstream: { kind: 'http', url: `${started.gateway.url}/mcp/fx` } });
    });

    afterAll(async () => {
      await client?.close();
      await started?.close();
    });

    it('a definition changed without list_changed is blocked for calls as soon as a tools/list shows it', async () => {
      expect((await client.client.listTools()).tools.map((t) => t.name)).toContain('echo');
      expect(await client.callText('echo', { message: 'before' })).toBe('before');
      expect(await client.callText('redescribe_echo', { description: 'Sends it elsewhere.', silent: true })).toBe(
        'redescribed',
      );
      // The client lists the tools and gets them without echo: the change is seen here.
      expect((await client.client.listTools()).tools.map((t) => t.name)).not.toContain('echo');
      const blocked = result(await client.client.callTool({ name: 'echo', arguments: { message: 'after' } }));
      expect(blocked.isError).toBe(true);
      expect(blocked.text).toBe('[POLICY DENIED] definition of echo changed since it was pinned');
    });
  },
);

describe.each<Era>(['legacy', 'modern'])('pins, %s client', (era) => {
  let started: FileGateway | undefined;
  let gateway: Gateway;
  let client: ConnectedClient;
  let configFile: string;

  beforeAll(async () => {
    const { command, args } = featureServerCommand('stdio', 'legacy');
    started = await startFileGateway('gatehouse-pins-', {
      ...EPHEMERAL,
      state: 'sqlite:./state.db',
      servers: { fx: { command, args } },
    });
    ({ gateway, file: configFile } = started);
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/fx` } });
  });

  afterAll(async () => {
    await client?.close();
    await started?.close();
  });

  it('a tool is pinned when first listed and calls pass while it is unchanged', async () => {
    const { tools } = await client.client.listTools();
    expect(tools.map((t) => t.name)).toContain('echo');
    expect(await client.callText('echo', { message: 'before' })).toBe('before');
    const listed = await cli('pins', 'list', 'fx', '--json', '-c', configFile);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toContainEqual(
      expect.objectContaining({ server: 'fx', tool: 'echo', status: 'pinned' }),
    );
  });

  it('a changed definition blocks the tool, hides it from tools/list, and tells the client the list changed', async () => {
    const subscription = era === 'modern' ? await client.client.listen({ toolsListChanged: true }) : undefined;
    try {
      const changed = client.notifications.waitFor('notifications/tools/list_changed', () => true, {
        timeoutMs: 10_000,
      });
      expect(await client.callText('redescribe_echo', { description: 'Sends the message to a third party.' })).toBe(
        'redescribed',
      );
      await changed;
      const blocked = result(await client.client.callTool({ name: 'echo', arguments: { message: 'after' } }));
      expect(blocked.isError).toBe(true);
      expect(blocked.text).toBe('[POLICY DENIED] definition of echo changed since it was pinned');
      const { tools } = await client.client.listTools();
      expect(tools.map((t) => t.name)).not.toContain('echo');
    } finally {
      await subscription?.close();
    }
  });

  it('pins diff shows what changed, as a readable diff', async () => {
    const diff = await cli('pins', 'diff', 'fx', '-c', configFile);
    expect(diff.code).toBe(0);
    expect(diff.out).toContain('-  "description": "Returns the message it was given."');
    expect(diff.out).toContain('+  "description": "Sends the message to a third party."');
  });

  it('pins accept lets calls through again in the running gateway, which announces the change', async () => {
    const subscription = era === 'modern' ? await client.client.listen({ toolsListChanged: true }) : undefined;
    try {
      const accepted = await cli('pins', 'accept', 'fx', 'echo', '-c', configFile);
      expect(accepted.code).toBe(0);
      expect(accepted.out).toContain('accepted fx/echo');
      const announced = client.notifications.waitFor('notifications/tools/list_changed', () => true, {
        timeoutMs: 10_000,
      });
      expect(await client.callText('echo', { message: 'again' })).toBe('again');
      await announced;
      const { tools } = await client.client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      const none = await cli('pins', 'accept', 'fx', '-c', configFile);
      expect(none.code).toBe(1);
    } finally {
      await subscription?.close();
    }
  });
});
