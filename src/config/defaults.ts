// The embedded default config, used when no config file is found: a loopback gateway with SQLite
// state and one server, the bundled example server over stdio, so that `gatehouse start` in an empty
// folder shows something working.
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolveConfigPaths } from './resolve-paths.js';
import { ConfigSchema, type ConfigInput, type GatehouseConfig } from './schema.js';
import type { PolicyInput } from '../policy/schema.js';

export const EXAMPLE_SERVER_NAME = 'example';

/**
 * The example server's policy: reads pass, writes are capped, deletes are refused with a reason,
 * so the quick start shows each kind of decision.
 */
export const EXAMPLE_POLICY: PolicyInput = {
  version: '1',
  default: 'deny',
  tools: {
    echo: {},
    add: {},
    get_time: {},
    write_note: { limits: [{ max: 10, window: 'minute', scope: 'grant' }] },
    delete_note: { action: 'deny', reason: 'Deleting notes is not allowed by the example policy.' },
  },
  resources: { '*': {} },
  prompts: { '*': {} },
};

export function defaultConfig(dir: string): GatehouseConfig {
  const input: ConfigInput = {
    servers: { [EXAMPLE_SERVER_NAME]: { ...exampleServerCommand(), policy: EXAMPLE_POLICY } },
  };
  return resolveConfigPaths(ConfigSchema.parse(input), dir);
}

/**
 * How to run the bundled example server. From dist/ it is compiled JavaScript; from src/ (tests and
 * development, run through tsx) it is the TypeScript source, which node runs with the tsx loader.
 */
export function exampleServerCommand(): { command: string; args: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`../example-server/main.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  if (!fromSource) return { command: process.execPath, args: [script] };
  // An absolute loader URL, because a bare `tsx` would be looked up from the child's working directory.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { command: process.execPath, args: ['--import', tsx, script] };
}
