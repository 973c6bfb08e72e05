// `/mcp`: every server the client may use behind one endpoint. Tools and prompts are named
// `<server>__<name>`; resources keep their URIs and are routed by the server that listed them.
import { ErrorCode, isObject, type JsonObject, type JsonRpcNotification } from '../mcp/jsonrpc.js';
import { GATEWAY_CLIENT_INFO } from '../mcp/era.js';
import type { ClientSession } from './client-session.js';
import {
  adoptClientParams,
  carrierOf,
  deliverToSession,
  discoverResult,
  initializeResult,
  sessionSubscription,
  type Endpoint,
} from './endpoint.js';
import type { ClientPeer } from './peer.js';
import { forward, shapeForModern, stripModernFields, type ClientRequest, type RelayContext } from './relay.js';
import { fail, type UpstreamAnswer, type UpstreamConnection, type UpstreamIdentity } from './upstream-connection.js';
import type { UpstreamPool } from './upstream-pool.js';
import type { PolicyGate } from './policy-gate.js';
import type { ToolEntry } from './tool-directory.js';
import { mayUse } from '../identity/grants.js';
import { unknownToolError } from '../policy/blocked-result.js';

export const SEPARATOR = '__';
const MAX_PAGES = 100;

export function splitName(name: unknown): { server: string; name: string } | undefined {
  if (typeof name !== 'string') return undefined;
  const i = name.indexOf(SEPARATOR);
  if (i <= 0) return undefined;
  return { server: name.slice(0, i), name: name.slice(i + SEPARATOR.length) };
}

export class AggregateEndpoint implements Endpoint {
  readonly name = '*';
  /** Which server listed a resource URI, learnt from the lists this endpoint served. */
  private readonly resourceOwner = new Map<string, string>();

  constructor(
    private readonly pool: UpstreamPool,
    private readonly ctx: RelayContext,
    private readonly gate: PolicyGate,
  ) {}

  /**
   * The servers a client may use: other servers' tools are simply absent. In a legacy session the
   * peer carries the identity of the current request, so a later token with fewer servers sees fewer.
   */
  private servers(peer?: ClientPeer): string[] {
    return Object.keys(this.pool.servers).filter((s) => !peer?.identity || mayUse(peer.identity, s));
  }

  private async connections(peer: ClientPeer, session?: ClientSession): Promise<Map<string, UpstreamConnection>> {
    const out = new Map<string, UpstreamConnection>();
    await Promise.all(
      this.servers(peer).map(async (s) => {
        try {
          await this.pool.sharedConnection(s).start();
          const c = session
            ? this.pool.connectionFor(s, session, session.capabilities ? initOf(session) : undefined)
            : this.pool.sharedConnection(s);
          await c.start();
          out.set(s, c);
        } catch {
          // A server that is down is left out of the aggregate rather than failing every list.
        }
      }),
    );
    return out;
  }

  private merged(
    conns: Map<string, UpstreamConnection>,
  ): Pick<UpstreamIdentity, 'capabilities' | 'serverInfo' | 'instructions'> {
    const capabilities: JsonObject = {};
    const parts: string[] = [];
    for (const [server, c] of conns) {
      const id = c.identity;
      if (!id) continue;
      for (const [k, v] of Object.entries(id.capabilities)) {
        if (!isObject(v)) continue;
        capabilities[k] = { ...(isObject(capabilities[k]) ? capabilities[k] : {}), ...v };
      }
      if (id.instructions) parts.push(`${server}: ${id.instructions}`);
    }
    return {
      capabilities,
      serverInfo: { ...GATEWAY_CLIENT_INFO, title: 'Gatehouse (all servers)' },
      ...(parts.length ? { instructions: parts.join('\n\n') } : {}),
    };
  }

  async initialize(session: ClientSession, params: JsonObject): Promise<UpstreamAnswer> {
    adoptClientParams(session, params);
    const conns = await this.connections(session, session);
    for (const [server, c] of conns) {
      if (c === this.pool.sharedConnection(server))
        session.onClose(this.pool.subscribe(server, (n) => deliverToSession(session, n)));
    }
    session.onClose(() => void this.pool.release(session));
    return { result: initializeResult(session, { era: 'legacy', protocolVersion: '', ...this.merged(conns) }) };
  }

