// Scaling benchmark: Gatehouse's throughput with 1, 10 and 100 concurrent sessions beside the
// floor's, and what each additional configured server costs; draws bench/scaling.svg and .png.
//
//   npm run bench:scaling -- [--sessions 1,10,100] [--seconds 8] [--servers 1,10,25,50] [--out bench/scaling]
//
// Sessions: N SDK clients (one session each), every one making `echo` calls one after another for
// `--seconds`, in two interleaved rounds per case (floor, Gatehouse, floor, Gatehouse). Gatehouse
// runs the whole pipeline: the bench policy, SQLite state, pins and the SQLite audit log, with the
// stdio echo upstream. Servers: a gateway configured with K stdio echo servers (same pipeline on
// each) is started; reported are the time to /readyz (every upstream started), the gateway's own
// VmRSS once idle, and the calls/s on one of its servers with 8 calls in flight for 5 s.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { loadText, machineLine, median, rssMiB } from './lib/machine.js';
import { BENCH_DIR, Managed, compileBenchServers, runMain, sleep, stopOnExit } from './lib/proc.js';
import { startGatewayProcess, type GatewayProcess } from './lib/gateway-proc.js';
import { renderSvg, writeChart, type Panel } from './lib/chart.js';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1,10,100' },
    seconds: { type: 'string', default: '8' },
    servers: { type: 'string', default: '1,10,25,50' },
    out: { type: 'string', default: join(BENCH_DIR, 'scaling') },
  },
});
const sessionCounts = values.sessions.split(',').map(Number);
const seconds = Number(values.seconds);
const serverCounts = values.servers.split(',').map(Number);

process.removeAllListeners('warning');
process.on('warning', () => {});

const live = new Set<Managed>();
stopOnExit(() => live);

type Era = 'legacy' | 'modern';
interface Load {
  callsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

async function connect(url: string, era: Era): Promise<Client> {
  const client = new Client(
    { name: 'gatehouse-bench', version: '0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)), { timeout: 30_000 });
  return client;
}

/** Every client calls `echo` one call after another (`inFlight` loops each) for `ms`. */
async function drive(clients: Client[], ms: number, inFlight = 1): Promise<Load & { latencies: number[]; ok: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    clients.flatMap((client, c) =>
      Array.from({ length: inFlight }, async (_, w) => {
        let i = 0;
        while (performance.now() < end) {
          const message = `c${c}w${w}-${i++}`;
          const t = performance.now();
          try {
            const r = await client.callTool({ name: 'echo', arguments: { message } }, { timeout: 30_000 });
            const first = r.content?.[0];
            if (first?.type === 'text' && first.text === message) latencies.push(performance.now() - t);
            else errors++;
          } catch {
            errors++;
          }
        }
      }),
    ),
  );
  const wall = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  const pct = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] ?? NaN;
  return {
    callsPerSec: (latencies.length / wall) * 1000,
    p50: pct(0.5),
    p99: pct(0.99),
    errors,
    latencies,
    ok: latencies.length,
  };
}

async function startFloor(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { floorServer } = compileBenchServers();
  const proc = new Managed('floor', process.execPath, [floorServer, '0']);
  live.add(proc);
  const m = await proc.waitForLine(/^LISTENING (\d+)/, 30_000);
  return {
    url: `http://127.0.0.1:${m[1]}/mcp`,
    stop: async () => {
      await proc.stop();
      live.delete(proc);
    },
  };
}

interface SessionRow {
  target: 'floor' | 'gatehouse';
  era: Era;
  sessions: number;
  load: Load;
}

async function sessionsPart(): Promise<SessionRow[]> {
  const rows: SessionRow[] = [];
  const floor = await startFloor();
  let gateway: GatewayProcess | undefined = await startGatewayProcess({
    stdioServers: 1,
    policy: true,
    audit: true,
    // Without auth every client is the same anonymous principal: modern clients share its in-flight
    // allowance (default 64), so it is raised for 100 clients each with a call in flight.
    limits: { max_sessions_per_grant: 1000, max_inflight_per_session: 1000 },
  });
  live.add(gateway.proc);
  const urls = { floor: floor.url, gatehouse: `${gateway.base}/mcp/echo` };
  try {
    for (const era of ['legacy', 'modern'] as const) {
      for (const n of sessionCounts) {
        const clients = {
          floor: await Promise.all(Array.from({ length: n }, () => connect(urls.floor, era))),
          gatehouse: await Promise.all(Array.from({ length: n }, () => connect(urls.gatehouse, era))),
        };
        await drive(clients.floor, 1000);
        await drive(clients.gatehouse, 1000);
        const acc = {
          floor: [] as Awaited<ReturnType<typeof drive>>[],
          gatehouse: [] as Awaited<ReturnType<typeof drive>>[],
        };
        for (let round = 0; round < 2; round++)
          for (const target of round === 0 ? (['floor', 'gatehouse'] as const) : (['gatehouse', 'floor'] as const)) {
            acc[target].push(await drive(clients[target], (seconds * 1000) / 2));
            await sleep(200);
          }
        for (const target of ['floor', 'gatehouse'] as const) {
          const runs = acc[target];
          const lat = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
          const pct = (q: number): number => lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)] ?? NaN;
          const load = {
            callsPerSec: median(runs.map((r) => r.callsPerSec)),
            p50: pct(0.5),
            p99: pct(0.99),
            errors: runs.reduce((s, r) => s + r.errors, 0),
          };
          rows.push({ target, era, sessions: n, load });
          process.stderr.write(
            `${target} ${era} ${n} sessions: ${load.callsPerSec.toFixed(0)} calls/s, p99 ${load.p99.toFixed(1)} ms\n`,
          );
        }
        for (const c of [...clients.floor, ...clients.gatehouse]) await c.close().catch(() => {});
      }
    }
  } finally {
    await floor.stop();
    await gateway.stop();
    live.delete(gateway.proc);
    gateway = undefined;
  }
  return rows;
}

