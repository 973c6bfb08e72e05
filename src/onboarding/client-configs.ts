// Reading the MCP server lists of the clients people already use — Claude Desktop, Cursor, VS Code,
// Windsurf and Claude Code — into one form that `gatehouse import` turns into a gatehouse.yaml. The
// format is recognised from the content (VS Code's `servers` and `inputs`, Windsurf's `serverUrl`,
// Cursor's `url`, the `type` of Claude Code); the file name only breaks a tie between formats that
// look the same, such as a Claude Desktop and a Cursor file with only command-line servers.
import { homedir } from 'node:os';
import { basename, dirname } from 'node:path';
import { slug } from '../config/schema.js';

export type ClientKind = 'claude-desktop' | 'cursor' | 'vscode' | 'windsurf' | 'claude-code';

export const CLIENT_LABELS: Record<ClientKind, string> = {
  'claude-desktop': 'Claude Desktop',
  cursor: 'Cursor',
  vscode: 'VS Code',
  windsurf: 'Windsurf',
  'claude-code': 'Claude Code',
};

/** One server as Gatehouse will write it, with the name the client gave it. */
export interface ImportedServer {
  /** The key in the client's file. */
  original: string;
  /** A valid Gatehouse server name, unique in the import. */
  name: string;
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  url?: string;
  transport?: 'streamable-http' | 'sse';
  headers?: Record<string, string>;
}

/** A `${input:id}` prompt of VS Code, now read from an environment variable. */
export interface InputVariable {
  id: string;
  variable: string;
  description?: string;
}

export interface ClientImport {
  client: ClientKind;
  servers: ImportedServer[];
  /** VS Code inputs that became environment variables: the user must set them. */
  inputs: InputVariable[];
  /** Things the user should know: entries skipped, values rewritten. */
  notes: string[];
}

