// What each MCP client needs in its own config file to reach its servers through Gatehouse instead
// of directly: an HTTP URL per server (with the grant's token where grants are used), or, for a
// client that only launches commands (Claude Desktop), `gatehouse stdio <server>`.
import { CLIENT_LABELS, type ClientKind } from './client-configs.js';

export const CLIENT_KINDS = Object.keys(CLIENT_LABELS) as ClientKind[];

/** Where the client file lives, to tell the user where the snippet goes. */
export const CLIENT_FILES: Record<ClientKind, string> = {
  'claude-desktop': 'claude_desktop_config.json (Settings > Developer > Edit Config)',
  cursor: '~/.cursor/mcp.json or .cursor/mcp.json in the project',
  vscode: '.vscode/mcp.json in the workspace (or "MCP: Open User Configuration")',
  windsurf: '~/.codeium/windsurf/mcp_config.json',
  'claude-code': '.mcp.json in the project (or: claude mcp add-json NAME JSON)',
};

export interface SnippetOptions {
  /** Base URL of the gateway, e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  servers: string[];
  /** Absolute path of the gatehouse.yaml, for `gatehouse stdio -c`. */
  configPath: string;
  /** The environment variable holding the grant's token, when the config uses grants. */
  tokenVariable?: string;
}

/** The JSON a client's config needs, as an object ready to print. */
export function clientSnippet(client: ClientKind, opts: SnippetOptions): Record<string, unknown> {
  const url = (server: string) => `${opts.baseUrl.replace(/\/+$/, '')}/mcp/${server}`;
  const token = opts.tokenVariable;
  const each = (entry: (server: string) => Record<string, unknown>) =>
    Object.fromEntries(opts.servers.map((s) => [s, entry(s)]));
  switch (client) {
    case 'claude-desktop':
      return {
        mcpServers: each((s) => ({
          command: 'gatehouse',
          args: ['stdio', s, '-c', opts.configPath],
          // Claude Desktop does not expand variables: the token itself goes here.
          ...(token ? { env: { GATEHOUSE_GRANT: `<the value of ${token}>` } } : {}),
        })),
      };
    case 'cursor':
      return { mcpServers: each((s) => ({ url: url(s), ...bearer(token && `\${env:${token}}`) })) };
    case 'windsurf':
      return { mcpServers: each((s) => ({ serverUrl: url(s), ...bearer(token && `\${env:${token}}`) })) };
    case 'claude-code':
      return { mcpServers: each((s) => ({ type: 'http', url: url(s), ...bearer(token && `\${${token}}`) })) };
    case 'vscode':
      return {
        servers: each((s) => ({ type: 'http', url: url(s), ...bearer(token && '${input:gatehouse-token}') })),
        ...(token
          ? {
              inputs: [
                { type: 'promptString', id: 'gatehouse-token', description: 'Gatehouse grant token', password: true },
              ],
            }
          : {}),
      };
  }
}

function bearer(value: string | undefined): { headers?: Record<string, string> } {
  return value ? { headers: { Authorization: `Bearer ${value}` } } : {};
}

/** The snippet with a heading that says which file it belongs in. */
export function describeSnippet(client: ClientKind, opts: SnippetOptions): string {
  return [
    `${CLIENT_LABELS[client]}: put this in ${CLIENT_FILES[client]}, in place of the servers it replaces:`,
    JSON.stringify(clientSnippet(client, opts), null, 2),
  ].join('\n');
}
