// `/mcp`: every server the client may use behind one endpoint. Tools and prompts are named
// `<server>__<name>`; resources keep their URIs and are routed, per caller, to the one server among
// those the caller may use that lists them (resource-routes.ts says how an unlisted URI is placed).
import { ErrorCode, isObject, type JsonObject, type JsonRpcNotification } from '../mcp/jsonrpc.js';
import { GATEWAY_CLIENT_INFO, withEnvelope } from '../mcp/era.js';
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
import { mayUse, type Identity } from '../identity/grants.js';
import { unknownToolError } from '../policy/blocked-result.js';
import {
  chooseOwner,
  MAX_INDEXED_TEMPLATES,
  MAX_INDEXED_URIS,
  type OwnerChoice,
  type ResourceIndex,
} from './resource-routes.js';

export const SEPARATOR = '__';
const MAX_PAGES = 100;
/** How long what a connection listed is trusted for routing before it is listed again. */
const INDEX_TTL_MS = 60_000;
/** A URI no server claims lists the caller's servers again, if their lists are older than this. */
const MISS_RELIST_MS = 5_000;

export function splitName(name: unknown): { server: string; name: string } | undefined {
  if (typeof name !== 'string') return undefined;
  const i = name.indexOf(SEPARATOR);
  if (i <= 0) return undefined;
  return { server: name.slice(0, i), name: name.slice(i + SEPARATOR.length) };
}

