// Raw MCP over HTTP for tests that check the wire itself: build modern envelopes and headers,
// POST one JSON-RPC message, and read JSON or SSE answers (including long-lived SSE streams).
import { spawn, type ChildProcess } from 'node:child_process';
import { MODERN_VERSION } from './client.js';
import type { Era } from './fixture.js';
import { stopProcess, track } from './processes.js';

export type JsonObject = Record<string, unknown>;

export const ACCEPT_BOTH = 'application/json, text/event-stream';

/** The per-request `_meta` envelope of the 2026-07-28 revision. */
export function envelope(
  capabilities: JsonObject = {},
  clientInfo: JsonObject = { name: 'wire-test', version: '1.0.0' },
): JsonObject {
  return {
    'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
    'io.modelcontextprotocol/clientInfo': clientInfo,
    'io.modelcontextprotocol/clientCapabilities': capabilities,
  };
}

/** A tools/call in the given era (modern calls carry the envelope). */
export function toolCall(era: Era, id: string | number, name: unknown, args: unknown = {}): JsonObject {
  const params: JsonObject = { name, arguments: args };
  if (era === 'modern') params['_meta'] = envelope({ elicitation: {} });
  return { jsonrpc: '2.0', id, method: 'tools/call', params };
}

/** A modern request: params with the envelope merged into `_meta`. */
export function modernRequest(
  id: string | number,
  method: string,
  params: JsonObject = {},
  capabilities: JsonObject = {},
): JsonObject {
  const meta = { ...((params['_meta'] as JsonObject | undefined) ?? {}), ...envelope(capabilities) };
  return { jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } };
}

/** The headers a modern HTTP request must carry for the given body. */
export function modernHeaders(message: JsonObject): Record<string, string> {
  const headers: Record<string, string> = {
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': String(message['method']),
  };
  const params = (message['params'] ?? {}) as JsonObject;
  if (message['method'] === 'tools/call' || message['method'] === 'prompts/get')
    headers['mcp-name'] = String(params['name']);
  if (message['method'] === 'resources/read') headers['mcp-name'] = String(params['uri']);
  return headers;
}

export interface WireResponse {
  status: number;
  headers: Headers;
  /** JSON-RPC messages in the body: the JSON body, or every SSE `data:` event. */
  messages: JsonObject[];
  text: string;
}

/** Parses the `data:` lines of an SSE body into JSON messages (comments and blank data skipped). */
export function parseSse(text: string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data.trim()) out.push(JSON.parse(data) as JsonObject);
  }
  return out;
}

/** POSTs one message and reads the whole answer (do not use for streams that stay open). */
export async function post(
  url: string,
  message: JsonObject,
  headers: Record<string, string> = {},
): Promise<WireResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, ...headers },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  let messages: JsonObject[] = [];
  if (type.includes('text/event-stream')) messages = parseSse(text);
  else if (text.trim()) messages = [JSON.parse(text) as JsonObject];
  return { status: res.status, headers: res.headers, messages, text };
}

/** POSTs a modern request with the headers that agree with its body. */
export function postModern(
  url: string,
  message: JsonObject,
  extraHeaders: Record<string, string> = {},
): Promise<WireResponse> {
  return post(url, message, { ...modernHeaders(message), ...extraHeaders });
}

/** An open SSE response read incrementally: `next()` resolves with the next JSON-RPC message. */
export class SseReader {
  private buffer = '';
  private queue: JsonObject[] = [];
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  private decoder = new TextDecoder();

  constructor(readonly response: Response) {
    if (!response.body) throw new Error('response has no body');
    this.reader = response.body.getReader();
  }

  async next(timeoutMs = 5000): Promise<JsonObject> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no SSE message within ${timeoutMs}ms`);
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), remaining)),
      ]);
      if (chunk === 'timeout') continue;
      if (chunk.done) throw new Error('SSE stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      const cut = this.buffer.lastIndexOf('\n\n');
      if (cut >= 0) {
        this.queue.push(...parseSse(this.buffer.slice(0, cut)));
        this.buffer = this.buffer.slice(cut + 2);
      }
    }
    return this.queue.shift()!;
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

/** Opens a request whose answer is a long-lived SSE stream (a legacy GET stream, a modern listen). */
export async function openStream(url: string, init: RequestInit): Promise<SseReader> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`stream request failed: ${res.status} ${await res.text()}`);
  return new SseReader(res);
}

/** A raw newline-delimited JSON-RPC peer over a child process's stdio (no SDK in between). */
export class StdioPeer {
  private buffer = '';
  private queue: JsonObject[] = [];
  private waiters: Array<() => void> = [];
  stderr = '';
  /** Lines on stdout that were not JSON (a stdio server must never write any). */
  readonly nonJsonLines: string[] = [];

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        try {
          this.queue.push(JSON.parse(line) as JsonObject);
        } catch {
          this.nonJsonLines.push(line);
        }
      }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
  }

  static spawn(command: string, args: string[], env?: Record<string, string>): StdioPeer {
    return new StdioPeer(
      track(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })),
    );
  }

  send(message: JsonObject): void {
    this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** The next message from the server (or the next one matching `test`, skipping others). */
  async next(test: (m: JsonObject) => boolean = () => true, timeoutMs = 10_000): Promise<JsonObject> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.queue.findIndex(test);
      if (i >= 0) return this.queue.splice(i, 1)[0]!;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no matching message within ${timeoutMs}ms; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The response to request `id`. */
  response(id: string | number, timeoutMs?: number): Promise<JsonObject> {
    return this.next((m) => m['id'] === id && ('result' in m || 'error' in m), timeoutMs);
  }

  close(): Promise<void> {
    this.child.stdin!.end();
    return stopProcess(this.child);
  }
}
