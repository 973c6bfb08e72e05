// `gatehouse catalog [server]` and `gatehouse policy suggest <server>`: start the configured
// servers, read their tools, classify them, and print the catalog or a suggested policy.
import { existsSync, writeFileSync } from 'node:fs';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { readCatalog, type ServerCatalog } from '../catalog/catalog.js';
import { suggestPolicyYaml } from '../catalog/suggest.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo } from './io.js';

async function withCatalog<T>(
  loaded: LoadedConfig,
  servers: string[],
  io: CliIo,
  fn: (c: ServerCatalog[]) => T,
): Promise<T> {
  const { buildGatewayCore } = await import('../gateway/core.js');
  const core = await buildGatewayCore(loaded, (level, msg) => {
    if (level !== 'info') io.err(`${level}: ${msg}`);
  });
  try {
    return fn(await readCatalog(core.pool, servers));
  } finally {
    await core.close();
  }
}

function checkServers(loaded: LoadedConfig, servers: string[]): void {
  const known = Object.keys(loaded.config.servers);
  for (const s of servers) {
    if (!known.includes(s)) throw new UsageError(`unknown server "${s}"; configured servers: ${known.join(', ')}`);
  }
}

export async function catalogCommand(
  server: string | undefined,
  opts: { config?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const loaded = await loadConfig({ file: opts.config });
  const servers = server ? [server] : Object.keys(loaded.config.servers);
  checkServers(loaded, servers);
  return withCatalog(loaded, servers, io, (catalogs) => {
    if (opts.json) io.out(JSON.stringify(catalogs, null, 2));
    else io.out(catalogs.map(renderServer).join('\n\n'));
    return catalogs.every((c) => c.ok) ? EXIT_OK : EXIT_FAILURE;
  });
}

function renderServer(c: ServerCatalog): string {
  if (!c.ok) return `${c.server}: could not be read: ${c.error}`;
  const rows = c.tools.map((t) => [t.name, t.category, t.risk, t.pin, t.reasons.join('; ')]);
  const head = ['TOOL', 'CATEGORY', 'RISK', 'PIN', 'WHY'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]!) : cell)).join('  ');
  return [`${c.server} (${c.tools.length} tools)`, line(head), ...rows.map(line)].join('\n');
}

export async function suggestCommand(
  server: string,
  opts: { config?: string; output?: string; force?: boolean },
  io: CliIo,
): Promise<number> {
  const loaded = await loadConfig({ file: opts.config });
  checkServers(loaded, [server]);
  if (opts.output && existsSync(opts.output) && !opts.force) {
    throw new UsageError(`${opts.output} exists; add --force to overwrite it`);
  }
  return withCatalog(loaded, [server], io, ([c]) => {
    if (!c?.ok) {
      io.err(`${server}: could not be read: ${c?.error}`);
      return EXIT_FAILURE;
    }
    const yaml = suggestPolicyYaml(server, c.tools);
    if (opts.output) {
      writeFileSync(opts.output, yaml);
      io.err(`wrote ${opts.output} (${c.tools.length} tools)`);
    } else io.out(yaml);
    return EXIT_OK;
  });
}
