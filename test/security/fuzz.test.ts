// Proves, with generated input, that Gatehouse keeps running and answers by the spec whatever it is
// sent: random JSON-RPC messages and random HTTP requests (methods, paths, headers, bodies, content
// types, sizes) against a running gateway each get a well-formed answer within a bound, never a 500,
// and the gateway is healthy afterwards with no denied call having reached the upstream; random
// policy and config documents make the loaders report problems (PolicyError, a problems list),
// never throw anything else. Runs are bounded so the file stays fast.
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy, PolicyError } from '../../src/policy/compile.js';
import { validateConfig } from '../../src/config/validate.js';
import { envelope } from '../helpers/index.js';
import { ALICE, receivedCalls, startHarness, type Harness } from './support.js';

/** Statuses the HTTP edge may answer with; a 500 or anything else is a failure. */
const EDGE_STATUSES = new Set([200, 202, 400, 401, 403, 404, 405, 406, 409, 413, 415]);
const ANSWER_BOUND_MS = 10_000;

interface RawAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** One raw HTTP request; resolves when the answer has come (a stream is cut after its headers). */
function send(
  base: string,
  opts: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = httpRequest(
      // A connection per request: a server may close a connection whose body it did not read, and
      // a pooled socket would turn that into the next request's error.
      { host: url.hostname, port: url.port, method: opts.method, path: opts.path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        const type = String(res.headers['content-type'] ?? '');
        // An event stream may stay open by design: its headers are the answer.
        const cut = type.includes('text/event-stream') ? setTimeout(() => res.destroy(), 300) : undefined;
        res.on('data', (c: Buffer) => chunks.push(c));
        const done = () => {
          clearTimeout(cut);
          resolve({ status: res.statusCode ?? 0, contentType: type, body: Buffer.concat(chunks).toString('utf8') });
        };
        res.on('end', done);
        res.on('close', done);
      },
    );
    req.setTimeout(ANSWER_BOUND_MS, () => req.destroy(new Error(`no answer within ${ANSWER_BOUND_MS} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A JSON body that claims to be JSON-RPC must be a well-formed response. */
function expectWellFormed(a: RawAnswer): void {
  expect(EDGE_STATUSES.has(a.status), `status ${a.status}: ${a.body.slice(0, 200)}`).toBe(true);
  if (!a.contentType.includes('application/json') || !a.body.trim()) return;
  const value = JSON.parse(a.body) as Record<string, unknown>;
  if (!('jsonrpc' in value)) return;
  expect(value['jsonrpc']).toBe('2.0');
  expect('result' in value || 'error' in value).toBe(true);
  if ('error' in value) expect(typeof (value['error'] as { code?: unknown }).code).toBe('number');
}

const methodArb = fc.oneof(
  fc.constantFrom(
    'initialize',
    'tools/call',
    'tools/list',
    'ping',
    'server/discover',
    'resources/read',
    'prompts/get',
    'notifications/initialized',
    'notifications/cancelled',
    'Tools/Call',
    'sampling/createMessage',
    'completion/complete',
    'logging/setLevel',
  ),
  fc.string({ maxLength: 30 }),
);
const idArb = fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant(null), fc.double(), fc.boolean());
const paramsArb = fc.oneof(
  fc.record({
    name: fc.constantFrom('read_file', 'delete_file', 'secret_tool', 'fs__delete_file'),
    arguments: fc.jsonValue(),
  }),
  fc.record({
    name: fc.constantFrom('read_file', 'delete_file', 'fs__delete_file'),
    arguments: fc.jsonValue(),
    _meta: fc.constant(envelope()),
  }),
  fc.jsonValue(),
);
const messageArb = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant('2.0'), fc.string({ maxLength: 5 })),
    id: idArb,
    method: methodArb,
    params: paramsArb,
  },
  { requiredKeys: ['jsonrpc'] },
);

describe('fuzzing a running gateway', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('random JSON-RPC messages each get a well-formed answer within the bound (never a 500), and nothing denied reaches the upstream', async () => {
    await fc.assert(
      fc.asyncProperty(
        messageArb,
        fc.constantFrom('/mcp/fs', '/mcp'),
        fc.boolean(),
        fc.constantFrom(undefined, 'abc', 'not-a-session'),
        async (message, path, modernHeaders, session) => {
          const headers: Record<string, string> = {
            'content-type': 'application/json',
            accept: 'application/json',
            authorization: `Bearer ${ALICE}`,
          };
          if (session) headers['mcp-session-id'] = session;
          if (modernHeaders) {
            headers['mcp-protocol-version'] = '2026-07-28';
            if (typeof message.method === 'string' && /^[\x21-\x7e]+$/.test(message.method))
              headers['mcp-method'] = message.method;
          }
          expectWellFormed(await send(h.gateway.url, { method: 'POST', path, headers, body: JSON.stringify(message) }));
        },
      ),
      { numRuns: 250 },
    );
    expect(receivedCalls(h.records.fs).filter((c) => c.name !== 'read_file')).toEqual([]);
  }, 60_000);

  it('malformed bodies get the JSON-RPC error the spec names: -32700 for bad JSON, -32600 for a batch or a non-object', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        let valid = true;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          valid = false;
        }
        const a = await send(h.gateway.url, {
          method: 'POST',
          path: '/mcp/fs',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ALICE}` },
          body: text,
        });
        expectWellFormed(a);
        if (!valid) {
          expect(a.status).toBe(400);
          expect(JSON.parse(a.body)).toMatchObject({ error: { code: -32700 } });
        } else if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          expect(a.status).toBe(400);
          expect(JSON.parse(a.body)).toMatchObject({ error: { code: -32600 } });
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('content type check: a POST that says it is not JSON (text/plain, a form) is refused 415 on both HTTP transports', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const a = await send(h.gateway.url, {
        method: 'POST',
        path: '/mcp/fs',
        headers: { 'content-type': type, authorization: `Bearer ${ALICE}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      expect(a.status, type).toBe(415);
      expect(JSON.parse(a.body)).toMatchObject({ error: { code: -32600 } });
    }
  });

  it('random HTTP requests (methods, paths, headers, content types, sizes) are each answered within the bound with an edge status', async () => {
    const pathArb = fc.oneof(
      fc.constantFrom(
        '/mcp',
        '/mcp/fs',
        '/mcp/my-srv',
        '/mcp/nope',
        '/mcp/%ZZ',
        '/mcp/fs/extra',
        '/sse/fs',
        '/messages/fs',
        '/messages/fs?sessionId=x',
        '/healthz',
        '/readyz',
        '/api/v1/catalog',
      ),
      fc.webPath().map((p) => p || '/'),
    );
    const headerArb = fc.record(
      {
        'content-type': fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=utf-8',
          '',
        ),
        accept: fc.constantFrom('application/json', 'text/event-stream', '*/*', 'text/html', ''),
        authorization: fc.constantFrom(`Bearer ${ALICE}`, 'Bearer wrong', 'Basic abc', ''),
        'mcp-session-id': fc.string({ maxLength: 20 }).filter((s) => /^[\x21-\x7e]*$/.test(s)),
        'mcp-protocol-version': fc.constantFrom('2026-07-28', '2025-06-18', 'garbage', ''),
        'mcp-method': fc.constantFrom('tools/call', 'tools/list', ''),
      },
      { requiredKeys: [] },
    );
    const bodyArb = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 300 }),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.integer({ min: 1, max: 3 }).map((n) => 'x'.repeat(n * 2 * 1024 * 1024)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
        pathArb,
        headerArb,
        bodyArb,
        async (method, path, rawHeaders, body) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(rawHeaders)) if (v) headers[k] = v;
          if (!headers['authorization']) delete headers['authorization'];
          const a = await send(h.gateway.url, {
            method,
            path,
            headers: { host: '127.0.0.1', ...headers },
            ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
          });
          if (path.startsWith('/api/') || path === '/readyz')
            expect(a.status).toBeLessThan(500 + (path === '/readyz' ? 4 : 0));
          else expectWellFormed(a);
        },
      ),
      { numRuns: 200 },
    );
    const health = await send(h.gateway.url, { method: 'GET', path: '/healthz', headers: {} });
    expect(health.status).toBe(200);
  }, 90_000);
});

describe('fuzzing the loaders', () => {
  const ruleArb = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        action: fc.oneof(fc.constantFrom('allow', 'deny', 'hide', 'require_approval'), fc.string()),
        deny_if: fc.array(
          fc.record({ when: fc.oneof(fc.string(), fc.constantFrom('args.x > 1', 'args.', '1 +', 'size(args) > 0')) }),
        ),
        limits: fc.array(
          fc.record(
            { max: fc.oneof(fc.integer(), fc.double(), fc.string()), window: fc.oneof(fc.string(), fc.integer()) },
            { requiredKeys: [] },
          ),
        ),
        approval: fc.record({ timeout: fc.oneof(fc.string(), fc.integer()), mode: fc.string() }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    ),
  );
  const policyArb = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        version: fc.oneof(fc.constant('1'), fc.jsonValue()),
        default: fc.oneof(fc.constantFrom('allow', 'deny'), fc.jsonValue()),
        hide: fc.oneof(fc.array(fc.string()), fc.jsonValue()),
        tools: fc.dictionary(fc.string({ maxLength: 12 }), ruleArb, { maxKeys: 4 }),
        categories: fc.dictionary(fc.constantFrom('read', 'write', 'nope'), ruleArb, { maxKeys: 3 }),
        all_tools: ruleArb,
      },
      { requiredKeys: [] },
    ),
  );

  it('loadPolicy answers a compiled policy or a PolicyError with a problems list, never another exception', () => {
    fc.assert(
      fc.property(policyArb, (doc) => {
        try {
          loadPolicy(doc);
        } catch (err) {
          expect(err).toBeInstanceOf(PolicyError);
          expect((err as PolicyError).problems.length).toBeGreaterThan(0);
          for (const p of (err as PolicyError).problems) expect(typeof p.path).toBe('string');
        }
      }),
      { numRuns: 400 },
    );
  });

  it('validateConfig answers ok or a problems list, never an exception', () => {
    const configArb = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          listen: fc.oneof(
            fc.record({ host: fc.string(), port: fc.oneof(fc.integer(), fc.string()) }, { requiredKeys: [] }),
            fc.jsonValue(),
          ),
          state: fc.oneof(fc.constantFrom('memory:', 'sqlite:x', 'redis://h:1/0'), fc.string()),
          auth: fc.oneof(fc.record({ mode: fc.string() }), fc.jsonValue()),
          servers: fc.dictionary(
            fc.string({ maxLength: 10 }),
            fc.oneof(fc.record({ command: fc.string() }), fc.jsonValue()),
            { maxKeys: 3 },
          ),
          limits: fc.oneof(fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue()), fc.jsonValue()),
          grants: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(configArb, (doc) => {
        const r = validateConfig(doc);
        if (!r.ok) {
          expect(r.problems.length).toBeGreaterThan(0);
          for (const p of r.problems) expect(typeof p.message).toBe('string');
        }
      }),
      { numRuns: 400 },
    );
  });
});