/** A client file that cannot be imported; the message says what was expected. */
export class ClientConfigError extends Error {
  override readonly name = 'ClientConfigError';
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Recognises the client whose file this is. */
export function detectClient(doc: unknown, file: string): { client: ClientKind; entries: Json } {
  if (!isObject(doc)) throw new ClientConfigError(`${file} does not hold a JSON object`);
  // VS Code: .vscode/mcp.json has `servers`; a user settings.json nests it under `mcp`.
  const vscode = isObject(doc.mcp) && isObject(doc.mcp.servers) ? doc.mcp : doc;
  if (isObject(vscode.servers) && !isObject(doc.mcpServers)) return { client: 'vscode', entries: vscode.servers };
  if (!isObject(doc.mcpServers)) {
    throw new ClientConfigError(
      `${file} has neither "mcpServers" (Claude Desktop, Cursor, Windsurf, Claude Code) nor "servers" (VS Code); ` +
        'name the file your MCP client reads its servers from',
    );
  }
  const entries = doc.mcpServers;
  const values = Object.values(entries).filter(isObject);
  const name = basename(file);
  if (values.some((s) => 'serverUrl' in s) || name === 'mcp_config.json') return { client: 'windsurf', entries };
  if (values.some((s) => typeof s.type === 'string') || name === '.mcp.json') return { client: 'claude-code', entries };
  if (values.some((s) => 'url' in s) || basename(dirname(file)) === '.cursor') return { client: 'cursor', entries };
  if (name === 'claude_desktop_config.json') return { client: 'claude-desktop', entries };
  // Command-only mcpServers files are read the same way by every client; Claude Desktop is the most common.
  return { client: /cursor/i.test(file) ? 'cursor' : 'claude-desktop', entries };
}

/** Reads a parsed client file; `file` is its absolute path. */
export function importClientConfig(doc: unknown, file: string): ClientImport {
  const { client, entries } = detectClient(doc, file);
  const notes: string[] = [];
  const inputs = client === 'vscode' ? inputVariables(doc as Json) : new Map<string, InputVariable>();
  const used = new Set<string>();
  const rewrite = textRewriter(file, inputs, notes);
  const servers: ImportedServer[] = [];
  for (const [original, raw] of Object.entries(entries)) {
    if (!isObject(raw)) {
      notes.push(`"${original}" is not an object; skipped`);
      continue;
    }
    const name = uniqueName(original, used);
    const server = readServer(original, name, raw, rewrite);
    if (!server) {
      notes.push(`"${original}" has neither a command nor a URL; skipped`);
      used.delete(name);
      continue;
    }
    if (raw.disabled === true) notes.push(`"${original}" is disabled in ${CLIENT_LABELS[client]}; imported anyway`);
    if (typeof raw.envFile === 'string') {
      notes.push(`"${original}" reads ${raw.envFile} (envFile): copy those variables into "env" or the environment`);
    }
    servers.push(server);
  }
  const usedInputs = [...inputs.values()].filter((i) =>
    servers.some((s) => JSON.stringify(s).includes(`\${${i.variable}}`)),
  );
  return { client, servers, inputs: usedInputs, notes };
}

function readServer(
  original: string,
  name: string,
  raw: Json,
  rewrite: (s: string) => string,
): ImportedServer | undefined {
  const strings = (v: unknown): string[] | undefined =>
    Array.isArray(v)
      ? v.filter((x) => ['string', 'number', 'boolean'].includes(typeof x)).map((x) => rewrite(String(x)))
      : undefined;
  const record = (v: unknown): Record<string, string> | undefined => {
    if (!isObject(v)) return undefined;
    const entries = Object.entries(v).filter(([, x]) => ['string', 'number', 'boolean'].includes(typeof x));
    return entries.length > 0 ? Object.fromEntries(entries.map(([k, x]) => [k, rewrite(String(x))])) : undefined;
  };
  const base = { original, name };
  if (typeof raw.command === 'string' && raw.command !== '') {
    const args = strings(raw.args);
    const env = record(raw.env);
    return {
      ...base,
      command: rewrite(raw.command),
      ...(args && args.length > 0 ? { args } : {}),
      ...(env ? { env } : {}),
      ...(typeof raw.cwd === 'string' ? { cwd: rewrite(raw.cwd) } : {}),
    };
  }
  const url = typeof raw.url === 'string' ? raw.url : typeof raw.serverUrl === 'string' ? raw.serverUrl : undefined;
  if (!url) return undefined;
  const headers = record(raw.headers);
  const sse = raw.type === 'sse' || raw.transport === 'sse' || (raw.type === undefined && /\/sse\/?$/.test(url));
  return {
    ...base,
    url: rewrite(url),
    transport: sse ? 'sse' : 'streamable-http',
    ...(headers ? { headers } : {}),
  };
}

/** A valid, unused server name for a client's key: lower case, dashes, suffixed on a collision. */
function uniqueName(original: string, used: Set<string>): string {
  const base = slug(original).slice(0, 60).replace(/-+$/, '') || 'server';
  let name = base;
  for (let n = 2; used.has(name); n++) name = `${base}-${n}`;
  used.add(name);
  return name;
}

/** VS Code's `inputs`: each prompt becomes an environment variable named after its id. */
function inputVariables(doc: Json): Map<string, InputVariable> {
  const found = new Map<string, InputVariable>();
  const list = isObject(doc.mcp) && Array.isArray(doc.mcp.inputs) ? doc.mcp.inputs : doc.inputs;
  for (const input of Array.isArray(list) ? list : []) {
    if (!isObject(input) || typeof input.id !== 'string') continue;
    found.set(input.id, {
      id: input.id,
      variable: envName(input.id),
      ...(typeof input.description === 'string' ? { description: input.description } : {}),
    });
  }
  return found;
}

export function envName(id: string): string {
  const name = id
    .toUpperCase()
    .replace(/[^A-Z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[A-Z_]/.test(name) ? name : `_${name}`;
}

/**
 * Rewrites the clients' variable syntax into Gatehouse's: `${input:id}` and `${env:NAME}` become
 * `${NAME}` (read from the environment when Gatehouse starts), `${userHome}` and `${workspaceFolder}`
 * become paths, and any other `${...}` text is escaped so that it stays literal.
 */
function textRewriter(file: string, inputs: Map<string, InputVariable>, notes: string[]): (text: string) => string {
  const dir = dirname(file);
  const workspace = ['.vscode', '.cursor', '.windsurf'].includes(basename(dir)) ? dirname(dir) : dir;
  return (text) =>
    text.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
      const [kind, rest] = inner.includes(':')
        ? [inner.slice(0, inner.indexOf(':')), inner.slice(inner.indexOf(':') + 1)]
        : [inner, ''];
      if (kind === 'input') {
        let input = inputs.get(rest);
        if (!input) {
          input = { id: rest, variable: envName(rest) };
          inputs.set(rest, input);
          notes.push(`\${input:${rest}} has no entry in "inputs"; it is read from ${input.variable}`);
        }
        return `\${${input.variable}}`;
      }
      if (kind === 'env' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) return `\${${rest}}`;
      if (kind === 'userHome') return homedir();
      if (kind === 'workspaceFolder') return workspace;
      // Claude Desktop does no interpolation, so a `${NAME}` there was meant literally.
      return `$${whole}`;
    });
}
