// The Streamable HTTP edge classifies each POST without the SDK's zod schemas for the common
// shapes. These prove it answers exactly what the SDK's classifyInboundRequest answers (the same
// route, or the same refusal with the same error) for any body and headers, and that the common
// legacy and 2026-07-28 requests take the short way.
import { classifyInboundRequest, type InboundHttpRequest } from '@modelcontextprotocol/server';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyInbound, classifyPlain } from '../../src/transports/downstream/classify-inbound.js';
import { jsonValue } from '../helpers/arbitraries.js';

const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';
const INFO = 'io.modelcontextprotocol/clientInfo';
const LEVEL = 'io.modelcontextprotocol/logLevel';
const TASK = 'io.modelcontextprotocol/related-task';
const TRACE = 'traceparent';

/** A 2026-07-28 envelope, valid when `v` is a modern revision. */
function envelopeOf(v = '2026-07-28'): Record<string, unknown> {
  return { [PV]: v, [CAPS]: {}, [INFO]: { name: 'agent', version: '1.0' } };
}

const json = jsonValue(['a', '_meta', 'progressToken', '__proto__', 'constructor', 'name'], {
  width: 2,
  maxString: 4,
});
const id = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.integer(),
  fc.constantFrom(1.5, -0, 2 ** 53, -(2 ** 53) + 1, null, true),
);
const version = fc.constantFrom('2026-07-28', '2025-11-25', '2025-06-18', '2027-01-01', '', 'x');
const clientInfo = fc.oneof(
  fc.constant({ name: 'agent', version: '1.0' }),
  fc.constant({ name: 'agent', version: '1.0', title: 'Agent', websiteUrl: 'https://example.com' }),
  fc.constant({ name: 'agent' }),
  fc.constant({ name: 1, version: '1' }),
  json,
);
const capabilities = fc.oneof(
  fc.constant({}),
  fc.constant({ sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } }),
  fc.constant({ sampling: 'yes' }),
  json,
);
/** A `_meta`: a 2026-07-28 envelope (right or wrong in any of its keys), or anything else. */
const meta = fc.oneof(
  fc.record(
    {
      [PV]: fc.oneof(version, json),
      [CAPS]: capabilities,
      [INFO]: clientInfo,
      [LEVEL]: fc.oneof(fc.constantFrom('debug', 'info', 'loud'), json),
      progressToken: fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constantFrom(1.5, null, 2 ** 60)),
      [TASK]: fc.oneof(fc.constant({ taskId: 't' }), json),
      [TRACE]: json,
      other: json,
    },
    { requiredKeys: [] },
  ),
  fc.record({ [PV]: version, [CAPS]: capabilities }),
  fc.record({ [PV]: version, [CAPS]: capabilities, [INFO]: clientInfo, progressToken: fc.integer() }),
  json,
);
const method = fc.oneof(
  fc.constantFrom('tools/call', 'tools/list', 'initialize', 'ping', 'notifications/initialized'),
  json,
);
const params = fc.oneof(
  fc.constant(undefined),
  fc.record({ name: fc.constant('echo'), arguments: fc.constant({ message: 'hi' }) }),
  fc.record({ name: fc.constant('echo'), _meta: meta }, { requiredKeys: ['_meta'] }),
  fc.record({ protocolVersion: version, capabilities: fc.constant({}), _meta: meta }, { requiredKeys: [] }),
  json,
);
/** A well-formed tools request with or without an envelope (valid or not) and a progress token. */
const wellFormed = fc
  .record({
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 3 })),
    method: fc.constantFrom('tools/call', 'tools/list'),
    envelope: fc.option(version.map(envelopeOf), { nil: undefined }),
    progressToken: fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(0.5)), {
      nil: undefined,
    }),
  })
  .map(({ id, method, envelope: env, progressToken }) => {
    const meta = { ...env, ...(progressToken !== undefined && { progressToken }) };
    return { jsonrpc: '2.0', id, method, params: { name: 'echo', _meta: meta } };
  });
/** A JSON-RPC message of any kind, or something close to one, as it arrives off the wire. */
const body = fc
  .oneof(
    wellFormed,
    fc.record(
      { jsonrpc: fc.constantFrom('2.0', '2.0', '2.0', '1.0'), id, method, params },
      { requiredKeys: ['jsonrpc', 'method'] },
    ),
    fc.record(
      { jsonrpc: fc.constant('2.0'), id, method, params, result: json, error: json, extra: json },
      { requiredKeys: [] },
    ),
    fc.array(fc.record({ jsonrpc: fc.constant('2.0'), id, method, params }, { requiredKeys: [] }), { maxLength: 2 }),
    json,
  )
  // JSON.parse makes `__proto__` an own key, as it is in a real request's body.
  .map((v) => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as unknown)));
const ows = (v: string): fc.Arbitrary<string> => fc.constantFrom(v, ` ${v}`, `${v}\t`, ` \t${v} `);
const request: fc.Arbitrary<InboundHttpRequest> = fc.record(
  {
    httpMethod: fc.constantFrom('POST', 'POST', 'post', 'GET'),
    protocolVersionHeader: version.chain(ows),
    mcpMethodHeader: fc.constantFrom('tools/call', 'tools/list', 'initialize').chain(ows),
    mcpNameHeader: fc.constantFrom('echo', ' echo'),
    body,
  },
  { requiredKeys: ['httpMethod', 'body'] },
);

