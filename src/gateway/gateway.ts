// Starting and stopping the gateway as a whole.
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from '../config/load.js';
import { createHttpFront } from '../http/server.js';
import { buildGatewayCore, type GatewayCore } from './core.js';

export interface Gateway {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  core: GatewayCore;
  close(): Promise<void>;
}

export async function startGateway(
  loaded: LoadedConfig,
  opts: { log?: (line: string) => void } = {},
): Promise<Gateway> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const core = await buildGatewayCore(loaded, (level, msg) => log(`${level}: ${msg}`));
  const { host, port } = loaded.config.listen;
  const front = createHttpFront(core, {
    maxBodyBytes: loaded.config.limits.max_body_bytes,
    loopbackOnly: isLoopback(host),
    authMode: loaded.config.auth.mode,
    ...(loaded.config.auth.admin_token ? { adminToken: loaded.config.auth.admin_token } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    front.server.once('error', reject);
    front.server.listen(port, host, () => resolve());
  });
  const addr = front.server.address() as AddressInfo;
  const shownHost = isIP(host) === 6 ? `[${host}]` : host;
  await core.pool.startAll();
  core.reloader.start();
  return {
    url: `http://${shownHost}:${addr.port}`,
    core,
    close: async () => {
      await front.close();
      await core.close();
    },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
