// Every upstream connection the gateway holds: one shared connection per server, plus one per
// client session where the server needs it (`isolation: session`, or a legacy HTTP/SSE server,
// whose sessions are per client). Notifications meant for every client are fanned out here.
import type { ServerConfig } from '../config/schema.js';
import { gatewayEnvelope, negotiateLegacyVersion, type Era } from '../mcp/era.js';
import type { JsonRpcNotification } from '../mcp/jsonrpc.js';
import { gatewayPeer, type ClientPeer } from './peer.js';
import { UpstreamConnection, type ConnectionOptions, type InitParams } from './upstream-connection.js';
import { ToolDirectory, type PinKeeper } from './tool-directory.js';

export type Listener = (n: JsonRpcNotification) => void;
export type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export class UpstreamPool {
  private readonly shared = new Map<string, UpstreamConnection>();
  private readonly owned = new Map<string, Map<string, UpstreamConnection>>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly listenStreams = new Map<string, AbortController>();
  /** Resource URIs clients of a shared connection subscribed to, counted per client. */
  private readonly resourceRefs = new Map<string, Map<string, number>>();
  /** The tools each server offers, refreshed on its list-changed notifications. */
  readonly tools: ToolDirectory;
  private readonly restartListeners = new Set<(server: string) => void>();

  constructor(
    readonly servers: Record<string, ServerConfig>,
    private readonly log: Log,
    pins: (server: string) => PinKeeper | undefined = () => undefined,
  ) {
    this.tools = new ToolDirectory(pins);
    for (const [name, cfg] of Object.entries(servers)) {
      this.shared.set(
        name,
        new UpstreamConnection(name, cfg, {
          log,
          onBroadcast: (_c, n) => this.broadcast(name, n),
          onRestart: () => this.restarted(name),
        }),
      );
    }
  }

  /** Calls `listener` with the server's name each time one of its connections restarts it. */
  onUpstreamRestart(listener: (server: string) => void): () => void {
    this.restartListeners.add(listener);
    return () => void this.restartListeners.delete(listener);
  }

  private restarted(server: string): void {
    for (const listener of this.restartListeners) listener(server);
  }

  has(server: string): boolean {
    return this.shared.has(server);
  }

  /** Starts every shared connection; failures are logged and retried in the background (and on first use). */
  async startAll(): Promise<void> {
    await Promise.all(
      [...this.shared.entries()].map(async ([name, conn]) => {
        try {
          await conn.start();
          this.log('info', `upstream "${name}" ready (${conn.era} era, ${conn.identity?.protocolVersion})`);
          this.ensureListenStream(name, conn);
        } catch (err) {
          this.log('error', err instanceof Error ? err.message : String(err));
          conn.retryStart();
        }
      }),
    );
  }

  sharedConnection(server: string): UpstreamConnection {
    const c = this.shared.get(server);
    if (!c) throw new Error(`Unknown server "${server}".`);
    return c;
  }

  /** Whether a legacy client session gets a connection of its own for this server. */
  needsOwnConnection(server: string): boolean {
    const cfg = this.servers[server]!;
    if (cfg.isolation === 'session') return true;
    // A legacy HTTP/SSE server keeps per-session state: each client gets its own upstream session.
    const era: Era | undefined = this.shared.get(server)?.era;
    return cfg.transport !== 'stdio' && era === 'legacy';
  }

  /** The connection that carries a client's requests to a server. */
  connectionFor(
    server: string,
    peer: ClientPeer,
    init?: InitParams,
    resume?: ConnectionOptions['resume'],
  ): UpstreamConnection {
    const shared = this.sharedConnection(server);
    if (peer.era !== 'legacy' || !this.needsOwnConnection(server)) return shared;
    let mine = this.owned.get(peer.id);
    if (!mine) this.owned.set(peer.id, (mine = new Map()));
    let conn = mine.get(server);
    if (!conn) {
      const cfg = this.servers[server]!;
      const initParams: InitParams | undefined = init
        ? { ...init, protocolVersion: negotiateLegacyVersion(init.protocolVersion) }
        : undefined;
      conn = new UpstreamConnection(server, cfg, {
        log: this.log,
        owner: peer,
        onRestart: () => this.restarted(server),
        ...(initParams ? { initParams } : {}),
        ...(shared.era ? { knownEra: shared.era } : {}),
        ...(resume ? { resume } : {}),
        onBroadcast: (c, n) => {
          if (n.method === 'notifications/tools/list_changed') this.tools.invalidate(c);
          if (peer.open) peer.notify(n, undefined);
        },
      });
      mine.set(server, conn);
    }
    return conn;
  }

  /** Closes the connections a client session owned. */
  async release(peer: ClientPeer): Promise<void> {
    const mine = this.owned.get(peer.id);
    if (!mine) return;
    this.owned.delete(peer.id);
    await Promise.all([...mine.values()].map((c) => c.close()));
  }

  subscribe(server: string, listener: Listener): () => void {
    let set = this.listeners.get(server);
    if (!set) this.listeners.set(server, (set = new Set()));
    set.add(listener);
    const conn = this.shared.get(server);
    if (conn) this.ensureListenStream(server, conn);
    return () => set.delete(listener);
  }

  /** Tells every client of a server something changed (e.g. a pin was accepted). */
  announce(server: string, method: string): void {
    this.broadcast(server, { jsonrpc: '2.0', method });
    // Sessions with a connection of their own hear it from the gateway directly.
    for (const conns of this.owned.values()) {
      const conn = conns.get(server);
      const owner = conn?.owner;
      if (owner?.open) owner.notify({ jsonrpc: '2.0', method }, undefined);
    }
  }

  private broadcast(server: string, n: JsonRpcNotification): void {
    if (n.method === 'notifications/tools/list_changed') {
      const conn = this.shared.get(server);
      if (conn) this.tools.invalidate(conn);
    }
    for (const l of this.listeners.get(server) ?? []) {
      try {
        l(n);
      } catch (err) {
        this.log('warn', `delivering ${n.method} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /**
   * Subscribes the shared connection to a resource for one client; the returned function ends
   * that client's interest. The server is subscribed while any client is interested.
   */
  async subscribeResource(server: string, uri: string): Promise<() => void> {
    const conn = this.sharedConnection(server);
    await conn.start();
    let refs = this.resourceRefs.get(server);
    if (!refs) this.resourceRefs.set(server, (refs = new Map()));
    const count = refs.get(uri) ?? 0;
    refs.set(uri, count + 1);
    if (count === 0) {
      if (conn.era === 'modern') this.reopenListenStream(server, conn);
      else {
        const a = await conn.send(LISTENER_PEER, 'resources/subscribe', { uri });
        if ('error' in a) {
          refs.delete(uri);
          throw new Error(a.error.message);
        }
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (refs.get(uri) ?? 1) - 1;
      if (left > 0) return void refs.set(uri, left);
      refs.delete(uri);
      if (conn.era === 'modern') this.reopenListenStream(server, conn);
      else void conn.send(LISTENER_PEER, 'resources/unsubscribe', { uri });
    };
  }

  private reopenListenStream(server: string, conn: UpstreamConnection): void {
    this.listenStreams.get(server)?.abort();
    this.listenStreams.delete(server);
    this.ensureListenStream(server, conn);
  }

  /**
   * A modern server pushes change notifications only on a `subscriptions/listen` stream, so the
   * gateway holds one open per modern server (with every resource some client subscribed to) and
   * fans what arrives out to its own listeners.
   */
  private ensureListenStream(server: string, conn: UpstreamConnection): void {
    if (conn.era !== 'modern' || this.listenStreams.has(server)) return;
    const caps = conn.identity?.capabilities ?? {};
    const tools = caps.tools as { listChanged?: boolean } | undefined;
    const prompts = caps.prompts as { listChanged?: boolean } | undefined;
    const resources = caps.resources as { listChanged?: boolean; subscribe?: boolean } | undefined;
    const notifications: Record<string, unknown> = {};
    if (tools?.listChanged) notifications.toolsListChanged = true;
    if (prompts?.listChanged) notifications.promptsListChanged = true;
    if (resources?.listChanged) notifications.resourcesListChanged = true;
    const uris = [...(this.resourceRefs.get(server)?.keys() ?? [])];
    if (resources?.subscribe && uris.length > 0) notifications.resourceSubscriptions = uris;
    if (Object.keys(notifications).length === 0) return;
    const abort = new AbortController();
    this.listenStreams.set(server, abort);
    void conn
      .send(
        LISTENER_PEER,
        'subscriptions/listen',
        { notifications, _meta: gatewayEnvelope() },
        { noTimeout: true, signal: abort.signal },
      )
      .then(() => {
        // The stream ended (server restart, close): open it again unless replaced or shutting down.
        if (this.listenStreams.get(server) !== abort) return;
        this.listenStreams.delete(server);
        setTimeout(() => this.ensureListenStream(server, conn), 500).unref();
      });
  }

  async closeAll(): Promise<void> {
    for (const a of this.listenStreams.values()) a.abort();
    this.listenStreams.clear();
    const all = [...this.shared.values()];
    for (const m of this.owned.values()) all.push(...m.values());
    this.owned.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}

/** The gateway itself, as the holder of the listen streams. */
const LISTENER_PEER = gatewayPeer('gatehouse-listener', 'modern');
