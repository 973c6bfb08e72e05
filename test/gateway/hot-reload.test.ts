// Proves hot reload of policies and the resources/prompts rules, end to end with the SDK client in
// both eras: a valid edit of a policy file or of an inline policy in the config takes effect for
// the next call without dropping the session, and clients are told the tool list changed; an
// invalid edit keeps the last good policy and reports every problem with its path. Resource and
// prompt rules decide resources/read and prompts/get, and hidden or denied ones leave their lists.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  connectClient,
  featureServerCommand,
  startFileGateway,
  type ConnectedClient,
  type Era,
  type FileGateway,
} from '../helpers/index.js';
import { becomesTrue } from '../helpers/wait.js';

function text(r: unknown): string {
  return ((r as { content?: { text?: string }[] }).content?.[0]?.text ?? '').toString();
}

const eventually = (check: () => Promise<boolean>, timeoutMs = 8_000): Promise<boolean> =>
  becomesTrue(check, timeoutMs, 100);

const allowBoth = { version: '1', default: 'deny', tools: { echo: {}, add: {} } };
const denyAdd = {
  version: '1',
  default: 'deny',
  tools: { echo: {}, add: { action: 'deny', reason: 'No adding after the reload.' } },
};

describe.each<Era>(['legacy', 'modern'])('hot reload, %s client', (era) => {
  let gateway: Gateway;
  let client: ConnectedClient;
  let dir: string;
  let logs: string[];
  const policyFile = () => join(dir, 'policy.json');
  const configFile = () => join(dir, 'gatehouse.json');
  const writeConfig = (inlinePolicy: unknown) => {
    const { command, args } = featureServerCommand('stdio', 'legacy');
    writeFileSync(
      configFile(),
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        state: 'memory:',
        audit: 'none',
        servers: { fx: { command, args, policy: './policy.json' }, inl: { command, args, policy: inlinePolicy } },
      }),
    );
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-'));
    logs = [];
    writeFileSync(policyFile(), JSON.stringify(allowBoth));
    writeConfig(allowBoth);
    gateway = await startGateway(await loadConfig({ file: configFile() }), { log: (l) => logs.push(l) });
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/fx` } });
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a valid edit of the policy file takes effect for the next call, in the same session, and announces list_changed', async () => {
    expect(await client.callText('add', { a: 1, b: 2 })).toBe('3');
    const subscription = era === 'modern' ? await client.client.listen({ toolsListChanged: true }) : undefined;
    try {
      const changed = client.notifications.waitFor('notifications/tools/list_changed', () => true, {
        timeoutMs: 10_000,
      });
      writeFileSync(policyFile(), JSON.stringify(denyAdd));
      await changed;
      const denied = await eventually(async () =>
        text(await client.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).startsWith('[POLICY DENIED]'),
      );
      expect(denied).toBe(true);
      expect(text(await client.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe(
        '[POLICY DENIED] No adding after the reload.',
      );
      expect((await client.client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo']);
      expect(await client.callText('echo', { message: 'still here' })).toBe('still here');
    } finally {
      await subscription?.close();
    }
  });

  it('an invalid edit keeps the last good policy and logs every problem with its path', async () => {
    const before = gateway.core.reloader.reloads;
    writeFileSync(
      policyFile(),
      JSON.stringify({
        version: '1',
        default: 'deny',
        tools: { echo: { limits: [{ max: 1, window: 'fortnight' }] }, add: { deny_if: [{ when: 'args.(' }] } },
      }),
    );
    const refused = await eventually(async () => gateway.core.reloader.lastError !== undefined);
    expect(refused).toBe(true);
    expect(gateway.core.reloader.lastError).toContain('/tools/echo/limits/0/window');
    expect(gateway.core.reloader.lastError).toContain('/tools/add/deny_if/0/when');
    expect(gateway.core.reloader.reloads).toBe(before);
    expect(logs.some((l) => l.includes('the last good policy stays in force'))).toBe(true);
    // The denyAdd policy is still the one in force.
    expect(await client.callText('echo', { message: 'ok' })).toBe('ok');
    expect(text(await client.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe(
      '[POLICY DENIED] No adding after the reload.',
    );
    writeFileSync(policyFile(), JSON.stringify(allowBoth));
    expect(
      await eventually(
        async () => text(await client.client.callTool({ name: 'add', arguments: { a: 2, b: 2 } })) === '4',
      ),
    ).toBe(true);
  });

  it('an edit of an inline policy in the config file takes effect too', async () => {
    const inl = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/inl` } });
    try {
      expect(await inl.callText('add', { a: 1, b: 1 })).toBe('2');
      writeConfig(denyAdd);
      const denied = await eventually(async () =>
        text(await inl.client.callTool({ name: 'add', arguments: { a: 1, b: 1 } })).startsWith('[POLICY DENIED]'),
      );
      expect(denied).toBe(true);
    } finally {
      await inl.close();
    }
  });

  it('a file rewritten faster than the debounce, without a pause, is still reloaded while the writes go on', async () => {
    const before = gateway.core.reloader.reloads;
    let reloadedWhileWriting = false;
    // 3 s of rewrites 40 ms apart: a pure trailing debounce (150 ms) would never fire before they stop.
    for (let i = 0; i < 75 && !reloadedWhileWriting; i++) {
      writeFileSync(policyFile(), JSON.stringify({ ...allowBoth, hide: [`never_${i}`] }));
      await new Promise((r) => setTimeout(r, 40));
      reloadedWhileWriting = gateway.core.reloader.reloads > before;
    }
    expect(reloadedWhileWriting).toBe(true);
    writeFileSync(policyFile(), JSON.stringify(allowBoth));
  });
});

