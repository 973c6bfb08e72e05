// Gatehouse reads a stdio upstream's messages without the SDK's zod schema for the common shapes.
// These prove the reader gives exactly what the SDK's reader gives (the same message, keys in the
// same order, or the same rejection) for any line, and that the common shapes skip the schema.
import { deserializeMessage } from '@modelcontextprotocol/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageLineBuffer, plainMessage, readMessageLine } from '../../src/transports/upstream/message-reader.js';
import { jsonValue } from '../helpers/arbitraries.js';

type Outcome = { ok: true; json: string } | { ok: false; kind: string; message: string };

function outcome(read: (line: string) => unknown, line: string): Outcome {
  try {
    return { ok: true, json: JSON.stringify(read(line)) };
  } catch (error) {
    const e = error as Error;
    return { ok: false, kind: e.constructor.name, message: e.message };
  }
}

const id = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.integer(),
  fc.constantFrom(1.5, -0, 2 ** 53, -(2 ** 60), null, true),
);
const KEYS = ['a', 'text', '_meta', 'progressToken', '__proto__', 'constructor', 'data', 'code', 'extra'];
const key = fc.constantFrom(...KEYS);
const json = jsonValue(KEYS, { width: 3, maxString: 5 });
const serverInfo = fc.oneof(
  fc.record(
    {
      description: fc.string({ maxLength: 3 }),
      version: fc.oneof(fc.string({ maxLength: 3 }), fc.integer()),
      extra: fc.string({ maxLength: 2 }),
      title: fc.string({ maxLength: 3 }),
      name: fc.string({ maxLength: 3 }),
      websiteUrl: fc.oneof(fc.string({ maxLength: 3 }), fc.constant(null)),
      icons: fc.constant([]),
    },
    { requiredKeys: [] },
  ),
  json,
);
const resultMeta = fc.oneof(
  fc.record(
    { other: json, 'io.modelcontextprotocol/serverInfo': serverInfo, later: json },
    { requiredKeys: ['io.modelcontextprotocol/serverInfo'] },
  ),
  fc.dictionary(key, json, { maxKeys: 2 }),
  json,
);
const body = fc.oneof(
  fc.dictionary(key, json, { maxKeys: 3 }),
  fc.record({ _meta: fc.oneof(json, fc.record({ progressToken: id })) }),
  fc.record({ content: json, _meta: resultMeta, after: json }, { requiredKeys: ['_meta'] }),
  json,
);
const errorObject = fc.oneof(
  fc.record(
    {
      code: fc.oneof(fc.integer(), fc.constantFrom(1.5, '1')),
      message: fc.oneof(fc.string(), fc.integer()),
      data: json,
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(key, json, { maxKeys: 4 }),
  json,
);
const message = fc
  .record(
    {
      jsonrpc: fc.constantFrom('2.0', '2.0', '2.0', '1.0', 2),
      id,
      method: fc.oneof(fc.constantFrom('tools/call', 'notifications/progress'), fc.integer()),
      params: body,
      result: body,
      error: errorObject,
      extra: json,
    },
    { requiredKeys: [] },
  )
  // A JSON-parsed object owns "__proto__" as a plain key; JSON text is what the reader sees.
  .map((m) => JSON.stringify(m));
const keyOrderShuffled = fc.constantFrom(
  '{"id":7,"result":{"b":1,"a":2},"jsonrpc":"2.0"}',
  '{"error":{"message":"m","data":[1],"code":-32000},"id":"x","jsonrpc":"2.0"}',
  '{"params":{"z":1},"method":"m","jsonrpc":"2.0"}',
);

describe('stdio message reader', () => {
  it('gives the same message, key order included, or the same error as the SDK reader for any line', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          message,
          keyOrderShuffled,
          fc.string({ maxLength: 8 }),
          json.map((v) => JSON.stringify(v) ?? 'x'),
        ),
        (line) => {
          expect(outcome(readMessageLine, line)).toEqual(outcome(deserializeMessage, line));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('agrees with the SDK reader on the edges: unsafe and fractional ids, null ids, extra keys, _meta, wrong versions', () => {
    const lines = [
      '{"jsonrpc":"2.0","id":9007199254740992,"result":{}}',
      '{"jsonrpc":"2.0","id":9007199254740991,"result":{}}',
      '{"jsonrpc":"2.0","id":1.5,"method":"m"}',
      '{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m"}}',
      '{"jsonrpc":"2.0","error":{"code":1,"message":"m","extra":true,"data":null}}',
      '{"jsonrpc":"2.0","error":{"code":1.5,"message":"m"}}',
      '{"jsonrpc":"2.0","id":1,"error":{"code":9007199254740992,"message":"m"}}',
      '{"jsonrpc":"2.0","id":1,"result":{},"extra":1}',
      '{"jsonrpc":"2.0","id":1,"result":[]}',
      '{"jsonrpc":"2.0","method":"m","params":null}',
      '{"jsonrpc":"2.0","method":"m","params":{"_meta":{"progressToken":1.5}}}',
      '{"jsonrpc":"2.0","id":1,"result":{"_meta":{"io.modelcontextprotocol/serverInfo":1},"a":1}}',
      '{"jsonrpc":"1.0","id":1,"result":{}}',
      '{"jsonrpc":"2.0","__proto__":{},"method":"m"}',
      '{"jsonrpc":"2.0","id":1,"result":{"__proto__":{"x":1},"a":1}}',
      '{"jsonrpc":"2.0","method":"m","params":{"__proto__":{"x":1},"a":1}}',
      '{"jsonrpc":"2.0","id":1,"result":{"a":1,"_meta":{"x":1,"io.modelcontextprotocol/serverInfo":{"version":"1","name":"s","title":"t"},"y":2}}}',
      '{"jsonrpc":"2.0","id":1,"result":{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"1","websiteUrl":null}}}}',
      '{"jsonrpc":"2.0","id":1,"result":{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"1","extra":"x"}}}}',
      '{"jsonrpc":"2.0","id":1,"result":{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s"}}}}',
      '{"jsonrpc":"2.0","id":1,"result":{"_meta":{"io.modelcontextprotocol/serverInfo":"s"}}}',
      '{"jsonrpc":"2.0","id":1,"result":{"_meta":[]}}',
    ];
    for (const line of lines) expect(outcome(readMessageLine, line), line).toEqual(outcome(deserializeMessage, line));
  });

  it('reads the common shapes (requests, notifications, results, errors without _meta) without the schema', () => {
    const common = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hi' } } },
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1 } },
      { jsonrpc: '2.0', id: 'a', result: { content: [{ type: 'text', text: 'hi' }] } },
      { jsonrpc: '2.0', id: 2, error: { code: -32602, message: 'bad', data: { why: 1 } } },
      { jsonrpc: '2.0', error: { code: -32700, message: 'parse error' } },
    ];
    for (const m of common) expect(plainMessage(JSON.parse(JSON.stringify(m)) as Record<string, unknown>)).toEqual(m);
    // A 2026-07-28 result, with the server info in _meta: built directly, _meta first.
    const modern = {
      jsonrpc: '2.0',
      id: 3,
      result: {
        content: [],
        _meta: { 'io.modelcontextprotocol/serverInfo': { version: '1', name: 'echo' } },
        resultType: 'complete',
      },
    };
    expect(JSON.stringify(plainMessage(modern as unknown as Record<string, unknown>))).toBe(
      JSON.stringify(deserializeMessage(JSON.stringify(modern))),
    );
    // A server info with icons is left to the schema, which looks into them.
    expect(
      plainMessage({
        jsonrpc: '2.0',
        id: 1,
        result: { _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'a', version: '1', icons: [] } } },
      }),
    ).toBeUndefined();
  });

  it('frames lines as the SDK does: split chunks, CRLF, non-JSON lines skipped, and a size limit that clears the buffer', () => {
    const buffer = new MessageLineBuffer(64);
    buffer.append(Buffer.from('not json\n{"jsonrpc":"2.0","id":1,"res'));
    expect(buffer.readMessage()).toBeNull();
    buffer.append(Buffer.from('ult":{}}\r\n'));
    expect(buffer.readMessage()).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    expect(buffer.readMessage()).toBeNull();
    expect(() => buffer.append(Buffer.alloc(65, 0x20))).toThrow('ReadBuffer exceeded maximum size of 64 bytes');
    buffer.append(Buffer.from('{"jsonrpc":"2.0","method":"m"}\n'));
    expect(buffer.readMessage()).toEqual({ jsonrpc: '2.0', method: 'm' });
  });
});