  async discover(): Promise<UpstreamAnswer> {
    const conns = new Map<string, UpstreamConnection>();
    for (const s of this.servers()) {
      const c = this.pool.sharedConnection(s);
      await c.start().then(
        () => conns.set(s, c),
        () => undefined,
      );
    }
    return { result: discoverResult(this.merged(conns)) };
  }

  async request(peer: ClientPeer, req: ClientRequest, session?: ClientSession): Promise<UpstreamAnswer> {
    switch (req.method) {
      case 'server/discover':
        return this.discover();
      case 'ping':
        return { result: {} };
      case 'tools/list':
        return this.list(peer, req, session, 'tools', true);
      case 'prompts/list':
        return this.list(peer, req, session, 'prompts', true);
      case 'resources/list':
        return this.list(peer, req, session, 'resources', false);
      case 'resources/templates/list':
        return this.list(peer, req, session, 'resourceTemplates', false);
      case 'tools/call':
      case 'prompts/get':
        return this.routeByName(peer, req, session);
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return this.routeByUri(peer, req, session, req.params?.uri);
      case 'completion/complete':
        return this.complete(peer, req, session);
      case 'logging/setLevel':
        if (session) session.logLevel = typeof req.params?.level === 'string' ? req.params.level : undefined;
        return { result: {} };
      default:
        return fail(
          ErrorCode.MethodNotFound,
          `Method not found: ${req.method} is not available on the /mcp endpoint; use /mcp/<server>.`,
        );
    }
  }

  private async list(
    peer: ClientPeer,
    req: ClientRequest,
    session: ClientSession | undefined,
    key: string,
    prefix: boolean,
  ): Promise<UpstreamAnswer> {
    const conns = await this.connections(peer, session);
    const items: JsonObject[] = [];
    for (const [server, conn] of conns) {
      const cap = capabilityOf(key);
      if (!isObject(conn.identity?.capabilities[cap])) continue;
      let cursor: unknown;
      for (let page = 0; page < MAX_PAGES; page++) {
        const params: JsonObject = { ...(req.params ?? {}) };
        if (cursor !== undefined) params.cursor = cursor;
        else delete params.cursor;
        let a = await forward(conn, carrierOf(peer, session), { ...req, params }, this.ctx);
        if (key === 'tools') a = await this.gate.filterTools(server, peer, a);
        if (key === 'resources' || key === 'resourceTemplates' || key === 'prompts')
          a = this.gate.filterEntries(server, peer, a, key);
        if (!('result' in a)) break; // one server's failure does not empty the whole list
        const list = Array.isArray(a.result[key]) ? (a.result[key] as unknown[]) : [];
        for (const item of list) {
          if (!isObject(item)) continue;
          if (prefix && typeof item.name === 'string')
            items.push({ ...item, name: `${server}${SEPARATOR}${item.name}` });
          else items.push(item);
          if (key === 'resources' && typeof item.uri === 'string') this.resourceOwner.set(item.uri, server);
        }
        cursor = a.result.nextCursor;
        if (typeof cursor !== 'string') break;
      }
    }
    const result: JsonObject = { [key]: items };
    return req.era === 'modern' ? shapeForModern(req.method, { result }) : { result: stripModernFields(result) };
  }

  private async routeByName(peer: ClientPeer, req: ClientRequest, session?: ClientSession): Promise<UpstreamAnswer> {
    const parts = splitName(req.params?.name);
    const tool = req.method === 'tools/call';
    if (!parts || !this.servers(peer).includes(parts.server)) {
      // A server the client may not use answers exactly like one that does not exist.
      return tool
        ? { error: unknownToolError(req.params?.name) }
        : fail(ErrorCode.InvalidParams, `Unknown prompt: ${String(req.params?.name)}`);
    }
    const conn = session ? this.pool.connectionFor(parts.server, session) : this.pool.sharedConnection(parts.server);
    const relay = (r: ClientRequest) => forward(conn, carrierOf(peer, session), r, this.ctx);
    const inner = { ...req, params: { ...req.params, name: parts.name } };
    return this.gate.call(parts.server, peer, inner, tool ? 'tool' : 'prompt', relay, {
      conn,
      ...(session ? { session } : {}),
      shownName: String(req.params?.name),
    });
  }

