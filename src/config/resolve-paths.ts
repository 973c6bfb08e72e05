// Relative paths in a config mean "next to the config file", wherever the gateway is started from.
// They are made absolute once, at load, so that no later stage depends on the working directory.
import { isAbsolute, resolve } from 'node:path';
import type { GatehouseConfig, ServerConfig } from './schema.js';

export function resolveConfigPaths(config: GatehouseConfig, dir: string): GatehouseConfig {
  const servers = Object.fromEntries(
    Object.entries(config.servers).map(([name, server]) => [name, resolveServerPaths(server, dir)]),
  );
  const grants = Object.fromEntries(
    Object.entries(config.grants).map(([name, grant]) => [
      name,
      { ...grant, policy: resolvePolicy(grant.policy, dir) },
    ]),
  );
  return {
    ...config,
    state: resolveStoreUrl(config.state, dir),
    audit: { ...config.audit, sink: resolveStoreUrl(config.audit.sink, dir) },
    servers,
    grants,
  };
}

function resolveServerPaths(server: ServerConfig, dir: string): ServerConfig {
  return {
    ...server,
    cwd: server.cwd === undefined ? undefined : resolve(dir, server.cwd),
    policy: resolvePolicy(server.policy, dir),
  };
}

function resolvePolicy<P>(policy: string | P | undefined, dir: string): string | P | undefined {
  return typeof policy === 'string' ? resolve(dir, policy) : policy;
}

/** `sqlite:PATH` and `jsonl:PATH` hold file paths; other store URLs are left as written. */
function resolveStoreUrl(url: string, dir: string): string {
  const match = /^(sqlite|jsonl):(.+)$/.exec(url);
  if (!match) return url;
  const [, scheme, path] = match as unknown as [string, string, string];
  if (path === ':memory:' || isAbsolute(path)) return url;
  return `${scheme}:${resolve(dir, path)}`;
}
