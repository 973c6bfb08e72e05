// Gateways for tests, started in this process the two ways Gatehouse gets its config: parsed from an
// object with no file behind it, or written to a file in a temporary folder and loaded the way
// `gatehouse start -c` loads it (relative paths from the file's folder, environment references, a
// file that hot reload and the command line can be pointed at). Which one a test uses is part of
// what it proves, so both stay.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { featureServerCommand, type Era } from './fixture.js';

/** What most gateway tests run with: a free loopback port, state in memory, no audit log. */
export const EPHEMERAL = {
  listen: { host: '127.0.0.1', port: 0 },
  state: 'memory:',
  audit: 'none',
} as const;

/** The feature fixture over stdio as a configured server, with a timeout a loaded machine meets. */
export function featureEntry(
  extra: Record<string, unknown> = {},
  era: Era | 'both' = 'legacy',
): Record<string, unknown> {
  return { ...featureServerCommand('stdio', era), timeout_ms: 20_000, ...extra };
}

/** The feature fixture under a policy that allows every tool but those `tools` gives rules of their own. */
export function featureAllowing(tools: Record<string, unknown>, era: Era | 'both' = 'legacy'): Record<string, unknown> {
  return featureEntry({ policy: { version: '1', default: 'allow', tools } }, era);
}

export interface TempDir {
  path: string;
  /** Writes `content` (JSON unless a string) to `name` in the folder and returns its path. */
  write(name: string, content: unknown): string;
  remove(): void;
}

export function tempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    write: (name, content) => {
      const file = join(path, name);
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return file;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

export interface GatewayStartOptions {
  /** Where the gateway's log lines go; default nowhere. */
  log?: ((line: string) => void) | undefined;
  /** The built dashboard to serve at /ui/. */
  uiDir?: string;
  /** How often the grants of open streams are checked (default 30 s). */
  grantCheckMs?: number;
}

/**
 * Parses `raw` as a config with no file behind it (relative paths resolve from `dir`, default the
 * working directory) and starts a gateway on it.
 */
export function startParsedGateway(
  raw: Record<string, unknown>,
  opts: GatewayStartOptions & { dir?: string } = {},
): Promise<Gateway> {
  const config = ConfigSchema.parse(raw);
  return startGateway({ path: null, dir: opts.dir ?? process.cwd(), config }, startOptions(opts));
}

export interface FileGateway {
  gateway: Gateway;
  /** The folder the config file is in. */
  dir: TempDir;
  /** The config file the gateway was loaded from. */
  file: string;
  /** Stops the gateway and removes the folder (gateway.close() alone keeps the folder). */
  close(): Promise<void>;
}

/**
 * Writes `raw` to `name` (default gatehouse.json) in `dir`, loads it as a config file and starts a
 * gateway on it. `dir` may be a prefix for a fresh temporary folder, or a folder made beforehand
 * (for the files the config refers to).
 */
export async function startFileGateway(
  dir: TempDir | string,
  raw: Record<string, unknown>,
  opts: GatewayStartOptions & { name?: string } = {},
): Promise<FileGateway> {
  const home = typeof dir === 'string' ? tempDir(dir) : dir;
  const file = home.write(opts.name ?? 'gatehouse.json', raw);
  let gateway: Gateway;
  try {
    gateway = await startGateway(await loadConfig({ file }), startOptions(opts));
  } catch (error) {
    // A folder made here would otherwise outlive a gateway that never started.
    if (typeof dir === 'string') home.remove();
    throw error;
  }
  return {
    gateway,
    dir: home,
    file,
    close: async () => {
      await gateway.close();
      home.remove();
    },
  };
}

function startOptions(opts: GatewayStartOptions): {
  log: (line: string) => void;
  uiDir?: string;
  grantCheckMs?: number;
} {
  return {
    log: opts.log ?? (() => undefined),
    ...(opts.uiDir ? { uiDir: opts.uiDir } : {}),
    ...(opts.grantCheckMs ? { grantCheckMs: opts.grantCheckMs } : {}),
  };
}