  private async routeByUri(
    peer: ClientPeer,
    req: ClientRequest,
    session: ClientSession | undefined,
    uri: unknown,
  ): Promise<UpstreamAnswer> {
    if (typeof uri !== 'string') return fail(ErrorCode.InvalidParams, 'The request needs a "uri".');
    const server = this.resourceOwner.get(uri);
    if (!server) {
      // Not listed (a template instance, or no list yet): the first server that can read it.
      for (const s of this.servers(peer)) {
        const a = await this.viaGate(s, peer, req, session);
        if ('result' in a) {
          this.resourceOwner.set(uri, s);
          return a;
        }
      }
      return fail(ErrorCode.ResourceNotFound, `Resource not found: ${uri}`);
    }
    if (!this.servers(peer).includes(server)) return fail(ErrorCode.ResourceNotFound, `Resource not found: ${uri}`);
    return this.viaGate(server, peer, req, session);
  }

  private viaGate(
    server: string,
    peer: ClientPeer,
    req: ClientRequest,
    session?: ClientSession,
  ): Promise<UpstreamAnswer> {
    const ref = req.method === 'completion/complete' ? req.params?.ref : undefined;
    const refused = ref === undefined ? undefined : this.gate.refusedCompletion(server, peer, ref);
    if (refused) return Promise.resolve(refused);
    const conn = session ? this.pool.connectionFor(server, session) : this.pool.sharedConnection(server);
    const subscription = req.method === 'resources/subscribe' || req.method === 'resources/unsubscribe';
    if (session && subscription && conn === this.pool.sharedConnection(server))
      return sessionSubscription(this.pool, server, session, req);
    const relay = (r: ClientRequest) => forward(conn, carrierOf(peer, session), r, this.ctx);
    return req.method === 'resources/read'
      ? this.gate.call(server, peer, req, 'resource', relay, { conn, ...(session ? { session } : {}) })
      : relay(req);
  }

  private async complete(peer: ClientPeer, req: ClientRequest, session?: ClientSession): Promise<UpstreamAnswer> {
    const ref = req.params?.ref;
    if (isObject(ref) && ref.type === 'ref/prompt') {
      const parts = splitName(ref.name);
      if (!parts || !this.servers(peer).includes(parts.server))
        return fail(ErrorCode.InvalidParams, `Unknown prompt: ${String(ref.name)}`);
      const inner = { ...ref, name: parts.name };
      const refused = this.gate.refusedCompletion(parts.server, peer, inner, String(ref.name));
      if (refused) return refused;
      const conn = session ? this.pool.connectionFor(parts.server, session) : this.pool.sharedConnection(parts.server);
      const params = { ...req.params, ref: inner };
      return forward(conn, carrierOf(peer, session), { ...req, params }, this.ctx);
    }
    if (isObject(ref) && typeof ref.uri === 'string') return this.routeByUri(peer, req, session, ref.uri);
    return fail(ErrorCode.InvalidParams, 'completion/complete needs a prompt or resource reference.');
  }

  notification(n: JsonRpcNotification, session?: ClientSession, peer?: ClientPeer): void {
    if (!session) return;
    // The servers the sender may use now, not those of the token that opened the session.
    for (const s of this.servers(peer ?? session)) {
      if (!this.pool.needsOwnConnection(s)) continue;
      const c = this.pool.connectionFor(s, session);
      if (c.era === 'legacy') c.notify(n.method, n.params);
    }
  }

  async subscribeResource(uri: string): Promise<() => void> {
    const releases: (() => void)[] = [];
    for (const s of this.servers()) {
      const caps = this.pool.sharedConnection(s).identity?.capabilities.resources;
      if (!isObject(caps) || caps.subscribe !== true) continue;
      await this.pool.subscribeResource(s, uri).then(
        (r) => releases.push(r),
        () => undefined,
      );
    }
    return () => releases.forEach((r) => r());
  }

  toolEntry(name: string): Promise<ToolEntry | undefined> {
    const parts = splitName(name);
    if (!parts || !this.pool.has(parts.server)) return Promise.resolve(undefined);
    return this.pool.tools.tool(this.pool.sharedConnection(parts.server), parts.name).catch(() => undefined);
  }

  listen(deliver: (n: JsonRpcNotification) => void, peer?: ClientPeer): () => void {
    const offs = this.servers(peer).map((s) => this.pool.subscribe(s, deliver));
    return () => offs.forEach((off) => off());
  }
}

function capabilityOf(key: string): string {
  return key === 'resourceTemplates' ? 'resources' : key;
}

function initOf(session: ClientSession) {
  return {
    protocolVersion: session.protocolVersion ?? '',
    capabilities: session.capabilities,
    clientInfo: session.clientInfo ?? {},
  };
}
