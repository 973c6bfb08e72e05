// What the security tests share: a gateway in grants mode in front of the recording fixture (which
// writes down every line it receives), and one raw JSON-RPC driver per downstream transport, so an
// attack is sent byte for byte as written, with no SDK in between to tidy it up.
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeParamValue } from '../../src/mcp/param-headers.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, startFileGateway, tempDir } from '../helpers/gateway.js';
import {
  ACCEPT_BOTH,
  StdioPeer,
  TSX_LOADER,
  envelope,
  modernHeaders,
  openStream,
  parseSse,
  type JsonObject,
  type SseReader,
} from '../helpers/index.js';

export const RECORDING_SERVER = fileURLToPath(new URL('../fixtures/servers/recording-server.ts', import.meta.url));
export const CLI = resolve('src/cli/main.ts');
export const ALICE = 'tok-alice-security-0001';
export const BOB = 'tok-bob-security-0002';

/** The policy of the `fs` server in most tests. */
export const FS_POLICY = {
  version: '1',
  default: 'deny',
  hide: ['secret_*'],
  tools: {
    read_file: { require: [{ when: "args.path.startsWith('/public/')", reason: 'Only /public/ may be read.' }] },
    write_note: {
      deny_if: [{ when: 'args.size > 100', reason: 'Notes are small.' }],
      require: [{ when: 'args.size < 100', reason: 'Notes are small.' }],
    },
    delete_file: { action: 'deny', reason: 'Never delete.' },
    mutate: {},
    confirm: {},
  },
};

export function recordingEntry(record: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    command: process.execPath,
    args: ['--import', TSX_LOADER, RECORDING_SERVER],
    env: { RECORD_FILE: record },
    timeout_ms: 10_000,
    ...extra,
  };
}

export interface Harness {
  gateway: Gateway;
  dir: string;
  configFile: string;
  /** The record file of each server, by name. */
  records: { fs: string; 'my-srv': string };
  /** Stops the gateway and removes its folder. */
  close(): Promise<void>;
}

/**
 * Starts a gateway from a config file in a fresh directory: servers `fs` and `my-srv` (both the
 * recording fixture, under FS_POLICY unless `policies` says otherwise), grants alice and bob.
 */
export async function startHarness(
  opts: {
    policies?: Record<string, unknown>;
    serverExtra?: Record<string, unknown>;
    config?: Record<string, unknown>;
  } = {},
): Promise<Harness> {
  const dir = tempDir('gatehouse-security-');
  const records = { fs: join(dir.path, 'fs.jsonl'), 'my-srv': join(dir.path, 'my-srv.jsonl') };
  const servers: Record<string, unknown> = {};
  for (const [name, record] of Object.entries(records))
    servers[name] = recordingEntry(record, { policy: opts.policies?.[name] ?? FS_POLICY, ...opts.serverExtra });
  const started = await startFileGateway(dir, {
    ...EPHEMERAL,
    auth: { mode: 'grants' },
    servers,
    grants: {
      alice: { token: ALICE, agent: 'alice-agent', servers: ['fs', 'my-srv'] },
      bob: { token: BOB, agent: 'bob-agent', servers: ['fs', 'my-srv'] },
    },
    ...opts.config,
  });
  return { gateway: started.gateway, dir: dir.path, configFile: started.file, records, close: started.close };
}

/**
 * The harness and a raw driver on every downstream, for suites that send each attack everywhere;
 * close() closes the drivers, then the harness.
 */
export async function startHarnessEverywhere(): Promise<{ h: Harness; drivers: RawDriver[]; close(): Promise<void> }> {
  const h = await startHarness();
  let drivers: RawDriver[];
  try {
    drivers = await allDrivers(h);
  } catch (error) {
    await h.close();
    throw error;
  }
  return {
    h,
    drivers,
    close: async () => {
      for (const d of drivers) await d.close();
      await h.close();
    },
  };
}

/** Every message the upstream received, in order. */
export function received(record: string): JsonObject[] {
  if (!existsSync(record)) return [];
  return readFileSync(record, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as JsonObject;
      } catch {
        return { unparsable: l };
      }
    });
}

/** How many `hang` calls the harness's fs server has received: one there is in flight at the gateway. */
export const hangsReceived = (h: Harness): number =>
  receivedCalls(h.records.fs).filter((c) => c.name === 'hang').length;

/** The tools/call requests the upstream received: name and arguments. */
export function receivedCalls(record: string): { name: unknown; arguments: unknown }[] {
  return received(record)
    .filter((m) => m['method'] === 'tools/call')
    .map((m) => {
      const p = (m['params'] ?? {}) as JsonObject;
      return { name: p['name'], arguments: p['arguments'] };
    });
}