export class AggregateEndpoint implements Endpoint {
  readonly name = '*';
  /**
   * What each upstream connection lists (URIs and templates, as the server sent them, before any
   * policy filtering), for routing resource URIs. Kept per connection, so it goes with it, and
   * consulted only for the servers the caller may use.
   */
  private readonly indexes = new WeakMap<UpstreamConnection, ResourceIndex>();
  /** A listing in progress for routing, shared by the requests that wait for it. */
  private readonly indexing = new WeakMap<UpstreamConnection, Promise<void>>();

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
        session.onClose(this.pool.subscribe(server, (n) => deliverToSession(session, n, server)));
    }
    session.onClose(() => void this.pool.release(session));
    return { result: initializeResult(session, { era: 'legacy', protocolVersion: '', ...this.merged(conns) }) };
  }

  /** What the servers the caller may use offer together: others are absent, as from every list. */
  async discover(peer?: ClientPeer): Promise<UpstreamAnswer> {
    const conns = new Map<string, UpstreamConnection>();
    for (const s of this.servers(peer)) {
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
        return this.discover(peer);
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
    const indexed = key === 'resources' || key === 'resourceTemplates';
    for (const [server, conn] of conns) {
      const cap = capabilityOf(key);
      if (!isObject(conn.identity?.capabilities[cap])) continue;
      const learnt: string[] = [];
      const ended = await this.eachPage(conn, carrierOf(peer, session), req, async (page) => {
        if (indexed) collectListed(page, key, learnt);
        let a = page;
        if (key === 'tools') a = await this.gate.filterTools(server, peer, a, conn);
        if (key === 'resources' || key === 'resourceTemplates' || key === 'prompts')
          a = this.gate.filterEntries(server, peer, a, key);
        if (!('result' in a)) return; // one server's failure does not empty the whole list
        const list = Array.isArray(a.result[key]) ? (a.result[key] as unknown[]) : [];
        for (const item of list) {
          if (!isObject(item)) continue;
          if (prefix && typeof item.name === 'string')
            items.push({ ...item, name: `${server}${SEPARATOR}${item.name}` });
          else items.push(item);
        }
      });
      // A whole list: what the server lists now, for routing (a partial one teaches nothing).
      if (indexed && ended === 'whole') this.remember(conn, key, learnt);
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
    // Only the servers this caller may use are asked or even considered: a URI that another server
    // lists answers "not found" here, exactly like one that does not exist, and is sent nowhere.
    const conns = new Map(
      [...(await this.connections(peer, session))].filter(([, c]) => isObject(c.identity?.capabilities.resources)),
    );
    await this.learn(conns, peer, req, session, INDEX_TTL_MS);
    let choice = this.choose(uri, conns, peer);
    if ('none' in choice && (await this.learn(conns, peer, req, session, MISS_RELIST_MS)))
      choice = this.choose(uri, conns, peer);
    if ('server' in choice) return this.viaGate(choice.server, peer, req, session);
    if ('ambiguous' in choice) {
      const names = choice.ambiguous.map((s) => `"${s}"`).join(', ');
      const how =
        choice.by === 'listed'
          ? 'list it'
          : choice.by === 'template'
            ? 'have a resource template for it'
            : choice.by === 'listed or template'
              ? 'list it or have a resource template for it'
              : 'list resources under the same scheme and authority';
      return fail(
        ErrorCode.InvalidParams,
        `Ambiguous resource: ${uri} — servers ${names} all ${how}, so /mcp cannot tell which one to ask; ` +
          `read it on /mcp/<server> (${choice.ambiguous.map((s) => `/mcp/${s}`).join(' or ')}).`,
      );
    }
    // -32602 with the URI in data: resource not found as the 2026-07-28 revision has it (SEP-2164).
    return fail(
      ErrorCode.InvalidParams,
      `Resource not found: ${uri} — none of the servers on /mcp lists it or a resource template for it; ` +
        'if a server serves it without listing it, read it on /mcp/<server>.',
      { uri },
    );
  }

  private choose(uri: string, conns: Map<string, UpstreamConnection>, peer: ClientPeer): OwnerChoice {
    const candidates: [string, ResourceIndex][] = [];
    for (const [server, conn] of conns) candidates.push([server, this.indexes.get(conn) ?? {}]);
    // Where the caller's policy hides the URI, that server's claim does not make it ambiguous.
    const visible = (server: string) => this.gate.refusedResource(server, peer, uri) === undefined;
    return chooseOwner(uri, candidates, visible);
  }

  /**
   * Lists resources and templates on each connection whose lists are unknown or older than
   * `maxAgeMs`, for routing. True when anything was listed again.
   */
  private async learn(
    conns: Map<string, UpstreamConnection>,
    peer: ClientPeer,
    req: ClientRequest,
    session: ClientSession | undefined,
    maxAgeMs: number,
  ): Promise<boolean> {
    const now = Date.now();
    const stale = [...conns.values()].filter((c) => {
      const i = this.indexes.get(c);
      return !i || now - (i.urisAt ?? 0) > maxAgeMs || now - (i.templatesAt ?? 0) > maxAgeMs;
    });
    await Promise.all(
      stale.map((conn) => {
        let running = this.indexing.get(conn);
        if (!running) {
          running = Promise.all([
            this.listAll(conn, peer, req, session, 'resources'),
            this.listAll(conn, peer, req, session, 'resourceTemplates'),
          ]).then(
            () => undefined,
            () => undefined,
          );
          this.indexing.set(conn, running);
          void running.finally(() => this.indexing.delete(conn));
        }
        return running;
      }),
    );
    return stale.length > 0;
  }

  /** Every page of one list on one connection, remembered for routing when it came whole. */
  private async listAll(
    conn: UpstreamConnection,
    peer: ClientPeer,
    req: ClientRequest,
    session: ClientSession | undefined,
    key: 'resources' | 'resourceTemplates',
  ): Promise<void> {
    const inner: ClientRequest = {
      id: req.id,
      method: key === 'resources' ? 'resources/list' : 'resources/templates/list',
      params: req.envelope ? withEnvelope(undefined, req.envelope) : {},
      era: req.era,
      ...(req.envelope ? { envelope: req.envelope } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    };
    const learnt: string[] = [];
    let refused: number | undefined;
    const ended = await this.eachPage(conn, carrierOf(peer, session), inner, (a) => {
      if ('result' in a) collectListed(a, key, learnt);
      else refused = a.error.code;
    });
    if (ended !== 'failed') this.remember(conn, key, learnt);
    // A server without templates lists none; any other failure is not remembered.
    else if (key === 'resourceTemplates' && refused === ErrorCode.MethodNotFound) this.remember(conn, key, []);
  }

  /**
   * Sends a paged list request on one connection page after page, at most MAX_PAGES, handing each
   * answer to `page`. Says how it ended: the last page came (`whole`), an answer was an error
   * (`failed`, after handing it on), or the pages ran out (`cut`).
   */
  private async eachPage(
    conn: UpstreamConnection,
    carrier: ClientPeer,
    req: ClientRequest,
    page: (a: UpstreamAnswer) => void | Promise<void>,
  ): Promise<'whole' | 'failed' | 'cut'> {
    let cursor: unknown;
    for (let n = 0; n < MAX_PAGES; n++) {
      const params: JsonObject = { ...(req.params ?? {}) };
      if (typeof cursor === 'string') params.cursor = cursor;
      else delete params.cursor;
      const a = await forward(conn, carrier, { ...req, params }, this.ctx);
      await page(a);
      if (!('result' in a)) return 'failed';
      cursor = a.result.nextCursor;
      if (typeof cursor !== 'string') return 'whole';
    }
    return 'cut';
  }

  private remember(conn: UpstreamConnection, key: string, listed: string[]): void {
    const index: ResourceIndex = { ...this.indexes.get(conn) };
    if (key === 'resources') {
      index.uris = new Set(listed.slice(0, MAX_INDEXED_URIS));
      index.urisAt = Date.now();
    } else {
      index.templates = listed.slice(0, MAX_INDEXED_TEMPLATES);
      index.templatesAt = Date.now();
    }
    this.indexes.set(conn, index);
  }

  private async viaGate(
    server: string,
    peer: ClientPeer,
    req: ClientRequest,
    session?: ClientSession,
  ): Promise<UpstreamAnswer> {
    const refused =
      req.method === 'completion/complete'
        ? this.gate.refusedReference(server, peer, req.params?.ref)
        : req.method === 'resources/subscribe'
          ? this.gate.refusedResource(server, peer, req.params?.uri)
          : undefined;
    if (refused) return Promise.resolve(refused);
    const conn = session ? this.pool.connectionFor(server, session) : this.pool.sharedConnection(server);
    const subscription = req.method === 'resources/subscribe' || req.method === 'resources/unsubscribe';
    if (session && subscription && conn === this.pool.sharedConnection(server))
      return sessionSubscription(this.pool, server, session, req);
    const relay = (r: ClientRequest) => forward(conn, carrierOf(peer, session), r, this.ctx);
    if (req.method === 'completion/complete')
      return this.gate.filterCompletion(server, peer, req.params, await relay(req));
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
      const refused = this.gate.refusedReference(parts.server, peer, inner);
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

  /** Subscribed on the subscriber's own servers only, and only where its policy shows the URI. */
  async subscribeResource(uri: string, peer?: ClientPeer): Promise<(() => void) | undefined> {
    const releases: (() => void)[] = [];
    let shown = false;
    for (const s of this.servers(peer)) {
      if (peer && this.gate.refusedResource(s, peer, uri)) continue;
      shown = true;
      const caps = this.pool.sharedConnection(s).identity?.capabilities.resources;
      if (!isObject(caps) || caps.subscribe !== true) continue;
      await this.pool.subscribeResource(s, uri).then(
        (r) => releases.push(r),
        () => undefined,
      );
    }
    if (!shown) return undefined;
    return () => releases.forEach((r) => r());
  }

  /**
   * The tool a `<server>__<tool>` name stands for, to check a call's `Mcp-Param-*` headers before it
   * is decided. Given the caller, only a tool it may see: one on a server outside its grant, or one
   * its policy hides or denies, is undefined like a missing one, or a header mismatch (400) would
   * tell it apart from an unknown tool (-32602), and a server outside the grant would be listed on
   * the caller's behalf.
   */
  async toolEntry(name: string, identity?: Identity): Promise<ToolEntry | undefined> {
    const parts = splitName(name);
    if (!parts || !this.pool.has(parts.server)) return undefined;
    if (identity && !mayUse(identity, parts.server)) return undefined;
    return this.gate.listedEntry(parts.server, this.pool.sharedConnection(parts.server), parts.name, identity);
  }

  listen(deliver: (n: JsonRpcNotification) => void, peer?: ClientPeer): () => void {
    const offs = this.servers(peer).map((s) => this.pool.subscribe(s, deliver));
    return () => offs.forEach((off) => off());
  }
}

/**
 * Adds the URIs (or URI templates) a resources/list (or resources/templates/list) answer holds to
 * `into`, up to what an index keeps.
 */
function collectListed(a: UpstreamAnswer, key: string, into: string[]): void {
  if (!('result' in a) || !Array.isArray(a.result[key])) return;
  const field = key === 'resources' ? 'uri' : 'uriTemplate';
  for (const item of a.result[key] as unknown[]) {
    if (into.length >= MAX_INDEXED_URIS) return;
    const v = isObject(item) ? item[field] : undefined;
    if (typeof v === 'string') into.push(v);
  }
}

function capabilityOf(key: string): string {
  return key === 'resourceTemplates' ? 'resources' : key;
}

/** The caller of an HTTP request as the policy sees it (its identity is all a policy reads). */
function initOf(session: ClientSession) {
  return {
    protocolVersion: session.protocolVersion ?? '',
    capabilities: session.capabilities,
    clientInfo: session.clientInfo ?? {},
  };
}
