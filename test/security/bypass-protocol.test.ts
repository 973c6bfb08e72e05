// Proves that no trick of the JSON-RPC envelope gets a call past the policy, on every downstream
// where the trick applies: batches mixing allowed and denied calls, reused request ids, tools/call
// sent as a notification (also to a server with a connection per session, where notifications are
// relayed), odd spellings of gated methods, server-to-client requests and responses forged by the
// client, JSON with duplicate keys (what is decided is what is forwarded), 2026-07-28 headers that
// disagree with the body, a modern envelope inside a legacy session and the reverse, and a
// session id used by another grant. The recording upstream shows that nothing denied reached it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, modernHeaders, type JsonObject } from '../helpers/index.js';
import {
  ALICE,
  BOB,
  httpDriver,
  isBlocked,
  received,
  receivedCalls,
  receivedMethods,
  sseDriver,
  startHarness,
  startHarnessEverywhere,
  stdioDriver,
  textOf,
  toolCall,
  type Harness,
  type RawDriver,
} from './support.js';

const settle = () => new Promise((r) => setTimeout(r, 300));

describe('JSON-RPC envelope tricks', () => {
  let h: Harness;
  let drivers: RawDriver[];
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ h, drivers, close } = await startHarnessEverywhere());
  }, 120_000);
  afterAll(() => close?.());

  it('batch refusal: an array mixing an allowed and a denied call is refused whole (-32600) on every downstream', async () => {
    for (const d of drivers) {
      const batch = [
        toolCall(d.era, 'b1', d.shown('read_file'), { path: '/public/batch' }),
        toolCall(d.era, 'b2', d.shown('delete_file'), { path: '/etc' }),
      ];
      const r = await d.raw(JSON.stringify(batch), d.era === 'modern' ? modernHeaders(batch[0]!) : {});
      if (r.status !== undefined) expect(r.status, d.title).toBe(400);
      expect(r.messages[0]?.['error'], d.title).toMatchObject({ code: -32600 });
    }
    await settle();
    expect(receivedCalls(h.records.fs).filter((c) => c.name === 'delete_file')).toEqual([]);
    expect(receivedCalls(h.records.fs).filter((c) => JSON.stringify(c.arguments).includes('/public/batch'))).toEqual(
      [],
    );
  });

  it('per-call decision with id remapping: a reused id gets each call its own decision, concurrently and in turn', async () => {
    for (const d of drivers) {
      const id = `dup-${d.kind}-${d.era}`;
      const [a, b] = await Promise.all([
        d.request(toolCall(d.era, id, d.shown('read_file'), { path: '/public/dup' })),
        d.request(toolCall(d.era, id, d.shown('delete_file'), { path: '/etc' })),
      ]);
      // Whichever answers came back, neither says the denied tool ran.
      for (const x of [a, b]) expect(textOf(x), d.title).not.toMatch(/^delete_file/);
      const again = await d.request(toolCall(d.era, id, d.shown('delete_file'), { path: '/etc' }));
      expect(isBlocked(again), d.title).toBe(true);
    }
    expect(receivedCalls(h.records.fs).filter((c) => c.name === 'delete_file')).toEqual([]);
  });

  it('notifications are not calls: tools/call without an id never reaches the upstream', async () => {
    for (const d of drivers) {
      const n = toolCall(d.era, 0, d.shown('delete_file'), { path: '/notification' });
      delete n['id'];
      await d.raw(JSON.stringify(n), d.era === 'modern' ? modernHeaders(n) : {});
    }
    await settle();
    expect(received(h.records.fs).filter((m) => m['method'] === 'tools/call' && !('id' in m))).toEqual([]);
  });

  it('method guard: odd spellings of gated methods (Tools/Call, "tools/call ", tools//call, tools/call/, a NUL, full-width letters) are refused and never forwarded', async () => {
    const spellings = [
      'Tools/Call',
      'TOOLS/CALL',
      'tools/call ',
      ' tools/call',
      'tools//call',
      'tools/ call',
      'Tools/List',
      'tools/call/',
      '/tools/call',
      'tools/call\u0000',
      'tools\u200b/call',
      'tools.call',
      '\uff54\uff4f\uff4f\uff4c\uff53/call',
      'resources/read/',
    ];
    let n = 0;
    for (const d of drivers) {
      for (const method of spellings) {
        const m: JsonObject = { ...toolCall(d.era, `odd-${n++}`, d.shown('delete_file'), { path: '/odd' }), method };
        // A header carries printable ASCII only: the modern drivers send what of the method fits.
        const header = method.replace(/[^\x21-\x7e]/g, '') || 'x';
        const headers = d.era === 'modern' ? { ...modernHeaders(m), 'mcp-method': header } : {};
        const r = await d.raw(JSON.stringify(m), headers);
        const answer = r.messages.find((x) => x['id'] === m['id']) ?? r.messages[0];
        if (answer) expect('error' in answer, `${d.title} ${JSON.stringify(method)}`).toBe(true);
        else expect(r.status ?? 0, `${d.title} ${JSON.stringify(method)}`).toBeGreaterThanOrEqual(400);
      }
    }
    await settle();
    const got = receivedMethods(h.records.fs);
    for (const method of spellings) expect(got).not.toContain(method);
  });

  it('method guard: server-to-client requests sent by the client (sampling, elicitation, roots) are refused, never relayed', async () => {
    let n = 0;
    for (const d of drivers) {
      for (const method of ['sampling/createMessage', 'elicitation/create', 'roots/list']) {
        const params: Record<string, unknown> = { messages: [], maxTokens: 1 };
        if (d.era === 'modern') params['_meta'] = envelope();
        const m = { jsonrpc: '2.0', id: `s2c-${n++}`, method, params };
        const r = await d.raw(JSON.stringify(m), d.era === 'modern' ? modernHeaders(m) : {});
        const answer = r.messages.find((x) => x['id'] === m['id']) ?? r.messages[0];
        expect(answer !== undefined && 'error' in answer, `${d.title} ${method}`).toBe(true);
      }
    }
    await settle();
    const got = receivedMethods(h.records.fs);
    for (const method of ['sampling/createMessage', 'elicitation/create', 'roots/list'])
      expect(got).not.toContain(method);
  });

  it('response routing: a response to an id the gateway never sent is dropped, and the session still works', async () => {
    for (const d of drivers) {
      for (const id of ['gh-1', 'gh-999', 'srv-1', 1]) {
        const forged = { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'forged' }] } };
        const r = await d.raw(JSON.stringify(forged));
        for (const m of r.messages) expect(textOf(m)).not.toBe('forged');
      }
      const ok = await d.request(
        toolCall(d.era, `after-forge-${d.kind}-${d.era}`, d.shown('read_file'), { path: '/public/x' }),
      );
      expect(isBlocked(ok), d.title).toBe(false);
    }
    await settle();
    // The upstream asked nothing, so it must have been sent no response at all.
    expect(received(h.records.fs).filter((m) => !('method' in m))).toEqual([]);
  });

  it('parse once, forward the parsed message: with duplicate keys the last one is decided and the same one forwarded', async () => {
    let n = 0;
    for (const d of drivers) {
      const name = (t: string) => JSON.stringify(d.shown(t));
      const meta = d.era === 'modern' ? `,"_meta":${JSON.stringify(envelope())}` : '';
      const denyLast = `{"jsonrpc":"2.0","id":"dk-${n}","method":"tools/call","params":{"name":${name('read_file')},"name":${name('delete_file')},"arguments":{"path":"/public/dk"}${meta}}}`;
      const a = await d.request(denyLast, {}, toolCall(d.era, `dk-${n++}`, d.shown('delete_file')));
      expect(isBlocked(a), `${d.title}: ${JSON.stringify(a)}`).toBe(true);
      const allowLast = `{"jsonrpc":"2.0","id":"dk-${n}","method":"tools/call","params":{"name":${name('delete_file')},"name":${name('read_file')},"arguments":{"path":"/etc"},"arguments":{"path":"/public/dk-${n}"}${meta}}}`;
      const b = await d.request(allowLast, {}, toolCall(d.era, `dk-${n}`, d.shown('read_file')));
      expect(textOf(b), d.title).toBe(`read_file {"path":"/public/dk-${n++}"}`);
      const methodLast = `{"jsonrpc":"2.0","id":"dk-${n}","method":"tools/list","method":"tools/call","params":{"name":${name('delete_file')},"arguments":{}${meta}}}`;
      const c = await d.request(methodLast, {}, toolCall(d.era, `dk-${n++}`, d.shown('delete_file')));
      expect(isBlocked(c), d.title).toBe(true);
    }
    const calls = receivedCalls(h.records.fs).filter((c) => JSON.stringify(c.arguments).includes('dk'));
    expect(calls.length).toBe(drivers.length);
    for (const c of calls) expect(c.name).toBe('read_file');
  });

  it('header agreement (-32020): 2026-07-28 requests whose Mcp-Method, Mcp-Name or MCP-Protocol-Version disagree with the body are refused 400', async () => {
    for (const d of drivers.filter((x) => x.era === 'modern' && x.kind !== 'stdio')) {
      const body = toolCall('modern', 'hdr', d.shown('delete_file'), { path: '/etc' });
      const good = modernHeaders(body);
      for (const [header, value] of [
        ['mcp-method', 'tools/list'],
        ['mcp-name', d.shown('read_file')],
        ['mcp-protocol-version', '2025-06-18'],
      ] as const) {
        const r = await d.raw(JSON.stringify(body), { ...good, [header]: value });
        expect(r.status, `${d.title} ${header}`).toBe(400);
      }
      // And the reverse: an allowed name in the header does not excuse a denied name in the body.
      const allowedBody = toolCall('modern', 'hdr2', d.shown('read_file'), { path: '/public/hdr' });
      const r = await d.raw(JSON.stringify(allowedBody), {
        ...modernHeaders(allowedBody),
        'mcp-name': d.shown('delete_file'),
      });
      expect(r.status).toBe(400);
      expect(r.messages[0]?.['error']).toMatchObject({ code: -32020 });
    }
    await settle();
    expect(
      receivedCalls(h.records.fs).filter(
        (c) => c.name === 'delete_file' || JSON.stringify(c.arguments).includes('hdr'),
      ),
    ).toEqual([]);
  });

  it('era separation: a modern request beside a session id is decided on its own, a modern envelope on HTTP+SSE and a legacy call without a session are refused', async () => {
    const legacy = await httpDriver(h, 'legacy', false);
    try {
      // A modern request stands alone: the session id beside it grants nothing, and it is decided
      // by the same policy as any other call.
      const modernInSession = toolCall('modern', 'cross-1', 'delete_file', { path: '/cross' });
      const a = await legacy.request(modernInSession, modernHeaders(modernInSession));
      expect(textOf(a)).toBe('[POLICY DENIED] Never delete.');
    } finally {
      await legacy.close();
    }
    const sse = await sseDriver(h);
    try {
      const a = await sse.request(toolCall('modern', 'cross-2', 'read_file', { path: '/public/cross' }));
      expect(a['error']).toMatchObject({ code: -32600 });
    } finally {
      await sse.close();
    }
    const res = await fetch(`${h.gateway.url}/mcp/fs`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${ALICE}`,
      },
      body: JSON.stringify(toolCall('legacy', 'cross-3', 'read_file', { path: '/public/cross' })),
    });
    expect(res.status).toBe(400);
    await settle();
    expect(receivedCalls(h.records.fs).filter((c) => JSON.stringify(c.arguments).includes('cross'))).toEqual([]);
  });

  it('session ownership: a session id used with another grant\'s token is "not found", on Streamable HTTP and on HTTP+SSE', async () => {
    const alice = await httpDriver(h, 'legacy', false, ALICE);
    const aliceSse = await sseDriver(h, ALICE);
    try {
      const res = await fetch(`${h.gateway.url}/mcp/fs`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${BOB}`,
          'mcp-session-id': alice.sessionId!,
        },
        body: JSON.stringify(toolCall('legacy', 'steal', 'read_file', { path: '/public/stolen' })),
      });
      expect(res.status).toBe(404);
      const sse = await fetch(aliceSse.postUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${BOB}` },
        body: JSON.stringify(toolCall('legacy', 'steal-2', 'read_file', { path: '/public/stolen' })),
      });
      expect(sse.status).toBe(404);
    } finally {
      await alice.close();
      await aliceSse.close();
    }
    await settle();
    expect(receivedCalls(h.records.fs).filter((c) => JSON.stringify(c.arguments).includes('stolen'))).toEqual([]);
  });
});

describe('notifications to a server with a connection per session', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ serverExtra: { isolation: 'session' } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('notification filter: tools/call without an id is not relayed to a per-session child, while real notifications are', async () => {
    const drivers = [await httpDriver(h, 'legacy', false), await sseDriver(h), await stdioDriver(h, 'legacy')];
    try {
      for (const d of drivers) {
        const ok = await d.request(toolCall('legacy', `iso-${d.kind}`, 'read_file', { path: '/public/iso' }));
        expect(isBlocked(ok), d.title).toBe(false);
        await d.raw(
          JSON.stringify({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'delete_file', arguments: {} } }),
        );
        await d.raw(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }));
      }
      await settle();
    } finally {
      for (const d of drivers) await d.close();
    }
    const notes = received(h.records.fs).filter((m) => !('id' in m));
    expect(notes.filter((m) => m['method'] === 'tools/call')).toEqual([]);
    // The HTTP and SSE sessions share this record file with their own children; stdio runs apart.
    expect(notes.filter((m) => m['method'] === 'notifications/roots/list_changed').length).toBeGreaterThanOrEqual(2);
  });
});
