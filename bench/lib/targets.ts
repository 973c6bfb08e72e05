// The cases under test. Each target starts its server process(es) fresh for every row and
// hands back a client transport to the MCP endpoint plus the pid whose memory is reported.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  StreamableHTTPClientTransport,
  type CallToolResult,
  type Client,
  type Transport,
} from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import Database from 'better-sqlite3';
import { Managed, ROOT_DIR, freePort, sleep, waitForHttp } from './proc.js';

export type Era = 'modern' | 'legacy';

export interface BenchPaths {
  /** Compiled stdio echo server (JS). */
  echoServer: string;
  /** Compiled floor server (JS). */
  floorServer: string;
}

export interface Running {
  transport: Transport;
  /** The process whose peak RSS is reported as "server"; read after connect. */
  serverPid: () => number | undefined;
  /** Processes of the case other than the server and its children (an HTTP upstream), for the CPU split. */
  extraPids?: number[];
  /** What the row actually ran, for the report. */
  detail: string;
  stop: () => Promise<void>;
  /**
   * Checks, after the echo probe and before any timing, that the case is set up as described
   * (for Gatehouse: whether a policy is in force). Throws if not; returns what it established.
   */
  verify?: (client: Client) => Promise<string>;
  /**
   * Checks, after the timed calls and before the processes stop, what the run must have left
   * behind (for Gatehouse with audit on: one audit record per echo call). Told how many echo calls
   * the client sent and saw answered; throws if the check fails, returns what it established.
   */
  verifyAfter?: (echo: { answered: number; sent: number }) => Promise<string>;
}

export interface StartOptions {
  /** Run Gatehouse under `node --cpu-prof --cpu-prof-dir DIR` (profiles are written when it exits). */
  cpuProfDir?: string;
}

/** Thrown when a target cannot be started at all (reported as "unavailable", not "failed"). */
export class Unavailable extends Error {}

export interface Target {
  id: string;
  /** The letter used by `--only` (a: direct, b: floor, c: Gatehouse, d: third-party proxies). */
  group: 'a' | 'b' | 'c' | 'd';
  eras: Era[];
  /** Left out of the default run and of `--only <group>`; runs only when named in `--only`. */
  optional?: boolean;
  summary: string;
  start: (era: Era, paths: BenchPaths, live: Set<Managed>, options: StartOptions) => Promise<Running>;
}

const STARTUP_TIMEOUT_MS = 30_000;

/** The `bin` entry of an installed package, as an absolute path. */
function packageBin(pkg: string, bin: string): { path: string; version: string } {
  const dir = join(ROOT_DIR, 'node_modules', pkg);
  let manifest: { version?: string; bin?: string | Record<string, string> };
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof manifest;
  } catch {
    throw new Unavailable(`${pkg} is not installed (npm install)`);
  }
  const rel = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[bin];
  if (!rel) throw new Unavailable(`${pkg} has no bin ${bin}`);
  return { path: join(dir, rel), version: manifest.version ?? '?' };
}

export function packageVersion(pkg: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(ROOT_DIR, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return manifest.version;
  } catch {
    return undefined;
  }
}

async function launchHttp(
  live: Set<Managed>,
  name: string,
  args: string[],
  url: string,
  readyUrl: string,
  accept: (status: number) => boolean,
  detail: string,
): Promise<Running> {
  const proc = new Managed(name, process.execPath, args);
  live.add(proc);
  const stop = async (): Promise<void> => {
    await proc.stop();
    live.delete(proc);
  };
  try {
    await waitForHttp(readyUrl, proc, STARTUP_TIMEOUT_MS, accept);
  } catch (err) {
    await stop();
    throw err;
  }
  return { transport: new StreamableHTTPClientTransport(new URL(url)), serverPid: () => proc.pid, detail, stop };
}

const stdioDirect: Target = {
  id: 'stdio-direct',
  group: 'a',
  eras: ['modern', 'legacy'],
  summary: 'SDK client → stdio echo server (no HTTP, no relay)',
  start: async (_era, paths) => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [paths.echoServer], stderr: 'pipe' });
    return {
      transport,
      serverPid: () => transport.pid ?? undefined,
      detail: `node ${rel(paths.echoServer)} over stdio`,
      stop: async () => {},
    };
  },
};

