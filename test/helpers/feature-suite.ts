// The feature checklist of the fixture server as a reusable vitest suite: every tool, the resource,
// the template, the prompt, completion, progress, elicitation, sampling, roots, list-changed,
// logging, resource subscriptions and cancellation, each checked the way the client's era does it.
// The fixture self-tests run it against the server directly; gateway tests run the same suite
// through the gateway by passing a different `connect`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectedClient } from './client.js';
import { FIXTURE_ROOTS } from './client.js';
import type { Era } from './fixture.js';
import { readUntil } from './wait.js';

export const FIXTURE_TOOLS = [
  'echo',
  'add',
  'progress',
  'ask_name',
  'sample',
  'list_roots',
  'slow',
  'cancelled_count',
  'add_tool',
  'log',
  'whoami',
  'touch',
] as const;

export const LOG_LEVEL_META_KEY = 'io.modelcontextprotocol/logLevel';
export const SUBSCRIPTION_ID_META_KEY = 'io.modelcontextprotocol/subscriptionId';

export interface FeatureSuiteOptions {
  /** The era the client speaks (decides how list-changed, subscriptions and logging are checked). */
  era: Era;
  /** Connects a client (with the harness's handlers) to whatever is under test. */
  connect: () => Promise<ConnectedClient>;
  /** Runs after the client is closed (e.g. stop the fixture or the gateway). */
  teardown?: () => Promise<void>;
  /** The name the client sees for a fixture tool or prompt (e.g. a prefix added by an aggregating endpoint). */
  toolName?: (name: string) => string;
  /** The clientInfo name the server should report from `whoami`; `null` skips the check. */
  expectedClientName?: string | null;
  /** How long to wait for notifications and for the server to notice a cancellation (default 10 s). */
  waitMs?: number;
}