/** The methods the upstream received, requests and notifications alike. */
export const receivedMethods = (record: string): string[] =>
  received(record).flatMap((m) => (typeof m['method'] === 'string' ? [m['method']] : []));

export type Era = 'legacy' | 'modern';
export type DownstreamKind = 'http' | 'aggregate' | 'sse' | 'stdio';

/** A raw JSON-RPC connection to the gateway through one downstream transport. */
export interface RawDriver {
  readonly title: string;
  readonly era: Era;
  readonly kind: DownstreamKind;
  /** The tool name as this downstream shows it (`fs__x` on /mcp). */
  shown(tool: string): string;
  /**
   * Sends one request and resolves with its response. A string is sent as it is (for bodies that
   * JSON.stringify cannot make, like 10,000 levels of nesting); `like` then gives its id, method
   * and name for the modern headers.
   */
  request(message: JsonObject | string, headers?: Record<string, string>, like?: JsonObject): Promise<JsonObject>;
  /** Sends raw text as one message; resolves with whatever came back within a short wait. */
  raw(text: string, headers?: Record<string, string>): Promise<{ status?: number; messages: JsonObject[] }>;
  close(): Promise<void>;
}

export const LEGACY_INIT = {
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: { elicitation: {} },
    clientInfo: { name: 'security-test', version: '1.0.0' },
  },
};

export { toolCall } from '../helpers/wire.js';

/** modernHeaders for any body, including names that are not strings. */
function modernHeadersOf(message: JsonObject): Record<string, string> {
  const params = (message['params'] ?? {}) as JsonObject;
  const name = params['name'];
  if (typeof name === 'string' || name === undefined) return modernHeaders(message);
  return { ...modernHeaders({ ...message, params: { ...params, name: '' } }), 'mcp-name': JSON.stringify(name) };
}

/** Header values as a client must send them: non-ASCII or padded values in the base64 form. */
function headerSafe(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = k === 'mcp-name' ? encodeParamValue(v) : v;
  return out;
}

function authz(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Streamable HTTP on /mcp/fs or /mcp; legacy drivers open a session first. */
export async function httpDriver(
  h: Harness,
  era: Era,
  aggregate: boolean,
  token = ALICE,
): Promise<RawDriver & { sessionId?: string }> {
  const url = `${h.gateway.url}/mcp${aggregate ? '' : '/fs'}`;
  let sessionId: string | undefined;
  const send = async (body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: ACCEPT_BOTH,
        ...authz(token),
        ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
        ...headers,
      },
      body,
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const messages = type.includes('text/event-stream')
      ? parseSse(text)
      : text.trim().startsWith('{')
        ? [JSON.parse(text) as JsonObject]
        : [];
    return { status: res.status, messages, headers: res.headers };
  };
  if (era === 'legacy') {
    const init = await send(JSON.stringify(LEGACY_INIT));
    sessionId = init.headers.get('mcp-session-id') ?? undefined;
    if (!sessionId) throw new Error(`initialize failed: ${init.status} ${JSON.stringify(init.messages)}`);
    await send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  }
  const driver = {
    title: `${aggregate ? '/mcp aggregate' : 'Streamable HTTP /mcp/fs'}, ${era}`,
    era,
    kind: aggregate ? ('aggregate' as const) : ('http' as const),
    sessionId,
    shown: (tool: string) => (aggregate ? `fs__${tool}` : tool),
    async request(message: JsonObject | string, headers: Record<string, string> = {}, like?: JsonObject) {
      const shape = like ?? (message as JsonObject);
      const body = typeof message === 'string' ? message : JSON.stringify(message);
      const r = await send(body, era === 'modern' ? { ...headerSafe(modernHeadersOf(shape)), ...headers } : headers);
      const id = shape['id'];
      return r.messages.find((m) => m['id'] === id) ?? r.messages.at(-1) ?? { httpStatus: r.status };
    },
    async raw(text: string, headers: Record<string, string> = {}) {
      const r = await send(text, headers);
      return { status: r.status, messages: r.messages };
    },
    close: async () => {
      if (sessionId)
        await fetch(url, { method: 'DELETE', headers: { ...authz(token), 'mcp-session-id': sessionId } }).catch(
          () => undefined,
        );
    },
  };
  return driver;
}