const floor: Target = {
  id: 'floor',
  group: 'b',
  eras: ['modern', 'legacy'],
  summary: 'SDK createMcpHandler + toNodeHandler on node:http, answering echo in-process',
  start: async (_era, paths, live) => {
    const proc = new Managed('floor', process.execPath, [paths.floorServer, '0']);
    live.add(proc);
    const stop = async (): Promise<void> => {
      await proc.stop();
      live.delete(proc);
    };
    let port: number;
    try {
      const m = await proc.waitForLine(/^LISTENING (\d+)/, STARTUP_TIMEOUT_MS);
      port = Number(m[1]);
    } catch (err) {
      await stop();
      throw err;
    }
    return {
      transport: new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)),
      serverPid: () => proc.pid,
      detail: `node ${rel(paths.floorServer)} (createMcpHandler, legacy: 'stateless' default)`,
      stop,
    };
  },
};

/** The policy of the `gatehouse-policy` cases: `echo` is limited far above what a run can reach. */
export const BENCH_POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    echo: { limits: [{ max: 100_000_000, window: 'minute' }] },
    // for the pre-timing checks only: the second call within the hour must be refused
    probe_limited: { limits: [{ max: 1, window: 'hour' }] },
  },
} as const;

function expectText(result: CallToolResult, what: string, check: (text: string) => boolean): string {
  const first = result.content?.[0];
  const text = first?.type === 'text' ? first.text : undefined;
  if (text === undefined || !check(text)) {
    throw new Error(`pre-timing check: ${what}, got ${JSON.stringify(result).slice(0, 300)}`);
  }
  return text;
}

/**
 * The Gatehouse cases. `plain`: no policy, memory state, no audit. `policy`: the bench policy,
 * SQLite state, pins on, no audit. `audit`: the same with the audit log on (SQLite sink in the
 * state file, default redaction). `audit-http`: `audit` with a Streamable HTTP upstream (the floor
 * server with the probe tools) instead of the stdio echo server.
 */
export type GatehouseVariant = 'plain' | 'policy' | 'audit' | 'audit-http';

const GATEHOUSE_IDS: Record<GatehouseVariant, string> = {
  plain: 'gatehouse',
  policy: 'gatehouse-policy',
  audit: 'gatehouse-audit',
  'audit-http': 'gatehouse-audit-http',
};

const GATEHOUSE_SUMMARIES: Record<GatehouseVariant, string> = {
  plain: 'Gatehouse (separate process) → stdio echo upstream, no policy, memory state, audit none',
  policy:
    'Gatehouse (separate process) → stdio echo upstream, default-deny policy with a limit on echo, SQLite state, pins on, audit none',
  audit:
    'Gatehouse (separate process) → stdio echo upstream, default-deny policy with a limit on echo, SQLite state, pins on, audit on (SQLite sink, default redaction)',
  'audit-http':
    'Gatehouse (separate process) → Streamable HTTP echo upstream (the floor server), default-deny policy with a limit on echo, SQLite state, pins on, audit on (SQLite sink, default redaction)',
};

/**
 * The gateway's entry point: what users run (`bin/gatehouse.js`, the bundled build) when it is
 * built, else the compiled modules, else the sources under tsx. A profiled run uses the compiled
 * modules, so that its profile names the file of each function.
 */
export function gatehouseEntry(profiling = false): { args: string[]; how: string } {
  const bundle = join(ROOT_DIR, 'dist', 'bundle', 'gatehouse.js');
  const dist = join(ROOT_DIR, 'dist', 'cli', 'main.js');
  const src = join(ROOT_DIR, 'src', 'cli', 'main.ts');
  if (!profiling && existsSync(bundle))
    return { args: [join(ROOT_DIR, 'bin', 'gatehouse.js')], how: 'node bin/gatehouse.js (the bundled build)' };
  if (existsSync(dist)) return { args: [dist], how: 'node dist/cli/main.js' };
  if (existsSync(src)) return { args: ['--import', 'tsx', src], how: 'node --import tsx src/cli/main.ts' };
  throw new Unavailable('neither dist/cli/main.js nor src/cli/main.ts exists');
}

/** Audit records of successful `echo` calls in an SQLite audit file (read on a connection of its own). */
export function countAuditedEchoCalls(file: string): { records: number; withArguments: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare(
        "SELECT count(*) AS records, sum(json_extract(record, '$.arguments.message') IS NOT NULL) AS withArguments FROM audit WHERE tool = 'echo' AND decision = 'allow'",
      )
      .get() as { records: number; withArguments: number | null };
    return { records: row.records, withArguments: row.withArguments ?? 0 };
  } finally {
    db.close();
  }
}