export function describeFeatureSuite(title: string, options: FeatureSuiteOptions): void {
  const tool = options.toolName ?? ((name: string) => name);
  const waitMs = options.waitMs ?? 10_000;
  const expectedName = options.expectedClientName === undefined ? 'fixture-client' : options.expectedClientName;
  const modern = options.era === 'modern';

  describe(title, () => {
    let c: ConnectedClient;
    beforeAll(async () => {
      c = await options.connect();
    });
    afterAll(async () => {
      await c?.close();
      await options.teardown?.();
    });

    it('lists every fixture tool with its description', async () => {
      const { tools } = await c.client.listTools();
      const names = tools.map((t) => t.name);
      for (const name of FIXTURE_TOOLS) expect(names).toContain(tool(name));
      expect(tools.find((t) => t.name === tool('echo'))?.description).toBe('Returns the message it was given.');
    });

    it('echo returns its message and add returns the sum', async () => {
      expect(await c.callText(tool('echo'), { message: 'hi there' })).toBe('hi there');
      expect(await c.callText(tool('add'), { a: 2, b: 40 })).toBe('42');
    });

    it('an unknown tool or bad arguments fail without breaking the connection', async () => {
      const bad = await c.client.callTool({ name: tool('add'), arguments: { a: 'x' } }).catch((e: Error) => e);
      expect(bad instanceof Error || (bad as { isError?: boolean }).isError === true).toBe(true);
      expect(await c.callText(tool('echo'), { message: 'still here' })).toBe('still here');
    });

    it('progress notifications reach the caller, one per step, in order', async () => {
      const seen: number[] = [];
      const before = c.notifications.progress.length;
      const text = await c.callText(tool('progress'), { steps: 3 }, { onprogress: (p) => seen.push(p.progress) });
      expect(text).toBe('done');
      expect(seen).toEqual([1, 2, 3]);
      const wire = c.notifications.progress.slice(before);
      expect(wire.map((p) => p['progress'])).toEqual([1, 2, 3]);
      expect(wire.every((p) => p['progressToken'] !== undefined && p['total'] === 3)).toBe(true);
    });

    it('elicitation: ask_name gets the name the client answered', async () => {
      expect(await c.callText(tool('ask_name'))).toBe('hello Ada');
    });

    it('sampling: sample returns the text the client sampled', async () => {
      expect(await c.callText(tool('sample'), { prompt: 'tell me a joke' })).toBe('sampled: tell me a joke');
    });

    it('roots: list_roots returns the roots the client declared', async () => {
      expect(JSON.parse(await c.callText(tool('list_roots')))).toEqual(FIXTURE_ROOTS);
    });

    it('whoami reports the client identity and capabilities the server saw', async () => {
      const seen = JSON.parse(await c.callText(tool('whoami'))) as {
        name?: string;
        capabilities?: Record<string, unknown>;
      };
      if (expectedName !== null) expect(seen.name).toBe(expectedName);
      expect(Object.keys(seen.capabilities ?? {})).toEqual(
        expect.arrayContaining(['elicitation', 'sampling', 'roots']),
      );
    });

    it('reads the static resource and a templated one', async () => {
      const { resources } = await c.client.listResources();
      expect(resources.map((r) => r.uri)).toEqual(expect.arrayContaining(['fixture://hello', 'fixture://items/1']));
      const hello = await c.client.readResource({ uri: 'fixture://hello' });
      expect(hello.contents[0]).toMatchObject({ uri: 'fixture://hello', text: 'hello from the fixture' });
      const item = await c.client.readResource({ uri: 'fixture://items/42' });
      expect(item.contents[0]).toMatchObject({ uri: 'fixture://items/42', text: 'item 42' });
      const { resourceTemplates } = await c.client.listResourceTemplates();
      expect(resourceTemplates.map((t) => t.uriTemplate)).toContain('fixture://items/{id}');
    });

    it('gets the greet prompt with its argument filled in', async () => {
      const { prompts } = await c.client.listPrompts();
      expect(prompts.find((p) => p.name === tool('greet'))?.arguments?.map((a) => a.name)).toEqual(['name']);
      const prompt = await c.client.getPrompt({ name: tool('greet'), arguments: { name: 'Grace' } });
      expect(prompt.messages[0]?.content).toEqual({ type: 'text', text: 'Please greet Grace.' });
    });

    it('completes the prompt argument and the template variable', async () => {
      const names = await c.client.complete({
        ref: { type: 'ref/prompt', name: tool('greet') },
        argument: { name: 'name', value: 'Al' },
      });
      expect(names.completion.values).toEqual(['Alan', 'Alonzo']);
      const ids = await c.client.complete({
        ref: { type: 'ref/resource', uri: 'fixture://items/{id}' },
        argument: { name: 'id', value: '1' },
      });
      expect(ids.completion.values).toEqual(['1', '10']);
    });

    it('add_tool announces tools/list_changed and the new tool is listed and callable', async () => {
      const subscription = modern ? await c.client.listen({ toolsListChanged: true }) : undefined;
      try {
        if (subscription) expect(subscription.honoredFilter.toolsListChanged).toBe(true);
        const changed = c.notifications.waitFor('notifications/tools/list_changed', () => true, { timeoutMs: waitMs });
        const added = await c.callText(tool('add_tool'));
        expect(added).toMatch(/^extra_\d+$/);
        const params = await changed;
        if (modern)
          expect(typeof (params['_meta'] as Record<string, unknown>)?.[SUBSCRIPTION_ID_META_KEY]).toBe('string');
        const { tools } = await c.client.listTools();
        expect(tools.map((t) => t.name)).toContain(tool(added));
        expect(await c.callText(tool(added))).toBe(added);
      } finally {
        await subscription?.close();
      }
    });

    it('touch sends resources/updated only for a subscribed URI', async () => {
      const subscription = modern
        ? await c.client.listen({ resourceSubscriptions: ['fixture://hello'] })
        : (await c.client.subscribeResource({ uri: 'fixture://hello' }), undefined);
      try {
        if (subscription) expect(subscription.honoredFilter.resourceSubscriptions).toEqual(['fixture://hello']);
        const updated = c.notifications.waitFor('notifications/resources/updated', () => true, { timeoutMs: waitMs });
        await c.callText(tool('touch'), { uri: 'fixture://items/7' });
        await c.callText(tool('touch'), { uri: 'fixture://hello' });
        expect((await updated)['uri']).toBe('fixture://hello');
      } finally {
        if (subscription) await subscription.close();
        else await c.client.unsubscribeResource({ uri: 'fixture://hello' });
      }
    });

    it('log emits a logging notification at or above the requested level only', async () => {
      const before = c.notifications.logging.length;
      if (modern) {
        // 2026-07-28: no logging/setLevel; the level rides in each request's _meta.
        await c.callText(tool('log'), { level: 'info', message: 'no level asked' });
        await c.callText(
          tool('log'),
          { level: 'info', message: 'below' },
          { _meta: { [LOG_LEVEL_META_KEY]: 'warning' } },
        );
        await c.callText(
          tool('log'),
          { level: 'error', message: 'above' },
          { _meta: { [LOG_LEVEL_META_KEY]: 'warning' } },
        );
      } else {
        await c.client.setLoggingLevel('warning');
        await c.callText(tool('log'), { level: 'info', message: 'below' });
        await c.callText(tool('log'), { level: 'error', message: 'above' });
        await c.client.setLoggingLevel('debug');
      }
      const logged = await readUntil(
        async () => c.notifications.logging.slice(before),
        (l) => l.length > 0,
        waitMs,
      );
      expect(logged).toEqual([{ level: 'error', data: 'above', logger: 'feature-server' }]);
    });

    it('cancelling a slow call stops it on the server', async () => {
      const count = async (): Promise<number> => Number(await c.callText(tool('cancelled_count')));
      const before = await count();
      const controller = new AbortController();
      // Abort once the server says it has started, so the cancellation cannot overtake the call.
      const call = c.client.callTool(
        { name: tool('slow'), arguments: { ms: 20_000 } },
        { signal: controller.signal, onprogress: () => controller.abort() },
      );
      await expect(call).rejects.toThrow(/abort/i);
      expect(await readUntil(count, (n) => n === before + 1, waitMs)).toBe(before + 1);
    });

    if (modern) {
      it('2026-07-28: lists carry cache hints, and 2025-only methods are refused by the client', async () => {
        const list = (await c.client.listTools({}, { cacheMode: 'bypass' })) as {
          ttlMs?: unknown;
          cacheScope?: unknown;
        };
        expect(typeof list.ttlMs).toBe('number');
        expect(['public', 'private']).toContain(list.cacheScope);
        const notSupported = /not supported by the negotiated protocol version/;
        await expect(c.client.ping()).rejects.toThrow(notSupported);
        await expect(c.client.setLoggingLevel('info')).rejects.toThrow(notSupported);
        await expect(c.client.subscribeResource({ uri: 'fixture://hello' })).rejects.toThrow(notSupported);
        await expect(c.client.sendRootsListChanged()).rejects.toThrow(notSupported);
      });
    } else {
      it('2025: ping and roots/list_changed work, and subscriptions/listen is refused by the client', async () => {
        await expect(c.client.ping()).resolves.toEqual({});
        await expect(c.client.sendRootsListChanged()).resolves.toBeUndefined();
        await expect(c.client.listen({ toolsListChanged: true })).rejects.toThrow(
          /requires a 2026-07-28-era connection/,
        );
      });
    }
  });
}
