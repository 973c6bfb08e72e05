// What every front end of the gateway shares: the upstream pool, the endpoints built on it,
// and the relay's context.
import type { LoadedConfig } from '../config/load.js';
import { AggregateEndpoint } from './aggregate-endpoint.js';
import { ServerEndpoint, type Endpoint } from './endpoint.js';
import { ParkedCalls } from './parked-calls.js';
import type { RelayContext } from './relay.js';
import { Sealer } from './seal.js';
import { UpstreamPool, type Log } from './upstream-pool.js';
import { ClientSession } from './client-session.js';

export interface GatewayCore {
  pool: UpstreamPool;
  ctx: RelayContext;
  /** The endpoint of one server, or of all of them for `*`. */
  endpoint(name: string): Endpoint | undefined;
  close(): Promise<void>;
}

export function buildGatewayCore(loaded: LoadedConfig, log: Log): GatewayCore {
  const pool = new UpstreamPool(loaded.config.servers, log);
  const parked = new ParkedCalls();
  const ctx: RelayContext = {
    sealer: new Sealer(),
    parked,
    logLevelOf: (peer) => (peer instanceof ClientSession ? peer.logLevel : undefined),
  };
  const endpoints = new Map<string, Endpoint>();
  for (const name of Object.keys(loaded.config.servers)) endpoints.set(name, new ServerEndpoint(name, pool, ctx));
  endpoints.set('*', new AggregateEndpoint(pool, ctx));
  return {
    pool,
    ctx,
    endpoint: (name) => endpoints.get(name),
    close: async () => {
      parked.closeAll();
      await pool.closeAll();
    },
  };
}
