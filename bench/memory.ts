// Memory benchmark: resident memory (VmRSS from /proc/<pid>/status) of the gateway process alone,
// its upstream children excluded.
//
//   npm run bench:memory -- [--sessions 1000] [--servers 10] [--settle-seconds 5]
//                           [--node-flags="--lite-mode --max-semi-space-size=1" ...]
//
// 1. Idle with `--servers` stdio echo upstreams (goal: under 60 MB): the gateway is started with
//    the bench policy, SQLite state, pins and the SQLite audit log on every server, /readyz must
//    answer 200 (every upstream started), then after a settle time VmRSS is read 10 times, 0.5 s
//    apart; the median is reported, with the V8 heap from /metrics and the resident memory by
//    mapping (the node binary, anonymous memory, the C heap, each library).
// 2. With `--sessions` open legacy sessions over Streamable HTTP (goal: under 150 MB): the same
//    gateway, one stdio upstream; each session is opened (initialize, initialized), lists the tools
//    and makes one `echo` call, and stays open. VmRSS is read as above while they are all open.
import { parseArgs } from 'node:util';
import { loadText, machineLine, median, rssByMapping, rssMiB } from './lib/machine.js';
import { descendants, runMain, sleep, stopOnExit } from './lib/proc.js';
import { httpStatus, startGatewayProcess, type GatewayProcess } from './lib/gateway-proc.js';
import { closeLegacySession, echo, openLegacySession, request, type LegacySession } from './lib/raw-mcp.js';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    servers: { type: 'string', default: '10' },
    'settle-seconds': { type: 'string', default: '5' },
    'node-flags': { type: 'string', multiple: true, default: [] },
  },
});
const flagSets = (values['node-flags'] ?? []).map((f) => f.split(/\s+/).filter(Boolean));
const sessions = Number(values.sessions);
const servers = Number(values.servers);
const settleMs = Number(values['settle-seconds']) * 1000;
const IDLE_GOAL_MB = 60;
const SESSIONS_GOAL_MB = 150;
const MIB_PER_MB = 1e6 / 2 ** 20;

let running: GatewayProcess | undefined;
stopOnExit(() => (running ? [running.proc] : []));

/** Median of 10 VmRSS readings of the gateway, 0.5 s apart, in MiB. */
async function steadyRss(pid: number): Promise<{ median: number; max: number }> {
  const xs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const r = rssMiB(pid);
    if (r !== undefined) xs.push(r);
    await sleep(500);
  }
  return { median: median(xs), max: Math.max(...xs) };
}

const childrenRss = (pid: number): number => descendants(pid).reduce((sum, p) => sum + (rssMiB(p) ?? 0), 0);

/** The V8 heap and external memory as the gateway reports them on /metrics. */
async function heapFigures(base: string): Promise<string> {
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    const value = (name: string): number | undefined => {
      const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm'));
      return m ? Number(m[1]) / 2 ** 20 : undefined;
    };
    const parts = [
      ['V8 heap used', value('nodejs_heap_size_used_bytes')],
      ['V8 heap total', value('nodejs_heap_size_total_bytes')],
      ['external', value('nodejs_external_memory_bytes')],
    ].filter((p): p is [string, number] => p[1] !== undefined);
    return parts.length ? parts.map(([n, v]) => `${n} ${v.toFixed(1)} MiB`).join(', ') : 'not reported';
  } catch {
    return 'not reported';
  }
}

const mb = (mib: number): string => `${(mib / MIB_PER_MB).toFixed(1)} MB (${mib.toFixed(1)} MiB)`;

