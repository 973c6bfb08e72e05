// The catalog: every tool of every server with its category, risk and the reasons for them, and
// its pin status. Served by `gatehouse catalog` and the admin API.
import type { JsonObject } from '../mcp/jsonrpc.js';
import type { UpstreamPool } from '../gateway/upstream-pool.js';
import { classifyTool, type Classification } from './classify.js';

export interface CatalogEntry extends Classification {
  server: string;
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  annotations?: Record<string, unknown>;
  /** pinned, changed (blocked until accepted), or off for a server with `pins: off`. */
  pin: 'pinned' | 'changed' | 'off';
}

export interface ServerCatalog {
  server: string;
  ok: boolean;
  error?: string;
  tools: CatalogEntry[];
}

function annotationsOf(tool: JsonObject): Record<string, unknown> | undefined {
  return tool.annotations && typeof tool.annotations === 'object'
    ? (tool.annotations as Record<string, unknown>)
    : undefined;
}

/** Classifies a tool as a server listed it. */
export function classifyListedTool(tool: JsonObject): Classification {
  return classifyTool({
    name: String(tool.name),
    ...(typeof tool.title === 'string' ? { title: tool.title } : {}),
    ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
    inputSchema: tool.inputSchema,
    annotations: annotationsOf(tool) ?? null,
  });
}

export function catalogEntry(
  server: string,
  tool: JsonObject,
  pin: CatalogEntry['pin'],
  known?: Classification,
): CatalogEntry {
  const annotations = annotationsOf(tool);
  return {
    server,
    name: String(tool.name),
    ...(typeof tool.title === 'string' ? { title: tool.title } : {}),
    ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
    inputSchema: tool.inputSchema,
    ...(annotations ? { annotations } : {}),
    ...(known ?? classifyListedTool(tool)),
    pin,
  };
}

/** The catalog of the named servers (all by default), read through the gateway's own connections. */
export async function readCatalog(pool: UpstreamPool, servers = Object.keys(pool.servers)): Promise<ServerCatalog[]> {
  return Promise.all(
    servers.map(async (server): Promise<ServerCatalog> => {
      try {
        const tools = await pool.tools.tools(pool.sharedConnection(server));
        const pinsOff = pool.servers[server]?.pins === 'off';
        const entries = [...tools.values()].map((t) =>
          catalogEntry(server, t.tool, pinsOff ? 'off' : t.pinBlocked ? 'changed' : 'pinned', t.classification),
        );
        return { server, ok: true, tools: entries };
      } catch (err) {
        return { server, ok: false, error: err instanceof Error ? err.message : String(err), tools: [] };
      }
    }),
  );
}
