// SDK clients for tests: connect in a chosen era over any downstream, answer the server's
// elicitation / sampling / roots requests with fixed values, and record every notification that
// arrives on the wire, so a test can wait for one and inspect it.
import {
  Client,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  type CallToolRequest,
  type ClientCapabilities,
  type ElicitResult,
  type FetchLike,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type RequestOptions,
  type Transport,
} from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import type { Downstream, Era } from './fixture.js';

export const MODERN_VERSION = '2026-07-28';
export const FIXTURE_ROOTS = [{ uri: 'file:///tmp/fixture-root', name: 'root' }];
export const DEFAULT_ELICIT_ANSWER: ElicitResult = { action: 'accept', content: { name: 'Ada' } };
export const DEFAULT_CLIENT_CAPABILITIES: ClientCapabilities = {
  elicitation: { form: {} },
  sampling: {},
  roots: { listChanged: true },
};

/** Every notification a client received, in order, with waiting helpers. */
export class NotificationRecorder {
  readonly all: JSONRPCNotification[] = [];
  private waiters: Array<{ test: (n: JSONRPCNotification) => boolean; resolve: (n: JSONRPCNotification) => void }> = [];

  record(notification: JSONRPCNotification): void {
    this.all.push(notification);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(notification)) return true;
      w.resolve(notification);
      return false;
    });
  }

  /** Params of every notification with this method. */
  of(method: string): Array<Record<string, unknown>> {
    return this.all.filter((n) => n.method === method).map((n) => (n.params ?? {}) as Record<string, unknown>);
  }
  get progress(): Array<Record<string, unknown>> {
    return this.of('notifications/progress');
  }
  get toolsListChanged(): Array<Record<string, unknown>> {
    return this.of('notifications/tools/list_changed');
  }
  get logging(): Array<Record<string, unknown>> {
    return this.of('notifications/message');
  }
  get resourcesUpdated(): Array<Record<string, unknown>> {
    return this.of('notifications/resources/updated');
  }

  /**
   * Resolves with the params of the first notification of `method` (matching `predicate`) that
   * arrives after this call, or that already arrived when `includePast` is set.
   */
  waitFor(
    method: string,
    predicate: (params: Record<string, unknown>) => boolean = () => true,
    { timeoutMs = 5000, includePast = false }: { timeoutMs?: number; includePast?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const test = (n: JSONRPCNotification): boolean =>
      n.method === method && predicate((n.params ?? {}) as Record<string, unknown>);
    if (includePast) {
      const past = this.all.find(test);
      if (past) return Promise.resolve((past.params ?? {}) as Record<string, unknown>);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `no ${method} within ${timeoutMs}ms; got: ${this.all.map((n) => n.method).join(', ') || 'nothing'}`,
          ),
        );
      }, timeoutMs);
      const done = (n: JSONRPCNotification): void => {
        clearTimeout(timer);
        resolve((n.params ?? {}) as Record<string, unknown>);
      };
      this.waiters.push({ test, resolve: done });
    });
  }

  clear(): void {
    this.all.length = 0;
  }
}

export interface ConnectClientOptions {
  era: Era;
  downstream: Downstream;
  /** clientInfo name; default `fixture-client`. */
  name?: string;
  capabilities?: ClientCapabilities;
  /** How the client answers elicitation; default accept with `{ name: 'Ada' }`. */
  elicit?: ElicitResult;
  /** Connect timeout (the legacy handshake or the modern discover probe). */
  timeoutMs?: number;
  /** stdio: where the server's stderr goes; default collected (see `stderr()`). */
  stderr?: 'pipe' | 'inherit' | 'ignore';
}

export interface ConnectedClient {
  client: Client;
  era: Era;
  transport: Transport;
  notifications: NotificationRecorder;
  /** Calls a tool and returns the text of its first content block (throws on a protocol error). */
  callText(
    name: string,
    args?: Record<string, unknown>,
    options?: RequestOptions & { _meta?: Record<string, unknown> },
  ): Promise<string>;
  /** stdio: what the server wrote to stderr. */
  stderr(): string;
  close(): Promise<void>;
}