/** Legacy HTTP+SSE: GET /sse/fs, POST to the URL it names; answers ride the stream. */
export async function sseDriver(h: Harness, token = ALICE): Promise<RawDriver & { postUrl: string }> {
  const stream: SseReader = await openStream(`${h.gateway.url}/sse/fs`, {
    headers: { accept: 'text/event-stream', ...authz(token) },
  });
  // The first event is `endpoint`, whose data is a path, not JSON: read it from the raw stream.
  const reader = stream as unknown as { reader: ReadableStreamDefaultReader<Uint8Array>; buffer: string };
  let head = '';
  while (!/event: endpoint\r?\ndata: [^\n]+\n\n/.test(head)) {
    const chunk = await reader.reader.read();
    if (chunk.done) throw new Error('SSE stream ended before the endpoint event');
    head += new TextDecoder().decode(chunk.value);
  }
  const m = /event: endpoint\r?\ndata: ([^\n\r]+)\r?\n\r?\n([\s\S]*)$/.exec(head)!;
  reader.buffer = m[2]!;
  const postUrl = `${h.gateway.url}${m[1]}`;
  // One reader pumps the stream into an inbox: a read abandoned by a timeout would lose its data.
  const inbox: JsonObject[] = [];
  const wakers = new Set<() => void>();
  void (async () => {
    for (;;) {
      try {
        inbox.push(await stream.next(3_600_000));
      } catch {
        return;
      }
      for (const w of [...wakers]) w();
    }
  })();
  const arrival = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
    });
  const post = async (body: string) => {
    const res = await fetch(postUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authz(token) },
      body,
    });
    const text = await res.text();
    return { status: res.status, messages: text.trim().startsWith('{') ? [JSON.parse(text) as JsonObject] : [] };
  };
  const waitFor = async (id: unknown, ms = 10_000): Promise<JsonObject> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = inbox.findIndex((x) => x['id'] === id && ('result' in x || 'error' in x));
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response to ${JSON.stringify(id)} on the SSE stream`);
      await arrival(left);
    }
  };
  await post(JSON.stringify(LEGACY_INIT));
  await waitFor('init');
  await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  return {
    title: 'legacy HTTP+SSE /sse/fs',
    era: 'legacy',
    kind: 'sse',
    postUrl,
    shown: (t) => t,
    async request(message, _headers, like) {
      const r = await post(typeof message === 'string' ? message : JSON.stringify(message));
      if (r.status !== 202) return r.messages[0] ?? { httpStatus: r.status };
      return waitFor((like ?? (message as JsonObject))['id']);
    },
    async raw(text) {
      const r = await post(text);
      if (r.status !== 202) return r;
      // Whatever the gateway answers on the stream shortly after.
      const before = inbox.length;
      await arrival(500);
      return { status: r.status, messages: inbox.slice(before) };
    },
    close: () => stream.close(),
  };
}

/** `gatehouse stdio fs` as a child process, with alice's grant. */
export async function stdioDriver(h: Harness, era: Era, token = ALICE): Promise<RawDriver & { peer: StdioPeer }> {
  const peer = StdioPeer.spawn(process.execPath, [
    '--import',
    TSX_LOADER,
    CLI,
    'stdio',
    'fs',
    '-c',
    h.configFile,
    '--grant',
    token,
  ]);
  if (era === 'legacy') {
    peer.send(LEGACY_INIT);
    await peer.response('init', 30_000);
    peer.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  } else {
    // The first answer says the process is up, so later short waits measure the gateway only.
    peer.send({ jsonrpc: '2.0', id: 'warm', method: 'server/discover', params: { _meta: envelope() } });
    await peer.response('warm', 30_000);
  }
  return {
    title: `gatehouse stdio fs, ${era}`,
    era,
    kind: 'stdio',
    peer,
    shown: (t) => t,
    async request(message, _headers, like) {
      peer.child.stdin!.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
      return peer.response((like ?? (message as JsonObject))['id'] as string | number, 20_000);
    },
    async raw(text) {
      peer.child.stdin!.write(`${text}\n`);
      const got: JsonObject[] = [];
      try {
        got.push(await peer.next(() => true, 700));
      } catch {
        // nothing came back
      }
      return { messages: got };
    },
    close: () => peer.close(),
  };
}

/** Every downstream transport of a harness, in both eras where the transport has both. */
export async function allDrivers(h: Harness): Promise<RawDriver[]> {
  return [
    await httpDriver(h, 'modern', false),
    await httpDriver(h, 'legacy', false),
    await httpDriver(h, 'modern', true),
    await httpDriver(h, 'legacy', true),
    await sseDriver(h),
    await stdioDriver(h, 'legacy'),
    await stdioDriver(h, 'modern'),
  ];
}

/** True when a tools/call answer blocked the call: a JSON-RPC error or a result with isError. */
export function isBlocked(answer: JsonObject): boolean {
  if ('error' in answer) return true;
  const result = answer['result'] as JsonObject | undefined;
  return result?.['isError'] === true;
}

/** The text of a result's first content block. */
export function textOf(answer: JsonObject): string {
  const content = ((answer['result'] as JsonObject | undefined)?.['content'] ?? []) as JsonObject[];
  return String(content[0]?.['text'] ?? '');
}

/** Resolves `promise`, or rejects once `ms` have passed: a hang fails the test instead of stalling it. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