describe('inbound classification', () => {
  it('answers exactly what the SDK answers, for any body and headers', () => {
    fc.assert(
      fc.property(request, (req) => {
        expect(classifyInbound(req)).toStrictEqual(classifyInboundRequest(req));
      }),
      { numRuns: 20_000 },
    );
  });

  it('answers exactly what the SDK answers for requests with and without a valid envelope and headers', () => {
    const shaped = fc.record({
      httpMethod: fc.constant('POST'),
      protocolVersionHeader: fc.option(version.chain(ows), { nil: undefined }),
      mcpMethodHeader: fc.option(fc.constantFrom('tools/call', 'tools/list').chain(ows), { nil: undefined }),
      body: wellFormed,
    });
    fc.assert(
      fc.property(shaped, (req) => {
        // A header the generator left out is absent, as it is from a real request.
        const sparse = Object.fromEntries(Object.entries(req).filter(([, v]) => v !== undefined));
        const request = sparse as unknown as InboundHttpRequest;
        expect(classifyInbound(request)).toStrictEqual(classifyInboundRequest(request));
      }),
      { numRuns: 5_000 },
    );
  });

  it('classifies a plain 2025 request and a 2026-07-28 request with a valid envelope without the SDK', () => {
    const legacy = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } };
    expect(classifyPlain({ httpMethod: 'POST', protocolVersionHeader: '2025-11-25', body: legacy })).toStrictEqual({
      kind: 'legacy',
      reason: 'no-claim',
      requestedVersion: '2025-11-25',
    });
    const modern = { ...legacy, params: { name: 'echo', _meta: { ...envelopeOf(), progressToken: 7 } } };
    const req = {
      httpMethod: 'POST',
      protocolVersionHeader: '2026-07-28',
      mcpMethodHeader: 'tools/call',
      body: modern,
    };
    expect(classifyPlain(req)).toStrictEqual({
      kind: 'modern',
      messageKind: 'request',
      message: modern,
      classification: { era: 'modern', revision: '2026-07-28' },
    });
    // Another progress token, same envelope: still without the SDK, and still the same answer.
    const next = { ...modern, id: 2, params: { name: 'echo', _meta: { ...envelopeOf(), progressToken: 'p' } } };
    expect(classifyPlain({ ...req, body: next })).toStrictEqual(classifyInboundRequest({ ...req, body: next }));
  });

  it('leaves an invalid envelope, initialize and header disagreements to the SDK', () => {
    const bad = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { [PV]: '2026-07-28' } } };
    expect(classifyPlain({ httpMethod: 'POST', body: bad })).toBeUndefined();
    expect(classifyInbound({ httpMethod: 'POST', body: bad })).toMatchObject({ kind: 'reject', httpStatus: 400 });
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25' } };
    expect(classifyPlain({ httpMethod: 'POST', body: init })).toBeUndefined();
    const modern = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelopeOf() } };
    const mismatch = { httpMethod: 'POST', protocolVersionHeader: '2026-07-28', mcpMethodHeader: 'tools/call' };
    expect(classifyPlain({ ...mismatch, body: modern })).toBeUndefined();
    expect(classifyInbound({ ...mismatch, body: modern })).toMatchObject({ kind: 'reject', code: -32020 });
  });

  it('answers as the SDK does for an envelope too deep or too long to remember, and does not keep it', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 5_000; i++) deep = [deep];
    const deepCaps = { ...envelopeOf(), [CAPS]: { experimental: { deep } } };
    const longInfo = { ...envelopeOf(), [INFO]: { name: 'x'.repeat(10_000), version: '1' } };
    for (const meta of [deepCaps, longInfo]) {
      const req = {
        httpMethod: 'POST',
        body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } },
      };
      expect(classifyPlain(req)).toBeUndefined();
      expect(classifyInbound(req)).toStrictEqual(classifyInboundRequest(req));
    }
  });

  it('takes the short way for an envelope whose other keys change with every request', () => {
    for (const trace of ['00-a-b-01', '00-c-d-01', { odd: [1, 2] }]) {
      const meta = { ...envelopeOf(), [TRACE]: trace, extra: 'x'.repeat(10_000) };
      const req = {
        httpMethod: 'POST',
        body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } },
      };
      expect(classifyPlain(req)).toStrictEqual(classifyInboundRequest(req));
      expect(classifyPlain(req)).toMatchObject({ kind: 'modern' });
    }
  });

  it('gives a remembered invalid envelope the refusal the SDK gives, whatever its progress token', () => {
    const bad = { [PV]: '2026-07-28', [CAPS]: {}, [LEVEL]: 'loud' };
    for (const progressToken of [1, 'a', 2]) {
      const req = {
        httpMethod: 'POST',
        body: { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: { ...bad, progressToken } } },
      };
      expect(classifyInbound(req)).toStrictEqual(classifyInboundRequest(req));
      expect(classifyInbound(req)).toMatchObject({ kind: 'reject', httpStatus: 400 });
    }
  });
});