async function main(): Promise<void> {
  const lines: string[] = [];
  const loadStart = loadText();

  running = await startGatewayProcess({ stdioServers: servers, policy: true, audit: true });
  await sleep(settleMs);
  const idle = await steadyRss(running.proc.pid);
  const kids = descendants(running.proc.pid).length;
  const heap = await heapFigures(running.base);
  lines.push(
    `idle, ${servers} stdio upstreams: gateway VmRSS median ${mb(idle.median)}, max ${(idle.max / MIB_PER_MB).toFixed(1)} MB; goal < ${IDLE_GOAL_MB} MB: ${idle.median / MIB_PER_MB < IDLE_GOAL_MB ? 'met' : 'not met'} (children excluded: ${kids} processes, ${childrenRss(running.proc.pid).toFixed(0)} MiB together)`,
    `  of it, from the gateway's own /metrics: ${heap}`,
    `  of it, by mapping (/proc/<pid>/smaps): ${rssByMapping(running.proc.pid)
      .filter(([, mib]) => mib >= 0.5)
      .map(([m, mib]) => `${m} ${mib.toFixed(1)} MiB`)
      .join(', ')}`,
  );
  await running.stop();

  for (const nodeFlags of flagSets) {
    running = await startGatewayProcess({ stdioServers: servers, policy: true, audit: true, nodeFlags });
    await sleep(settleMs);
    const withFlags = await steadyRss(running.proc.pid);
    const ready = await httpStatus(`${running.base}/readyz`);
    lines.push(
      `idle, ${servers} stdio upstreams, node ${nodeFlags.join(' ')}: gateway VmRSS median ${mb(withFlags.median)} (${(withFlags.median - idle.median).toFixed(1)} MiB against no flags); /readyz ${ready}`,
    );
    await running.stop();
  }

  running = await startGatewayProcess({
    stdioServers: 1,
    policy: true,
    audit: true,
    limits: { max_sessions_per_grant: sessions + 10 },
  });
  const url = `${running.base}/mcp/echo`;
  // Warm the gateway with a few sessions first, so that the figure below is what the sessions add.
  const warm: LegacySession[] = [];
  for (let i = 0; i < 5; i++) warm.push(await openLegacySession(url));
  for (const s of warm) await echo(s, 'warm');
  for (const s of warm) await closeLegacySession(s);
  await sleep(settleMs);
  const before = await steadyRss(running.proc.pid);
  const open: LegacySession[] = [];
  const t0 = Date.now();
  // 16 at a time: fast, without making a burst of 1,000 connections the thing measured.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < sessions) {
        const i = next++;
        const s = await openLegacySession(url);
        await request(s, 'tools/list', {});
        await echo(s, `session ${i}`);
        open.push(s);
      }
    }),
  );
  const openSeconds = (Date.now() - t0) / 1000;
  await sleep(settleMs);
  const held = await steadyRss(running.proc.pid);
  // Every session is still usable at the end.
  let alive = 0;
  for (const s of open.filter((_, i) => i % 100 === 0)) if ((await echo(s, 'still here')) === 'still here') alive++;
  lines.push(
    `${open.length} open legacy sessions (Streamable HTTP, 1 stdio upstream; opened in ${openSeconds.toFixed(1)} s, each listed tools and made one echo call): gateway VmRSS median ${mb(held.median)}, max ${(held.max / MIB_PER_MB).toFixed(1)} MB; goal < ${SESSIONS_GOAL_MB} MB: ${held.median / MIB_PER_MB < SESSIONS_GOAL_MB ? 'met' : 'not met'}`,
    `  before the sessions (warm, idle): ${mb(before.median)}; the sessions added ${(held.median - before.median).toFixed(1)} MiB, ${(((held.median - before.median) * 1024) / open.length).toFixed(1)} KiB each; ${alive} of ${Math.ceil(open.length / 100)} sampled sessions still answered at the end`,
  );
  await running.stop();
  running = undefined;

  process.stdout.write(
    [
      `Memory: gateway process VmRSS (children excluded), policy + SQLite state + pins + SQLite audit on every server`,
      `date ${new Date().toISOString()}; ${machineLine()}; load average ${loadStart} before, ${loadText()} after`,
      ...lines,
      '',
    ].join('\n'),
  );
}

runMain('bench:memory', main);