function fetchWithHeaders(headers: Record<string, string> | undefined): FetchLike | undefined {
  if (!headers) return undefined;
  return (url, init) => {
    const merged = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) if (!merged.has(k)) merged.set(k, v);
    return fetch(url, { ...init, headers: merged });
  };
}

function makeTransport(downstream: Downstream, stderrMode: 'pipe' | 'inherit' | 'ignore'): Transport {
  switch (downstream.kind) {
    case 'http': {
      const f = fetchWithHeaders(downstream.headers);
      return new StreamableHTTPClientTransport(new URL(downstream.url), f ? { fetch: f } : {});
    }
    case 'sse': {
      const f = fetchWithHeaders(downstream.headers);
      return new SSEClientTransport(new URL(downstream.url), f ? { fetch: f } : {});
    }
    case 'stdio':
      return new StdioClientTransport({
        command: downstream.command,
        args: downstream.args ?? [],
        env: { ...getDefaultEnvironment(), ...downstream.env },
        ...(downstream.cwd ? { cwd: downstream.cwd } : {}),
        stderr: stderrMode,
      });
  }
}

/** Text of a tool result's first text block. */
export function firstText(result: { content?: unknown }): string {
  const content = Array.isArray(result.content) ? (result.content as Array<{ type?: string; text?: string }>) : [];
  const block = content.find((c) => c.type === 'text');
  if (!block || typeof block.text !== 'string') throw new Error(`no text content in ${JSON.stringify(result)}`);
  return block.text;
}

export async function connectClient(opts: ConnectClientOptions): Promise<ConnectedClient> {
  const client = new Client(
    { name: opts.name ?? 'fixture-client', version: '1.0.0' },
    {
      capabilities: opts.capabilities ?? DEFAULT_CLIENT_CAPABILITIES,
      ...(opts.era === 'modern' ? { versionNegotiation: { mode: { pin: MODERN_VERSION } } } : {}),
    },
  );
  const caps = opts.capabilities ?? DEFAULT_CLIENT_CAPABILITIES;
  if (caps.elicitation) client.setRequestHandler('elicitation/create', () => opts.elicit ?? DEFAULT_ELICIT_ANSWER);
  if (caps.sampling) {
    client.setRequestHandler('sampling/createMessage', (request) => {
      const last = request.params.messages.at(-1)?.content;
      const prompt = last && !Array.isArray(last) && last.type === 'text' ? last.text : '';
      return { model: 'fixture-model', role: 'assistant', content: { type: 'text', text: `sampled: ${prompt}` } };
    });
  }
  if (caps.roots) client.setRequestHandler('roots/list', () => ({ roots: FIXTURE_ROOTS }));

  const stderrMode = opts.stderr ?? 'pipe';
  const transport = makeTransport(opts.downstream, stderrMode);
  let stderr = '';
  if (transport instanceof StdioClientTransport && stderrMode === 'pipe') {
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
  }
  const notifications = new NotificationRecorder();
  try {
    await client.connect(transport, opts.timeoutMs ? { timeout: opts.timeoutMs } : {});
  } catch (error) {
    await client.close().catch(() => {});
    if (stderr) (error as Error).message += `\nserver stderr:\n${stderr}`;
    throw error;
  }
  const negotiated = client.getProtocolEra();
  if (negotiated !== opts.era) {
    await client.close();
    throw new Error(`connected in the ${String(negotiated)} era, expected ${opts.era}`);
  }
  // Record every inbound notification as it arrives on the wire (before the SDK dispatches it).
  const dispatch = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage, extra?: unknown) => {
    if ('method' in message && !('id' in message)) notifications.record(message);
    (dispatch as ((m: JSONRPCMessage, e?: unknown) => void) | undefined)?.call(transport, message, extra);
  };

  return {
    client,
    era: opts.era,
    transport,
    notifications,
    async callText(name, args = {}, options = {}) {
      const { _meta, ...requestOptions } = options;
      const params: CallToolRequest['params'] = { name, arguments: args, ...(_meta ? { _meta } : {}) };
      return firstText(await client.callTool(params, requestOptions));
    },
    stderr: () => stderr,
    close: () => client.close(),
  };
}
