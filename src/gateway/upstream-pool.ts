// Every upstream connection the gateway holds: one shared connection per server, plus one per
// client session where the server needs it (`isolation: session`, or a legacy HTTP/SSE server,
// whose sessions are per client). Notifications meant for every client are fanned out here.
import type { ServerConfig } from '../config/schema.js';
import { negotiateLegacyVersion, type Era } from '../mcp/era.js';
import type { JsonRpcNotification } from '../mcp/jsonrpc.js';
import type { ClientPeer } from './peer.js';
import { UpstreamConnection, type InitParams } from './upstream-connection.js';

export type Listener = (n: JsonRpcNotification) => void;
export type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export class UpstreamPool {
  private readonly shared = new Map<string, UpstreamConnection>();
  private readonly owned = new Map<string, Map<string, UpstreamConnection>>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly listenStreams = new Set<string>();

  constructor(
    readonly servers: Record<string, ServerConfig>,
    private readonly log: Log,
  ) {
    for (const [name, cfg] of Object.entries(servers)) {
      this.shared.set(
        name,
        new UpstreamConnection(name, cfg, { log, onBroadcast: (_c, n) => this.broadcast(name, n) }),
      );
    }
  }

  has(server: string): boolean {
    return this.shared.has(server);
  }

  /** Starts every shared connection; failures are logged and retried on first use. */
  async startAll(): Promise<void> {
    await Promise.all(
      [...this.shared.entries()].map(async ([name, conn]) => {
        try {
          await conn.start();
          this.log('info', `upstream "${name}" ready (${conn.era} era, ${conn.identity?.protocolVersion})`);
          this.ensureListenStream(name, conn);
        } catch (err) {
          this.log('error', err instanceof Error ? err.message : String(err));
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
  connectionFor(server: string, peer: ClientPeer, init?: InitParams): UpstreamConnection {
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
        ...(initParams ? { initParams } : {}),
        ...(shared.era ? { knownEra: shared.era } : {}),
        onBroadcast: (_c, n) => {
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

  private broadcast(server: string, n: JsonRpcNotification): void {
    for (const l of this.listeners.get(server) ?? []) {
      try {
        l(n);
      } catch (err) {
        this.log('warn', `delivering ${n.method} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /**
   * A modern server pushes change notifications only on a `subscriptions/listen` stream, so the
   * gateway holds one open per modern server and fans what arrives out to its own listeners.
   */
  private ensureListenStream(server: string, conn: UpstreamConnection): void {
    if (conn.era !== 'modern' || this.listenStreams.has(server)) return;
    const caps = conn.identity?.capabilities ?? {};
    const tools = caps.tools as { listChanged?: boolean } | undefined;
    const prompts = caps.prompts as { listChanged?: boolean } | undefined;
    const resources = caps.resources as { listChanged?: boolean } | undefined;
    const notifications: Record<string, boolean> = {};
    if (tools?.listChanged) notifications.toolsListChanged = true;
    if (prompts?.listChanged) notifications.promptsListChanged = true;
    if (resources?.listChanged) notifications.resourcesListChanged = true;
    if (Object.keys(notifications).length === 0) return;
    this.listenStreams.add(server);
    const open = () => {
      void conn
        .send(LISTENER_PEER, 'subscriptions/listen', { notifications, _meta: modernMeta() }, { noTimeout: true })
        .then(() => {
          // The stream ended (server restart, close): open it again unless shutting down.
          if (this.listenStreams.has(server)) setTimeout(open, 500).unref();
        });
    };
    open();
  }

  async closeAll(): Promise<void> {
    this.listenStreams.clear();
    const all = [...this.shared.values()];
    for (const m of this.owned.values()) all.push(...m.values());
    this.owned.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}

function modernMeta() {
  return {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'gatehouse', version: '0.1.0' },
  };
}

/** The gateway itself, as the holder of the listen streams. */
const LISTENER_PEER: ClientPeer = {
  id: 'gatehouse-listener',
  era: 'modern',
  principal: 'gatehouse',
  capabilities: {},
  open: true,
  request: async () => ({ error: { code: -32601, message: 'not supported' } }),
  notify: () => undefined,
};
