// Soak benchmark: mixed traffic through one gateway for a while, reporting the gateway's memory
// and the calls' latency over time, to show whether anything grows.
//
//   npm run bench:soak -- [--minutes 10] [--interval-seconds 30]
//
// The gateway runs the whole pipeline (the bench policy, SQLite state, pins, the SQLite audit log)
// in front of the stdio echo server. The traffic, all at once:
//   - 4 long-lived legacy sessions (SDK clients), each making `echo` calls one after another;
//   - 2 modern (2026-07-28) SDK clients, each making `echo` calls one after another;
//   - a short-lived legacy session every 250 ms (raw HTTP): initialize, tools/list, one `echo`,
//     one call the policy denies, DELETE;
//   - every 5 s, tools/list on each long-lived client.
// Every `--interval-seconds` a row: the gateway's VmRSS, calls/s, p50 and p99 of the echo calls in
// that interval, errors. At the end, the memory trend after the first interval (the warm-up).
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { loadText, machineLine, median, rssMiB } from './lib/machine.js';
import { runMain, sleep, stopOnExit } from './lib/proc.js';
import { startGatewayProcess, type GatewayProcess } from './lib/gateway-proc.js';
import { closeLegacySession, echo, openLegacySession, request } from './lib/raw-mcp.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'interval-seconds': { type: 'string', default: '30' },
  },
});
const durationMs = Number(values.minutes) * 60_000;
const intervalMs = Number(values['interval-seconds']) * 1000;

process.removeAllListeners('warning');
process.on('warning', () => {});

let gateway: GatewayProcess | undefined;
stopOnExit(() => (gateway ? [gateway.proc] : []));

interface Interval {
  latencies: number[];
  errors: number;
  denied: number;
  sessionsOpened: number;
  firstError?: string;
}
const fresh = (): Interval => ({ latencies: [], errors: 0, denied: 0, sessionsOpened: 0 });
let current = fresh();
const noteError = (err: unknown): void => {
  current.errors++;
  current.firstError ??= err instanceof Error ? err.message : String(err);
};

async function connect(url: string, modern: boolean): Promise<Client> {
  const client = new Client(
    { name: 'gatehouse-soak', version: '0' },
    modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)), { timeout: 30_000 });
  return client;
}

async function main(): Promise<void> {
  const loadStart = loadText();
  const started = new Date();
  gateway = await startGatewayProcess({
    stdioServers: 1,
    policy: true,
    audit: true,
    limits: { max_sessions_per_grant: 1000 },
  });
  const url = `${gateway.base}/mcp/echo`;
  const pid = gateway.proc.pid;
  const clients = [
    ...(await Promise.all(Array.from({ length: 4 }, () => connect(url, false)))),
    ...(await Promise.all(Array.from({ length: 2 }, () => connect(url, true)))),
  ];
  const end = performance.now() + durationMs;
  let echoCalls = 0;
  let deniedCalls = 0;
  const loops: Promise<void>[] = clients.map(async (client, c) => {
    let i = 0;
    let lastList = performance.now();
    while (performance.now() < end) {
      const message = `soak ${c} ${i++}`;
      const t = performance.now();
      try {
        echoCalls++;
        const r = await client.callTool({ name: 'echo', arguments: { message } }, { timeout: 30_000 });
        const first = r.content?.[0];
        if (first?.type === 'text' && first.text === message) current.latencies.push(performance.now() - t);
        else noteError(new Error(`echo answered ${JSON.stringify(r).slice(0, 120)}`));
        if (performance.now() - lastList > 5000) {
          lastList = performance.now();
          await client.listTools(undefined, { timeout: 30_000 });
        }
      } catch (err) {
        noteError(err);
      }
    }
  });
  loops.push(
    (async () => {
      let n = 0;
      while (performance.now() < end) {
        const tick = sleep(250);
        try {
          const s = await openLegacySession(url);
          current.sessionsOpened++;
          await request(s, 'tools/list', {});
          echoCalls++;
          await echo(s, `short ${n++}`);
          deniedCalls++;
          const text = await echo(s, 'nope', 'probe_denied');
          if (text.startsWith('[POLICY DENIED]')) current.denied++;
          else noteError(new Error(`probe_denied answered ${text.slice(0, 80)}`));
          await closeLegacySession(s);
        } catch (err) {
          noteError(err);
        }
        await tick;
      }
    })(),
  );
  const rows: string[] = [];
  const samples: Array<[number, number]> = [];
  const t0 = performance.now();
  const sampler = (async () => {
    let nextRow = t0 + intervalMs;
    while (performance.now() < end) {
      await sleep(5000);
      const rss = rssMiB(pid);
      if (rss !== undefined) samples.push([(performance.now() - t0) / 60_000, rss]);
      if (performance.now() >= nextRow || performance.now() >= end) {
        const iv = current;
        current = fresh();
        const lat = iv.latencies.sort((a, b) => a - b);
        const pct = (q: number): number => lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)] ?? NaN;
        const elapsed = (performance.now() - t0) / 1000;
        const span = (performance.now() - (nextRow - intervalMs)) / 1000;
        rows.push(
          `| ${(elapsed / 60).toFixed(1)} | ${rss?.toFixed(1) ?? '—'} | ${(lat.length / span).toFixed(0)} | ${pct(0.5).toFixed(1)} | ${pct(0.99).toFixed(1)} | ${iv.sessionsOpened} | ${iv.denied} | ${iv.errors}${iv.firstError ? ` (${iv.firstError.slice(0, 60)})` : ''} |`,
        );
        process.stderr.write(`${rows.at(-1)}\n`);
        nextRow += intervalMs;
      }
    }
  })();
  await Promise.all([...loops, sampler]);
  for (const c of clients) await c.close().catch(() => {});
  await sleep(1000);
  const audit = new Database(gateway.stateDb, { readonly: true });
  const audited = (audit.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
  audit.close();
  await gateway.stop();
  gateway = undefined;

  // The trend after the first interval (module warm-up, SQLite page cache, JIT).
  const warm = samples.filter(([m]) => m * 60_000 >= intervalMs);
  const third = Math.max(1, Math.floor(warm.length / 3));
  const early = median(warm.slice(0, third).map(([, r]) => r));
  const late = median(warm.slice(-third).map(([, r]) => r));
  const n = warm.length;
  const mx = warm.reduce((s, [x]) => s + x, 0) / n;
  const my = warm.reduce((s, [, y]) => s + y, 0) / n;
  const slope = warm.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / warm.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  process.stdout.write(
    [
      `Soak: ${values.minutes} min, rows every ${intervalMs / 1000} s; date ${started.toISOString()}; ${machineLine()}; load average ${loadStart} before, ${loadText()} after`,
      '',
      '| minute | gateway VmRSS MiB | echo calls/s | p50 ms | p99 ms | short sessions opened | denied calls | errors |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows,
      '',
      `Memory after the first interval: median ${early.toFixed(1)} MiB in the first third, ${late.toFixed(1)} MiB in the last third (${(late - early >= 0 ? '+' : '') + (late - early).toFixed(1)} MiB); least-squares slope ${slope.toFixed(2)} MiB/min over ${n} samples 5 s apart.`,
      `Calls made: ${echoCalls} echo, ${deniedCalls} denied; audit records in the log at the end: ${audited}.`,
      '',
    ].join('\n'),
  );
}

runMain('bench:soak', main);