function gatehouseTarget(variant: GatehouseVariant): Target {
  const withPolicy = variant !== 'plain';
  const withAudit = variant === 'audit' || variant === 'audit-http';
  const httpUpstream = variant === 'audit-http';
  return {
    id: GATEHOUSE_IDS[variant],
    group: 'c',
    eras: ['modern', 'legacy'],
    summary: GATEHOUSE_SUMMARIES[variant],
    start: async (_era, paths, live, options) => {
      const { args: entry, how } = gatehouseEntry(options.cpuProfDir !== undefined);
      const nodeFlags = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [];
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
      const config = join(dir, 'gatehouse.json');
      const stateDb = join(dir, 'state.db');
      // Every variant runs the upstream with the probe tools, so that the checks below can show
      // whether a policy is in force; the timed calls only ever use `echo`.
      let upstream: Record<string, unknown>;
      let upstreamProc: Managed | undefined;
      const stopUpstream = async (): Promise<void> => {
        if (!upstreamProc) return;
        await upstreamProc.stop();
        live.delete(upstreamProc);
      };
      if (httpUpstream) {
        upstreamProc = new Managed('http upstream', process.execPath, [paths.floorServer, '0', '--probe-tools']);
        live.add(upstreamProc);
        try {
          const m = await upstreamProc.waitForLine(/^LISTENING (\d+)/, STARTUP_TIMEOUT_MS);
          upstream = { url: `http://127.0.0.1:${m[1]}/mcp` };
        } catch (err) {
          await stopUpstream();
          rmSync(dir, { recursive: true, force: true });
          throw new Unavailable(
            `the HTTP upstream did not come up: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      } else upstream = { command: process.execPath, args: [paths.echoServer, '--probe-tools'] };
      writeFileSync(
        config,
        `${JSON.stringify(
          {
            listen: { host: '127.0.0.1', port },
            state: withPolicy ? `sqlite:${stateDb}` : 'memory:',
            audit: withAudit ? `sqlite:${stateDb}` : 'none',
            auth: { mode: 'none' },
            servers: { echo: withPolicy ? { ...upstream, policy: BENCH_POLICY } : upstream },
          },
          null,
          2,
        )}\n`,
      );
      const base = `http://127.0.0.1:${port}`;
      const state = withPolicy ? 'policy, state sqlite:<tmp>/state.db' : 'no policy, state memory:';
      const audit = withAudit ? 'audit sqlite:<tmp>/state.db' : 'audit none';
      const up = httpUpstream ? ', upstream http://127.0.0.1:<port>/mcp (floor-server.js --probe-tools)' : '';
      let running: Running;
      try {
        running = await launchHttp(
          live,
          'gatehouse',
          [...nodeFlags, ...entry, 'start', '-c', config],
          `${base}/mcp/echo`,
          `${base}/readyz`,
          (status) => status === 200,
          `${nodeFlags.length ? 'node --cpu-prof … ' : 'node '}${how.slice('node '.length)} start -c <tmp json> (${state}, ${audit}${up})`,
        );
        if (upstreamProc) running.extraPids = [upstreamProc.pid];
      } catch (err) {
        await stopUpstream();
        rmSync(dir, { recursive: true, force: true });
        const message = err instanceof Error ? err.message : String(err);
        throw new Unavailable(`gateway did not come up: ${message}`);
      }
      const stop = running.stop;
      const timeout = { timeout: 10_000 };
      const verify = async (client: Client): Promise<string> => {
        const call = (name: string, message: string): Promise<CallToolResult> =>
          client.callTool({ name, arguments: { message } }, timeout) as Promise<CallToolResult>;
        if (!withPolicy) {
          // Without a policy the gateway forwards anything the upstream has.
          expectText(
            await call('probe_denied', 'unpoliced'),
            'probe_denied forwarded unchanged',
            (t) => t === 'unpoliced',
          );
          return 'no policy in force: probe_denied was forwarded and answered';
        }
        expectText(await call('probe_denied', 'x'), 'probe_denied (not in the policy) → [POLICY DENIED]', (t) =>
          t.startsWith('[POLICY DENIED]'),
        );
        expectText(await call('probe_limited', 'first'), 'first probe_limited call allowed', (t) => t === 'first');
        expectText(
          await call('probe_limited', 'second'),
          'second probe_limited call (max 1 per hour) → [RATE LIMITED]',
          (t) => t.startsWith('[RATE LIMITED]'),
        );
        if (!existsSync(stateDb)) throw new Error(`pre-timing check: the SQLite state file ${stateDb} was not created`);
        return 'probe_denied → [POLICY DENIED]; 2nd probe_limited → [RATE LIMITED]; SQLite state file created';
      };
      // After the run: every echo call the client made must be in the audit log, arguments included.
      const verifyAfter = withAudit
        ? async (echo: { answered: number; sent: number }): Promise<string> => {
            const deadline = Date.now() + 10_000;
            let seen = countAuditedEchoCalls(stateDb);
            // The gateway writes its audit batches every 50 ms, off the call path.
            while (seen.records < echo.answered && Date.now() < deadline) {
              await sleep(100);
              seen = countAuditedEchoCalls(stateDb);
            }
            // A call the client gave up on may or may not have reached the gateway.
            const ok = (n: number): boolean => n >= echo.answered && n <= echo.sent;
            if (!ok(seen.records) || !ok(seen.withArguments))
              throw new Error(
                `after the run: the audit log holds ${seen.records} allowed echo records (${seen.withArguments} with their message) for ${echo.answered} echo calls answered of ${echo.sent} sent`,
              );
            return `after the run, the audit log holds ${seen.records} allowed echo records, each with its message, for ${echo.answered} echo calls answered`;
          }
        : undefined;
      return {
        ...running,
        verify,
        ...(verifyAfter ? { verifyAfter } : {}),
        stop: async () => {
          await stop();
          await stopUpstream();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

const mcpProxy: Target = {
  id: 'mcp-proxy',
  group: 'd',
  eras: ['legacy', 'modern'],
  summary: 'mcp-proxy (npm) Streamable HTTP endpoint → stdio echo upstream',
  start: async (_era, paths, live) => {
    const bin = packageBin('mcp-proxy', 'mcp-proxy');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const flags = ['--host', '127.0.0.1', '--port', String(port), '--server', 'stream'];
    return launchHttp(
      live,
      'mcp-proxy',
      [bin.path, ...flags, '--', process.execPath, paths.echoServer],
      `${base}/mcp`,
      `${base}/ping`,
      (status) => status === 200,
      `mcp-proxy ${bin.version} ${flags.join(' ').replace(String(port), '<port>')} -- node echo-server.js`,
    );
  },
};

function supergatewayTarget(stateful: boolean): Target {
  return {
    id: stateful ? 'supergateway' : 'supergateway-stateless',
    group: 'd',
    eras: stateful ? ['legacy', 'modern'] : ['legacy'],
    // one process spawn per request: slow enough to double the run time, so only on request
    optional: !stateful,
    summary: stateful
      ? 'supergateway (npm) --stateful Streamable HTTP endpoint → stdio echo upstream'
      : 'supergateway (npm) default stateless Streamable HTTP endpoint (one upstream process per request)',
    start: async (_era, paths, live) => {
      const bin = packageBin('supergateway', 'supergateway');
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const flags = [
        '--outputTransport',
        'streamableHttp',
        '--port',
        String(port),
        ...(stateful ? ['--stateful'] : []),
        '--logLevel',
        'none',
        '--healthEndpoint',
        '/healthz',
      ];
      // --stdio is a shell command line
      const stdioCmd = [process.execPath, paths.echoServer].map((s) => JSON.stringify(s)).join(' ');
      return launchHttp(
        live,
        'supergateway',
        [bin.path, '--stdio', stdioCmd, ...flags],
        `${base}/mcp`,
        `${base}/healthz`,
        (status) => status === 200,
        `supergateway ${bin.version} --stdio "node echo-server.js" ${flags.join(' ').replace(String(port), '<port>')}`,
      );
    },
  };
}

function rel(path: string): string {
  return path.startsWith(`${ROOT_DIR}/`) ? path.slice(ROOT_DIR.length + 1) : path;
}

export const TARGETS: Target[] = [
  stdioDirect,
  floor,
  gatehouseTarget('plain'),
  gatehouseTarget('policy'),
  gatehouseTarget('audit'),
  gatehouseTarget('audit-http'),
  mcpProxy,
  supergatewayTarget(true),
  supergatewayTarget(false),
];
