// Starting one imported server just long enough to read its tools, through the same upstream
// connection and catalog code the gateway uses, so that the suggested policy sees the tools exactly
// as the gateway will.
import { interpolateEnv } from '../config/interpolate.js';
import { ConfigSchema } from '../config/schema.js';
import { readCatalog, type ServerCatalog } from '../catalog/catalog.js';
import type { ImportedServer } from './client-configs.js';

export async function readImportedTools(
  server: ImportedServer,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerCatalog> {
  const failed = (error: string): ServerCatalog => ({ server: server.name, ok: false, error, tools: [] });
  const { original: _original, name, ...entry } = server;
  const { value, missing } = interpolateEnv(entry, env);
  if (missing.length > 0) {
    const names = [...new Set(missing.map((m) => m.name))];
    return failed(`environment variable${names.length > 1 ? 's' : ''} not set: ${names.join(', ')}`);
  }
  const parsed = ConfigSchema.safeParse({
    state: 'memory:',
    servers: { [name]: { ...(value as object), timeout_ms: timeoutMs } },
  });
  if (!parsed.success) return failed(parsed.error.issues.map((i) => i.message).join('; '));
  const { UpstreamPool } = await import('../gateway/upstream-pool.js');
  const stderr: string[] = [];
  const pool = new UpstreamPool(parsed.data.servers, (_level, msg) => {
    stderr.push(msg.replace(`[${name}] `, ''));
    if (stderr.length > 3) stderr.shift();
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ServerCatalog>((resolve) => {
    timer = setTimeout(() => resolve(failed(`no tools listed within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
  });
  try {
    const result = await Promise.race([readCatalog(pool, [name]).then(([c]) => c!), timeout]);
    if (!result.ok && stderr.length > 0) result.error = `${result.error} (${stderr.join(' | ')})`;
    return result;
  } finally {
    clearTimeout(timer);
    await pool.closeAll().catch(() => undefined);
  }
}
