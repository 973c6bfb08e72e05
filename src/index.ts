// Gatehouse as a library: run the gateway inside another Node program, from a config object or a
// config file, with the same validation, policies and endpoints as `gatehouse start`.
//
//   import { createGateway } from 'gatehouse';
//   const gateway = createGateway({ listen: { port: 0 }, state: 'memory:', servers: { ... } });
//   const { url } = await gateway.start();   // http://127.0.0.1:PORT; MCP at `${url}/mcp/<server>`
//   await gateway.close();
import { isAbsolute, resolve } from 'node:path';
import type { Env } from './config/interpolate.js';
import { checkConfig, loadConfig, type LoadedConfig } from './config/load.js';
import type { ConfigInput } from './config/schema.js';

export type { ConfigInput, GatehouseConfig, GrantConfig, ServerConfig, Transport } from './config/schema.js';
export type { Policy, PolicyInput, PolicyRule, PolicyLimit, PolicyApproval, Category } from './policy/schema.js';
export type { Problem } from './config/problems.js';
export type { LoadedConfig } from './config/load.js';
export { ConfigError } from './config/errors.js';
export { PolicyError } from './policy/compile.js';
export { loadConfig };

export interface CreateGatewayOptions {
  /** Folder that relative paths in a config object are resolved against; default the working directory. */
  cwd?: string;
  /** Where `${VAR}` references are read from; default process.env. */
  env?: Env;
  /** Receives each log line (`level: message`); default JSON lines on stderr. */
  log?: (line: string) => void;
}

export interface ListeningAddress {
  /** Base URL, e.g. http://127.0.0.1:8080; MCP endpoints are `${url}/mcp/<server>`. */
  url: string;
  host: string;
  port: number;
}

export interface GatehouseGateway {
  /** Validates the config, starts the upstream servers and listens. Rejects with ConfigError or PolicyError. */
  start(): Promise<ListeningAddress>;
  /** Stops listening, ends held calls and closes upstreams and stores. Safe to call more than once. */
  close(): Promise<void>;
}

/**
 * A gateway for a config object (as written in gatehouse.yaml) or the path of a config file.
 * Nothing runs until start().
 */
export function createGateway(config: ConfigInput | string, options: CreateGatewayOptions = {}): GatehouseGateway {
  let running: { close(): Promise<void> } | undefined;
  let closed = false;
  return {
    async start() {
      if (running) throw new Error('this gateway is already started');
      if (closed) throw new Error('this gateway was closed; create a new one');
      const loaded = await load(config, options);
      const { startGateway } = await import('./gateway/gateway.js');
      const gateway = await startGateway(loaded, options.log ? { log: options.log } : {});
      running = gateway;
      const url = new URL(gateway.url);
      return { url: gateway.url, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
    },
    async close() {
      closed = true;
      const gateway = running;
      running = undefined;
      await gateway?.close();
    },
  };
}

async function load(config: ConfigInput | string, options: CreateGatewayOptions): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  if (typeof config === 'string') return loadConfig({ file: config, cwd, env });
  const dir = isAbsolute(cwd) ? cwd : resolve(cwd);
  return { path: null, dir, config: await checkConfig(config, { where: null, dir, env }) };
}
