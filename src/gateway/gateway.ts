// Starting and stopping the gateway as a whole.
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from '../config/load.js';
import { isLoopbackHost } from '../config/loopback.js';
import { createHttpFront } from '../http/server.js';
import { buildGatewayCore, type GatewayCore } from './core.js';
import { AdminTokens } from '../identity/admin-tokens.js';
import { createLogger, lineLogger, logTo } from '../observability/logger.js';
import type { Logger } from 'pino';

export interface Gateway {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  core: GatewayCore;
  /** The gateway's log, for messages about the gateway as a whole (signals, shutdown). */
  logger: Logger;
  close(): Promise<void>;
}

export interface StartGatewayOptions {
  /** Where log lines go, one `level: message` string each (for embedding and tests). */
  log?: (line: string) => void;
  /** A pino logger to log through; default JSON lines on stderr, readable ones on a terminal. */
  logger?: Logger;
  /** The built dashboard to serve at /ui/; default dist/ui. */
  uiDir?: string;
  /** How often connections are checked for a client that stopped reading; default STALL_CHECK_MS, 60 s (for tests). */
  stallCheckMs?: number;
  /** How often the grants of open streams and sessions are checked; default 30 s (tests use less). */
  grantCheckMs?: number;
}

export async function startGateway(loaded: LoadedConfig, opts: StartGatewayOptions = {}): Promise<Gateway> {
  const level = loaded.config.log?.level ?? 'info';
  const logger = opts.logger ?? (opts.log ? lineLogger(opts.log, level) : createLogger({ level }));
  const core = await buildGatewayCore(loaded, logTo(logger));
  core.metrics.watchUpstreams(core.pool);
  core.metrics.collectProcessMetrics();
  const { audit } = core;
  if (audit.stats) core.metrics.setAuditStats(() => audit.stats!());
  // Approvals past their expiry wait for nobody, even before anything has moved them to `expired`.
  core.metrics.setApprovalsPending(() => core.approvals.pendingCount());
  const { host, port } = loaded.config.listen;
  const front = createHttpFront(core, {
    maxBodyBytes: loaded.config.limits.max_body_bytes,
    sessionLimits: {
      maxSessionsPerGrant: loaded.config.limits.max_sessions_per_grant,
      maxInflightPerSession: loaded.config.limits.max_inflight_per_session,
    },
    loopbackOnly: isLoopbackHost(host),
    corsOrigins: loaded.config.listen.cors_origins,
    admin: new AdminTokens(loaded.config.auth),
    ...(opts.uiDir ? { uiDir: opts.uiDir } : {}),
    ...(opts.stallCheckMs ? { stallCheckMs: opts.stallCheckMs } : {}),
    ...(opts.grantCheckMs ? { grantCheckMs: opts.grantCheckMs } : {}),
    warn: (message) => logger.warn(message),
  });
  await new Promise<void>((resolve, reject) => {
    front.server.once('error', reject);
    front.server.listen(port, host, () => resolve());
  });
  const grants = Object.keys(loaded.config.grants);
  if (loaded.config.auth.mode === 'none' && grants.length > 0)
    // Left at its default, the mode makes every grant in the file do nothing over HTTP: an operator
    // who wrote grants meant them to restrict callers.
    logger.warn(
      `auth.mode is "none", so the ${grants.length} grant(s) in the config (${grants.join(', ')}) are not checked on HTTP: every caller gets every server. Set auth.mode: grants to require their tokens (gatehouse stdio --grant applies a grant either way).`,
    );
  const addr = front.server.address() as AddressInfo;
  const shownHost = isIP(host) === 6 ? `[${host}]` : host;
  core.links.base ??= `http://${shownHost}:${addr.port}`;
  await core.replica.start();
  await core.pool.startAll();
  core.reloader.start();
  return {
    url: `http://${shownHost}:${addr.port}`,
    core,
    logger,
    close: async () => {
      // Held calls end because the gateway stops, not because their clients withdrew them.
      core.approvals.close();
      await front.close();
      await core.close();
    },
  };
}
