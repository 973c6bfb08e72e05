// Proves that what a policy hides cannot be found another way: a hidden resource template leaves
// resources/templates/list, completion/complete for a hidden prompt or resource template answers
// as for one that does not exist (no values, no sign that it is there), completing a template that
// is shown leaves out the values whose resource is hidden, and a hidden resource cannot be
// subscribed to, on a server's own endpoint and on the /mcp aggregate, with clients of both eras.
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

const POLICY = {
  version: '1',
  default: 'allow',
  resources: { 'fixture://items/*': { action: 'hide' } },
  prompts: { greet: { action: 'hide' } },
};

describe.each<Era>(['legacy', 'modern'])('hidden prompts and resource templates, %s client', (era) => {
  let started: FileGateway | undefined;
  let gateway: Gateway;
  const clients: ConnectedClient[] = [];

  beforeAll(async () => {
    const { command, args } = featureServerCommand('stdio', 'legacy');
    started = await startFileGateway('gatehouse-discovery-', {
      ...EPHEMERAL,
      servers: { fx: { command, args, policy: POLICY }, open: { command, args } },
    });
    gateway = started.gateway;
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await started?.close();
  });

  const connect = async (path: string) => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}${path}` } });
    clients.push(c);
    return c;
  };

  it('the same server without a policy lists the template and completes both (the baseline)', async () => {
    const c = await connect('/mcp/open');
    const { resourceTemplates } = await c.client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toContain('fixture://items/{id}');
    const done = await c.client.complete({
      ref: { type: 'ref/resource', uri: 'fixture://items/{id}' },
      argument: { name: 'id', value: '1' },
    });
    expect(done.completion.values).toEqual(['1', '10']);
  });

  it('on /mcp/fx: the hidden template is not listed, and completion of it or of the hidden prompt is "not found"', async () => {
    const c = await connect('/mcp/fx');
    const { resourceTemplates } = await c.client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).not.toContain('fixture://items/{id}');
    await expect(
      c.client.complete({
        ref: { type: 'ref/resource', uri: 'fixture://items/{id}' },
        argument: { name: 'id', value: '1' },
      }),
    ).rejects.toThrow(/Resource template fixture:\/\/items\/\{id\} not found/);
    await expect(
      c.client.complete({ ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'name', value: 'A' } }),
    ).rejects.toThrow(/Prompt greet not found/);
  });

  it('a hidden prompt, resource or resource template answers word for word as the server answers for one it does not have', async () => {
    const c = await connect('/mcp/fx');
    // The error a request ends in, with the name it asked for written as NAME.
    const failure = async (asked: string, run: () => Promise<unknown>) => {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e as { code?: unknown; message?: unknown; data?: unknown },
      );
      expect(error, `${asked} was answered`).toBeDefined();
      return JSON.parse(
        JSON.stringify({ code: error!.code, message: error!.message, data: error!.data }).replaceAll(asked, 'NAME'),
      );
    };
    const getPrompt = (name: string) => () => c.client.getPrompt({ name, arguments: { name: 'A' } });
    const completePrompt = (name: string) => () =>
      c.client.complete({ ref: { type: 'ref/prompt', name }, argument: { name: 'name', value: 'A' } });
    const completeTemplate = (uri: string) => () =>
      c.client.complete({ ref: { type: 'ref/resource', uri }, argument: { name: 'id', value: '1' } });
    const read = (uri: string) => () => c.client.readResource({ uri });
    const pairs: [string, string, (x: string) => () => Promise<unknown>][] = [
      ['greet', 'no_such_prompt', getPrompt],
      ['greet', 'no_such_prompt', completePrompt],
      ['fixture://items/{id}', 'fixture://none/{id}', completeTemplate],
      ['fixture://items/1', 'fixture://none', read],
    ];
    for (const [hidden, missing, run] of pairs) {
      const upstream = await failure(missing, run(missing));
      expect(upstream.code).toBe(-32602);
      expect(await failure(hidden, run(hidden))).toEqual(upstream);
    }
  });

  it('a subscription to a hidden resource is refused (2025) or not taken (2026-07-28 listen), and a shown one still is', async () => {
    const c = await connect('/mcp/fx');
    if (era === 'legacy') {
      await expect(c.client.subscribeResource({ uri: 'fixture://items/1' })).rejects.toThrow(
        /Resource not found: fixture:\/\/items\/1/,
      );
      await c.client.subscribeResource({ uri: 'fixture://hello' });
      await c.client.unsubscribeResource({ uri: 'fixture://hello' });
      return;
    }
    const subscription = await c.client.listen({ resourceSubscriptions: ['fixture://items/1', 'fixture://hello'] });
    try {
      expect(subscription.honoredFilter.resourceSubscriptions).toEqual(['fixture://hello']);
    } finally {
      await subscription.close();
    }
  });

  it('on /mcp: the same, under the aggregate names', async () => {
    const c = await connect('/mcp');
    const { resourceTemplates } = await c.client.listResourceTemplates();
    expect(resourceTemplates.filter((t) => t.uriTemplate === 'fixture://items/{id}')).toHaveLength(1); // open's only
    await expect(
      c.client.complete({ ref: { type: 'ref/prompt', name: 'fx__greet' }, argument: { name: 'name', value: 'A' } }),
    ).rejects.toThrow(/^Prompt greet not found$/);
    // Named as the server names a prompt it does not have: without the prefix.
    await expect(c.client.getPrompt({ name: 'fx__greet', arguments: { name: 'A' } })).rejects.toThrow(
      /^Prompt greet not found$/,
    );
    await expect(c.client.getPrompt({ name: 'fx__no_such_prompt', arguments: { name: 'A' } })).rejects.toThrow(
      /^Prompt no_such_prompt not found$/,
    );
  });
});

describe.each<Era>(['legacy', 'modern'])('completing a shown resource template, %s client', (era) => {
  let started: FileGateway | undefined;

  beforeAll(async () => {
    const { command, args } = featureServerCommand('stdio', 'legacy');
    started = await startFileGateway('gatehouse-completion-', {
      ...EPHEMERAL,
      // The template is shown; the items whose id starts with 2 are not.
      servers: {
        some: {
          command,
          args,
          policy: { version: '1', default: 'allow', resources: { 'fixture://items/2*': { action: 'hide' } } },
        },
      },
    });
  });

  afterAll(async () => {
    await started?.close();
  });

  it.each(['/mcp/some', '/mcp'])('on %s, leaves out the ids of hidden items', async (path) => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${started!.gateway.url}${path}` } });
    try {
      const done = await c.client.complete({
        ref: { type: 'ref/resource', uri: 'fixture://items/{id}' },
        argument: { name: 'id', value: '' },
      });
      expect(done.completion.values).toEqual(['1', '3', '10']);
    } finally {
      await c.close();
    }
  });
});
