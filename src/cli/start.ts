// `gatehouse start [-c FILE]`: runs the gateway, prints the URL of every endpoint, and closes the
// gateway cleanly on SIGINT or SIGTERM.
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { Logger } from 'pino';
import { EXIT_FAILURE, EXIT_OK, type CliIo } from './io.js';

export interface StartOptions {
  config?: string;
}

/** How long a closed gateway may take to let the process end before it is ended anyway. */
const EXIT_GRACE_MS = 5_000;

export async function startCommand(opts: StartOptions, io: CliIo): Promise<number> {
  const loaded = await loadConfig({ file: opts.config });
  // Loaded only now: a bad config is reported without loading the whole gateway.
  const { startGateway } = await import('../gateway/gateway.js');
  const { createLogger } = await import('../observability/logger.js');
  const logger = createLogger({ level: loaded.config.log?.level ?? 'info' });
  const gateway = await startGateway(loaded, { logger });
  io.out(describeStart(gateway.url, loaded));
  closeOnSignal(() => gateway.close(), logger);
  return EXIT_OK;
}

export interface Endpoint {
  url: string;
  what: string;
}

/** Every endpoint a running gateway serves (DESIGN section 3), in the order they are printed. */
export function endpoints(baseUrl: string, servers: readonly string[], adminApi = true): Endpoint[] {
  const base = baseUrl.replace(/\/+$/, '');
  return [
    ...servers.map((name) => ({ url: `${base}/mcp/${name}`, what: `MCP (Streamable HTTP), server ${name}` })),
    { url: `${base}/mcp`, what: 'MCP (Streamable HTTP), every server, tools named <server>__<tool>' },
    ...servers.map((name) => ({ url: `${base}/sse/${name}`, what: `MCP (legacy HTTP+SSE), server ${name}` })),
    { url: `${base}/healthz`, what: 'liveness' },
    { url: `${base}/readyz`, what: 'readiness' },
    { url: `${base}/metrics`, what: 'Prometheus metrics' },
    {
      url: `${base}/api/v1`,
      what: adminApi ? 'admin API (admin token)' : 'admin API: off until auth.admin_token is set',
    },
    {
      url: `${base}/ui/`,
      what: adminApi ? 'dashboard (sign in with an admin token)' : 'dashboard: set auth.admin_token to sign in',
    },
  ];
}

function describeStart(baseUrl: string, loaded: LoadedConfig): string {
  const source = loaded.path ?? 'built-in example configuration (no gatehouse.yaml here)';
  const { admin_token, admin_tokens } = loaded.config.auth;
  const adminApi = admin_token !== undefined || Object.keys(admin_tokens ?? {}).length > 0;
  const list = endpoints(baseUrl, Object.keys(loaded.config.servers), adminApi);
  const width = Math.max(...list.map((e) => e.url.length));
  return [
    `Gatehouse is running on ${baseUrl} (config: ${source})`,
    ...list.map((e) => `  ${e.url.padEnd(width)}  ${e.what}`),
    'Press Ctrl+C to stop.',
  ].join('\n');
}

function closeOnSignal(close: () => Promise<void>, logger: Logger): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn(`${signal} again: exiting without waiting for the gateway to close`);
      process.exit(EXIT_FAILURE);
    }
    closing = true;
    logger.info(`${signal} received: closing the gateway`);
    close().then(
      () => {
        process.exitCode = EXIT_OK;
        // If something still holds the event loop open, do not hang: leave after a grace period.
        setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
      },
      (error: unknown) => {
        logger.error(`closing the gateway failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
