// The tools each server offers, as the gateway last saw them: so a call to a tool the server
// does not have answers exactly like one the policy hides, and `Mcp-Param-*` headers can be
// checked and set. Refreshed when the server announces a change.
import { isObject, type JsonObject } from '../mcp/jsonrpc.js';
import { paramHeaderDeclarations, type ParamHeader } from '../mcp/param-headers.js';
import { gatewayPeer } from './peer.js';
import { classifyListedTool } from '../catalog/catalog.js';
import type { Classification } from '../catalog/classify.js';
import { gatewayEnvelope } from '../mcp/era.js';
import type { UpstreamConnection } from './upstream-connection.js';

export interface ToolEntry {
  tool: JsonObject;
  paramHeaders: ParamHeader[];
  /** The tool's definition changed since it was pinned; calls are blocked until it is accepted. */
  pinBlocked: boolean;
  /** The pinned definition's hash as seen now. */
  pinHash?: string;
  /** Category, risk and reasons (the catalog's classification). */
  classification: Classification;
}

/** How the directory pins what it reads; undefined for a server with `pins: off`. */
export interface PinKeeper {
  check(server: string, tool: JsonObject): Promise<{ blocked: boolean; hash: string }>;
}

const MAX_PAGES = 100;

/** The gateway itself as a client, for the lists it reads on its own account. */
const DIRECTORY_PEER = gatewayPeer('gatehouse-directory', 'legacy');

/**
 * Kept per connection: a client session with its own child (or its own upstream session) may see
 * tools the shared connection does not.
 */
export class ToolDirectory {
  private readonly cache = new WeakMap<UpstreamConnection, Promise<Map<string, ToolEntry>>>();

  constructor(private readonly pins: (server: string) => PinKeeper | undefined = () => undefined) {}

  invalidate(conn: UpstreamConnection): void {
    this.cache.delete(conn);
  }

  /** The connection's tools; read once and cached until its server announces a change. */
  tools(conn: UpstreamConnection): Promise<Map<string, ToolEntry>> {
    let entry = this.cache.get(conn);
    if (!entry) {
      entry = this.fetch(conn);
      this.cache.set(conn, entry);
      entry.catch(() => this.cache.delete(conn));
    }
    return entry;
  }

  /**
   * Marks a tool of the connection's cached list blocked by its pin, with the hash of the changed
   * definition; nothing when the list is not cached (it is checked when it is read).
   */
  async markPinBlocked(conn: UpstreamConnection, name: string, hash: string | undefined): Promise<void> {
    const cached = this.cache.get(conn);
    if (!cached) return;
    const entry = (await cached.catch(() => undefined))?.get(name);
    if (!entry) return;
    entry.pinBlocked = true;
    if (hash !== undefined) entry.pinHash = hash;
  }

  /** One tool, re-reading the list once when the cached one does not have it. */
  async tool(conn: UpstreamConnection, name: string): Promise<ToolEntry | undefined> {
    const found = (await this.tools(conn)).get(name);
    if (found) return found;
    return (await this.reread(conn)).get(name);
  }

  /**
   * Reads the list again, as a name the cached list lacks does (the server may have added the tool
   * without announcing it). The gateway does the same for a tool the policy hides before it answers
   * that the tool is unknown: otherwise a hidden tool, found in the cache, would answer sooner than
   * a missing one, and the time would tell an agent which hidden tools exist.
   */
  reread(conn: UpstreamConnection): Promise<Map<string, ToolEntry>> {
    this.invalidate(conn);
    return this.tools(conn);
  }

  private async fetch(conn: UpstreamConnection): Promise<Map<string, ToolEntry>> {
    const server = conn.server;
    await conn.start();
    const modern = conn.era === 'modern';
    const out = new Map<string, ToolEntry>();
    let cursor: unknown;
    for (let page = 0; page < MAX_PAGES; page++) {
      const params: JsonObject = {};
      if (typeof cursor === 'string') params.cursor = cursor;
      if (modern) params._meta = gatewayEnvelope();
      const a = await conn.send(DIRECTORY_PEER, 'tools/list', params);
      if ('error' in a) throw new Error(`tools/list failed: ${a.error.message}`);
      const keeper = this.pins(server);
      for (const t of Array.isArray(a.result.tools) ? a.result.tools : []) {
        if (!isObject(t) || typeof t.name !== 'string') continue;
        const entry: ToolEntry = {
          tool: t,
          paramHeaders: paramHeaderDeclarations(t.inputSchema),
          pinBlocked: false,
          classification: classifyListedTool(t),
        };
        if (keeper) {
          const pin = await keeper.check(server, t);
          entry.pinBlocked = pin.blocked;
          entry.pinHash = pin.hash;
        }
        out.set(t.name, entry);
      }
      cursor = a.result.nextCursor;
      if (typeof cursor !== 'string') break;
    }
    return out;
  }
}
