// Proves the one-file build that `gatehouse` runs (dist/bundle/gatehouse.js, loaded by
// bin/gatehouse.js) keeps what the build leaves out of it or trims: a client's trace continues
// through the W3C propagator esbuild takes from @opentelemetry/core's ES module build, when the
// operator registers the OpenTelemetry SDK with --import as docs/observability.md says; a legacy
// HTTP+SSE upstream is reached through the SDK client package, which the bundle loads from
// node_modules; and zod still checks a config, which is refused field by field. Needs
// `npm run build` first (npm test does it).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  freePort,
  spawnFixture,
  spawnReady,
  type ConnectedClient,
  type Era,
  type ReadyProcess,
  type SpawnedFixture,
} from '../helpers/index.js';
import { readUntil } from '../helpers/wait.js';

const run = promisify(execFile);
const REPO = resolve('.');
const BIN = join(REPO, 'bin/gatehouse.js');
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const TRACE_IDS: Record<Era, string> = {
  legacy: '5bf92f3577b34da6a3ce929d0e0e4736',
  modern: '1af7651916cd43dd8448eb211c80319c',
};

/**
 * What an operator's `--import` file does (docs/observability.md), with an exporter that writes
 * each finished span as a JSON line. The SDK's CommonJS builds, from this repository's
 * node_modules: they register through @opentelemetry/api's process-wide registry, which the
 * bundle's own copy of the API reads.
 */
const OTEL_SETUP = (spansFile: string): string => `
import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(REPO, 'package.json'))});
const { context, trace } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const exporter = {
  export(spans, done) {
    for (const s of spans) {
      const { traceId, spanId } = s.spanContext();
      const line = { name: s.name, traceId, spanId, parentSpanId: s.parentSpanContext?.spanId };
      appendFileSync(${JSON.stringify(spansFile)}, JSON.stringify(line) + '\\n');
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
`;

interface SpanLine {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

let dir: string;
let spansFile: string;
let upstream: SpawnedFixture;
let gateway: ReadyProcess;

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist/bundle/gatehouse.js'))) {
    throw new Error('dist/bundle/gatehouse.js is missing: run `npm run build` before this test');
  }
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-bundle-'));
  spansFile = join(dir, 'spans.jsonl');
  writeFileSync(spansFile, '');
  writeFileSync(join(dir, 'otel.mjs'), OTEL_SETUP(spansFile));
  upstream = await spawnFixture({ transport: 'sse', era: 'legacy' });
  const config = {
    listen: { port: await freePort() },
    state: 'memory:',
    audit: 'none',
    servers: {
      example: { command: process.execPath, args: [join(REPO, 'dist/example-server/main.js')] },
      leg: { url: upstream.url, transport: 'sse', timeout_ms: 20_000 },
    },
  };
  writeFileSync(join(dir, 'gatehouse.json'), JSON.stringify(config));
  gateway = await spawnReady({
    command: process.execPath,
    args: ['--import', join(dir, 'otel.mjs'), BIN, 'start', '-c', join(dir, 'gatehouse.json')],
    ready: /Gatehouse is running on (http:\/\/\S+)/,
    timeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const spans = (): SpanLine[] =>
  readFileSync(spansFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SpanLine);

describe.each<Era>(['legacy', 'modern'])('the bundled gateway, %s client', { timeout: 60_000 }, (era) => {
  let client: ConnectedClient;
  beforeAll(async () => {
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.match}/mcp/example` } });
  });
  afterAll(async () => {
    await client?.close();
  });

  it("continues the client's trace: the call span's parent is the client's span", async () => {
    const traceId = TRACE_IDS[era];
    const meta = { traceparent: `00-${traceId}-${CLIENT_SPAN_ID}-01` };
    expect(await client.callText('add', { a: 2, b: 3 }, { _meta: meta })).toBe('5');
    const mine = await readUntil(
      async () => spans().filter((s) => s.traceId === traceId),
      (xs) => xs.some((s) => s.name === 'forward'),
      15_000,
    );
    const call = mine.find((s) => s.name === 'tools/call add');
    expect(call, `spans: ${mine.map((s) => s.name).join(', ')}`).toBeDefined();
    expect(call!.parentSpanId).toBe(CLIENT_SPAN_ID);
    expect(mine.find((s) => s.name === 'forward')!.parentSpanId).toBe(call!.spanId);
  });
});

describe('the bundled gateway and the code it loads from node_modules', { timeout: 60_000 }, () => {
  it('relays a call to a legacy HTTP+SSE upstream', async () => {
    const client = await connectClient({
      era: 'legacy',
      downstream: { kind: 'http', url: `${gateway.match}/mcp/leg` },
    });
    try {
      expect(await client.callText('echo', { message: 'over sse' })).toBe('over sse');
    } finally {
      await client.close();
    }
  });

  it('refuses a bad config with each problem at its path', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ listen: { port: 1.5 }, log: { level: 'loud' }, servers: {} }));
    const failed = await run(process.execPath, [BIN, 'start', '-c', bad]).then(
      () => undefined,
      (error: { code: number; stderr: string; stdout: string }) => error,
    );
    expect(failed?.code).toBe(2);
    const said = `${failed!.stdout}${failed!.stderr}`;
    expect(said).toContain('/listen/port: expected a whole number');
    expect(said).toContain('/log/level: expected one of "trace", "debug", "info", "warn", "error"; got "loud"');
  });
});