interface ServerRow {
  servers: number;
  readyMs: number;
  rssMiB: number;
  callsPerSec: number;
}

async function serversPart(): Promise<ServerRow[]> {
  const rows: ServerRow[] = [];
  for (const k of serverCounts) {
    const t0 = performance.now();
    const g = await startGatewayProcess({ stdioServers: k, policy: true, audit: true }, 180_000);
    const readyMs = performance.now() - t0;
    live.add(g.proc);
    try {
      await sleep(3000);
      const rss: number[] = [];
      for (let i = 0; i < 6; i++) {
        rss.push(rssMiB(g.proc.pid) ?? NaN);
        await sleep(300);
      }
      const client = await connect(`${g.base}/mcp/echo`, 'legacy');
      await drive([client], 1000, 8);
      const load = await drive([client], 5000, 8);
      await client.close();
      rows.push({ servers: k, readyMs, rssMiB: median(rss), callsPerSec: load.callsPerSec });
      process.stderr.write(
        `${k} servers: ready ${readyMs.toFixed(0)} ms, RSS ${median(rss).toFixed(1)} MiB, ${load.callsPerSec.toFixed(0)} calls/s\n`,
      );
    } finally {
      await g.stop();
      live.delete(g.proc);
    }
  }
  return rows;
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? NaN : num / den;
}

async function main(): Promise<void> {
  const loadStart = loadText();
  const started = new Date();
  const sessions = await sessionsPart();
  const servers = await serversPart();
  const loadEnd = loadText();
  const colours = {
    'gatehouse legacy': '#1f6feb',
    'gatehouse modern': '#8250df',
    'floor legacy': '#d1242f',
    'floor modern': '#bf8700',
  };
  const panels: Panel[] = [
    {
      title: 'Throughput by concurrent sessions',
      xLabel: 'sessions (each one call at a time)',
      yLabel: 'calls/s',
      logX: true,
      series: (['gatehouse', 'floor'] as const).flatMap((target) =>
        (['legacy', 'modern'] as const).map((era) => ({
          name: `${target} ${era}`,
          colour: colours[`${target} ${era}`],
          dashed: target === 'floor',
          points: sessions
            .filter((r) => r.target === target && r.era === era)
            .map((r): [number, number] => [r.sessions, r.load.callsPerSec]),
        })),
      ),
    },
    {
      title: 'Gateway memory by configured servers',
      xLabel: 'configured stdio servers',
      yLabel: 'gateway VmRSS, MiB (idle)',
      series: [{ name: 'gateway process alone', colour: '#1f6feb', points: servers.map((r) => [r.servers, r.rssMiB]) }],
    },
    {
      title: 'Throughput by configured servers',
      xLabel: 'configured stdio servers',
      yLabel: 'calls/s on one server (8 in flight)',
      series: [{ name: 'gatehouse legacy', colour: '#1f6feb', points: servers.map((r) => [r.servers, r.callsPerSec]) }],
    },
  ];
  const caption = `Gatehouse with policy, SQLite state, pins and SQLite audit; ${started.toISOString().slice(0, 16)}Z; ${machineLine()}; load ${loadStart} → ${loadEnd}`;
  await writeChart(renderSvg(panels, caption), `${values.out}.svg`, `${values.out}.png`);

  const rssSlope = slope(servers.map((r) => [r.servers, r.rssMiB]));
  const readySlope = slope(servers.map((r) => [r.servers, r.readyMs]));
  const lines = [
    `Scaling: date ${started.toISOString()}; ${machineLine()}; load average ${loadStart} before, ${loadEnd} after`,
    '',
    '| era | sessions | floor calls/s | gatehouse calls/s | gatehouse ÷ floor | floor p99 ms | gatehouse p99 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...(['legacy', 'modern'] as const).flatMap((era) =>
      sessionCounts.map((n) => {
        const f = sessions.find((r) => r.target === 'floor' && r.era === era && r.sessions === n)!.load;
        const g = sessions.find((r) => r.target === 'gatehouse' && r.era === era && r.sessions === n)!.load;
        return `| ${era} | ${n} | ${f.callsPerSec.toFixed(0)} | ${g.callsPerSec.toFixed(0)} | ${(g.callsPerSec / f.callsPerSec).toFixed(2)}× | ${f.p99.toFixed(1)} | ${g.p99.toFixed(1)} |${f.errors + g.errors ? ` ${f.errors + g.errors} errors` : ''}`;
      }),
    ),
    '',
    '| configured servers | time to /readyz ms | gateway VmRSS MiB (idle) | calls/s on one server |',
    '| ---: | ---: | ---: | ---: |',
    ...servers.map(
      (r) => `| ${r.servers} | ${r.readyMs.toFixed(0)} | ${r.rssMiB.toFixed(1)} | ${r.callsPerSec.toFixed(0)} |`,
    ),
    '',
    `Per additional configured server (least-squares slope): ${(rssSlope * 1024).toFixed(0)} KiB of gateway memory, ${readySlope.toFixed(0)} ms to /readyz.`,
    `Chart: ${values.out}.png`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

runMain('bench:scaling', main);