describe.each<Era>(['legacy', 'modern'])('resource and prompt rules, %s client', (era) => {
  let started: FileGateway | undefined;
  let gateway: Gateway;
  let client: ConnectedClient;

  beforeAll(async () => {
    const { command, args } = featureServerCommand('stdio', 'legacy');
    const policy = {
      version: '1',
      default: 'allow',
      resources: {
        'fixture://hello': { action: 'hide' },
        'fixture://items/*': { limits: [{ max: 1, window: 'minute' }] },
      },
      prompts: { greet: { action: 'deny', reason: 'Prompts are off here.' } },
    };
    started = await startFileGateway('gatehouse-resources-', {
      ...EPHEMERAL,
      servers: { fx: { command, args, policy } },
    });
    gateway = started.gateway;
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/fx` } });
  });

  afterAll(async () => {
    await client?.close();
    await started?.close();
  });

  it('a hidden resource leaves resources/list and reads as not found', async () => {
    const { resources } = await client.client.listResources();
    expect(resources.map((r) => r.uri)).not.toContain('fixture://hello');
    await expect(client.client.readResource({ uri: 'fixture://hello' })).rejects.toThrow(
      /Resource not found: fixture:\/\/hello/,
    );
  });

  it('a resource limit caps resources/read', async () => {
    const first = await client.client.readResource({ uri: 'fixture://items/1' });
    expect(first.contents.length).toBeGreaterThan(0);
    await expect(client.client.readResource({ uri: 'fixture://items/2' })).rejects.toThrow(/\[RATE LIMITED\]/);
  });

  it('a resource URI spelled otherwise (scheme case, dot segments, percent-encoding) is decided as the URI the server reads', async () => {
    await expect(client.client.readResource({ uri: 'FIXTURE://hello' })).rejects.toThrow(/Resource not found/);
    await expect(client.client.readResource({ uri: 'fixture://x/../hello' })).rejects.toThrow(/Resource not found/);
    for (const uri of ['FIXTURE://items/3', 'fixture://items/x/../3', 'fixture://items/%33'])
      await expect(client.client.readResource({ uri }), uri).rejects.toThrow(/\[RATE LIMITED\]/);
  });

  it('a denied prompt leaves prompts/list and prompts/get answers with the reason', async () => {
    const { prompts } = await client.client.listPrompts();
    expect(prompts.map((p) => p.name)).not.toContain('greet');
    await expect(client.client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } })).rejects.toThrow(
      /\[POLICY DENIED\] Prompts are off here\./,
    );
  });
});
