// The tools each server offers, as the gateway last saw them: so a call to a tool the server
// does not have answers exactly like one the policy hides, and `Mcp-Param-*` headers can be
// checked and set. Refreshed when the server announces a change.
import {
  MODERN_PROTOCOL_VERSION,
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_PROTOCOL_VERSION,
} from '../mcp/era.js';
import { isObject, type JsonObject } from '../mcp/jsonrpc.js';
import { paramHeaderDeclarations, type ParamHeader } from '../mcp/param-headers.js';
import type { ClientPeer } from './peer.js';
import { GATEWAY_CLIENT_INFO, type UpstreamConnection } from './upstream-connection.js';

export interface ToolEntry {
  tool: JsonObject;
  paramHeaders: ParamHeader[];
}

const MAX_PAGES = 100;

/** The gateway itself as a client, for the lists it reads on its own account. */
const DIRECTORY_PEER: ClientPeer = {
  id: 'gatehouse-directory',
  era: 'legacy',
  principal: 'gatehouse',
  capabilities: {},
  open: true,
  request: async () => ({ error: { code: -32601, message: 'not supported' } }),
  notify: () => undefined,
};

export class ToolDirectory {
  private readonly cache = new Map<string, Promise<Map<string, ToolEntry>>>();

  constructor(private readonly connection: (server: string) => UpstreamConnection) {}

  invalidate(server: string): void {
    this.cache.delete(server);
  }

  /** The server's tools; read once and cached until the server announces a change. */
  tools(server: string): Promise<Map<string, ToolEntry>> {
    let entry = this.cache.get(server);
    if (!entry) {
      entry = this.fetch(server);
      this.cache.set(server, entry);
      entry.catch(() => this.cache.delete(server));
    }
    return entry;
  }

  /** One tool, re-reading the list once when the cached one does not have it. */
  async tool(server: string, name: string): Promise<ToolEntry | undefined> {
    const found = (await this.tools(server)).get(name);
    if (found) return found;
    this.invalidate(server);
    return (await this.tools(server)).get(name);
  }

  private async fetch(server: string): Promise<Map<string, ToolEntry>> {
    const conn = this.connection(server);
    await conn.start();
    const modern = conn.era === 'modern';
    const out = new Map<string, ToolEntry>();
    let cursor: unknown;
    for (let page = 0; page < MAX_PAGES; page++) {
      const params: JsonObject = {};
      if (typeof cursor === 'string') params.cursor = cursor;
      if (modern) {
        params._meta = {
          [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
          [META_CLIENT_CAPABILITIES]: {},
          [META_CLIENT_INFO]: GATEWAY_CLIENT_INFO,
        };
      }
      const a = await conn.send(DIRECTORY_PEER, 'tools/list', params);
      if ('error' in a) throw new Error(`tools/list failed: ${a.error.message}`);
      for (const t of Array.isArray(a.result.tools) ? a.result.tools : []) {
        if (isObject(t) && typeof t.name === 'string')
          out.set(t.name, { tool: t, paramHeaders: paramHeaderDeclarations(t.inputSchema) });
      }
      cursor = a.result.nextCursor;
      if (typeof cursor !== 'string') break;
    }
    return out;
  }
}
