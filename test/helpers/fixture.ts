// Starting the feature fixture server (test/fixtures/servers/feature-server.ts) in any transport
// and era. stdio fixtures are returned as a command spec (the client or the gateway spawns them);
// http and sse fixtures are started here and stopped by close().
import { fileURLToPath } from 'node:url';
import { spawnReady, type ReadyProcess } from './processes.js';

export type Era = 'legacy' | 'modern';
export type FixtureTransport = 'stdio' | 'http' | 'sse';

/** Where a client connects: an HTTP endpoint, a legacy SSE endpoint, or a command to spawn. */
export type Downstream =
  | { kind: 'http'; url: string; headers?: Record<string, string> }
  | { kind: 'sse'; url: string; headers?: Record<string, string> }
  | { kind: 'stdio'; command: string; args?: string[]; env?: Record<string, string>; cwd?: string };

export const FEATURE_SERVER_PATH = fileURLToPath(new URL('../fixtures/servers/feature-server.ts', import.meta.url));
/** The tsx loader as a file URL, so the command works from any working directory. */
export const TSX_LOADER = import.meta.resolve('tsx');

export interface SpawnFixtureOptions {
  transport: FixtureTransport;
  /** Which era(s) the server serves; `sse` supports only `legacy` (and `both`, which means legacy there). */
  era: Era | 'both';
  /** http/sse: the port to listen on; default 0 (the OS picks one). */
  port?: number;
  /** Extra environment for the server process. */
  env?: Record<string, string>;
}

export interface SpawnedFixture {
  transport: FixtureTransport;
  era: Era | 'both';
  /** http/sse: the endpoint URL (`.../mcp` or `.../sse`). */
  url?: string;
  /** stdio: the command, arguments and environment that start the server. */
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Ready-made downstream description for connectClient(). */
  downstream: Downstream;
  /** What the server wrote to stderr (http/sse; empty for stdio, whose stderr the spawner owns). */
  stderr(): string;
  close(): Promise<void>;
}

/** The command line that runs the feature server (node with the tsx loader). */
export function featureServerCommand(
  transport: FixtureTransport,
  era: Era | 'both',
  port?: number,
): { command: string; args: string[] } {
  const args = ['--import', TSX_LOADER, FEATURE_SERVER_PATH, '--transport', transport, '--era', era];
  if (port !== undefined) args.push('--port', String(port));
  return { command: process.execPath, args };
}

export async function spawnFixture(opts: SpawnFixtureOptions): Promise<SpawnedFixture> {
  const era = opts.transport === 'sse' && opts.era === 'both' ? 'legacy' : opts.era;
  if (opts.transport === 'stdio') {
    const { command, args } = featureServerCommand('stdio', era);
    const env = opts.env;
    return {
      transport: 'stdio',
      era,
      command,
      args,
      ...(env ? { env } : {}),
      downstream: { kind: 'stdio', command, args, ...(env ? { env } : {}) },
      stderr: () => '',
      close: async () => {},
    };
  }
  const { command, args } = featureServerCommand(opts.transport, era, opts.port ?? 0);
  const proc: ReadyProcess = await spawnReady({
    command,
    args,
    ...(opts.env ? { env: opts.env } : {}),
    ready: /^LISTENING (\S+)$/m,
  });
  const url = proc.match;
  return {
    transport: opts.transport,
    era,
    url,
    downstream: { kind: opts.transport, url },
    stderr: proc.stderr,
    close: proc.close,
  };
}
