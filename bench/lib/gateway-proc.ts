// Gatehouse as a process for the memory, start-up, scaling and soak benchmarks: a config written
// to a temporary directory, `node bin/gatehouse.js start -c <it>`, and the processes stopped after.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_POLICY } from './targets.js';
import { Managed, ROOT_DIR, compileBenchServers, freePort, sleep } from './proc.js';

export interface GatewaySetup {
  /** Stdio echo upstreams named echo, echo-2, echo-3, ... */
  stdioServers?: number;
  /** Streamable HTTP upstreams (URLs), named http, http-2, ... */
  httpServers?: string[];
  /** The bench policy, SQLite state and pins on every server; audit in the state file when `audit`. */
  policy?: boolean;
  audit?: boolean;
  /** Extra keys of the config's `limits`. */
  limits?: Record<string, number>;
  /** Node flags for the gateway process (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** The `era` of every stdio upstream; unset is the default, `auto` (found modern: the echo server speaks both). */
  stdioEra?: 'legacy' | 'modern';
  /** A copy of the CLI bundle to run instead of `bin/gatehouse.js` (bench/ablate.ts). */
  bundle?: string;
}

/** Runs the bundle named by its first argument as `bin/gatehouse.js` runs dist/bundle/gatehouse.js. */
const RUN_BUNDLE =
  'const { pathToFileURL } = await import("node:url"); const cli = await import(pathToFileURL(process.argv[1]).href); cli.exitQuietlyOnClosedPipe(); await cli.main(process.argv.slice(2));';

export interface GatewayProcess {
  proc: Managed;
  base: string;
  dir: string;
  stateDb: string;
  servers: string[];
  stop: () => Promise<void>;
}

/** The names of the servers a setup configures, in order. */
export function serverNames(setup: GatewaySetup): string[] {
  const names: string[] = [];
  for (let i = 1; i <= (setup.stdioServers ?? 0); i++) names.push(i === 1 ? 'echo' : `echo-${i}`);
  (setup.httpServers ?? []).forEach((_, i) => names.push(i === 0 ? 'http' : `http-${i + 1}`));
  return names;
}

/** Writes the config of a setup into a fresh temporary directory; returns its path and the port. */
export async function writeGatewayConfig(setup: GatewaySetup): Promise<{ dir: string; config: string; port: number }> {
  const { echoServer } = compileBenchServers();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const stateDb = join(dir, 'state.db');
  const servers: Record<string, unknown> = {};
  const names = serverNames(setup);
  let i = 0;
  for (; i < (setup.stdioServers ?? 0); i++)
    servers[names[i]!] = {
      command: process.execPath,
      args: [echoServer, '--probe-tools'],
      ...(setup.stdioEra ? { era: setup.stdioEra } : {}),
    };
  for (const url of setup.httpServers ?? []) servers[names[i++]!] = { url };
  if (setup.policy) for (const s of Object.values(servers)) (s as Record<string, unknown>).policy = BENCH_POLICY;
  const config = join(dir, 'gatehouse.json');
  writeFileSync(
    config,
    `${JSON.stringify(
      {
        listen: { host: '127.0.0.1', port },
        state: setup.policy ? `sqlite:${stateDb}` : 'memory:',
        audit: setup.audit ? `sqlite:${stateDb}` : 'none',
        auth: { mode: 'none' },
        log: { level: 'warn' },
        ...(setup.limits ? { limits: setup.limits } : {}),
        servers,
      },
      null,
      2,
    )}\n`,
  );
  return { dir, config, port };
}

/** One GET; resolves with the status, or 0 when nothing answers. */
export function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => (req.destroy(), resolve(0)));
    req.end();
  });
}

/** Polls `url` every `everyMs` until it answers 200; rejects when the process exits or time runs out. */
export async function waitFor200(url: string, proc: Managed, timeoutMs: number, everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) throw new Error(`${proc.name} exited before ready:\n${proc.output()}`);
    if ((await httpStatus(url)) === 200) return;
    await sleep(everyMs);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms\n${proc.output()}`);
}

/** Starts `node bin/gatehouse.js start` on a setup and waits until /readyz answers 200. */
export async function startGatewayProcess(setup: GatewaySetup, readyTimeoutMs = 60_000): Promise<GatewayProcess> {
  const { dir, config, port } = await writeGatewayConfig(setup);
  const entry = setup.bundle
    ? ['--input-type=module', '-e', RUN_BUNDLE, setup.bundle]
    : [join(ROOT_DIR, 'bin', 'gatehouse.js')];
  const proc = new Managed('gatehouse', process.execPath, [
    ...(setup.nodeFlags ?? []),
    ...entry,
    'start',
    '-c',
    config,
  ]);
  const base = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor200(`${base}/readyz`, proc, readyTimeoutMs, 50);
  } catch (err) {
    await stop();
    throw err;
  }
  return { proc, base, dir, stateDb: join(dir, 'state.db'), servers: serverNames(setup), stop };
}
