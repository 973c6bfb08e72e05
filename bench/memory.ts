// Memory benchmark: resident memory (VmRSS from /proc/<pid>/status) of the gateway process alone,
// its upstream children excluded.
//
//   npm run bench:memory -- [--sessions 1000] [--servers 10] [--settle-seconds 5] [--live-heap]
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
//    With `--live-heap`, a second gateway does the same between two heap snapshots, whose summed
//    node sizes are the live JS heap: what the sessions keep, apart from the heap V8 grew meanwhile.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    // Also measure the live JS heap the sessions keep, from heap snapshots of a gateway of its own.
    'live-heap': { type: 'boolean', default: false },
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

/** A few sessions opened, used and closed, so that what follows measures what more sessions add. */
async function warmUp(url: string): Promise<void> {
  const warm: LegacySession[] = [];
  for (let i = 0; i < 5; i++) warm.push(await openLegacySession(url));
  for (const s of warm) await echo(s, 'warm');
  for (const s of warm) await closeLegacySession(s);
}

/** Opens `count` legacy sessions, each listing tools and making one call; 16 at a time. */
async function openSessions(url: string, count: number): Promise<LegacySession[]> {
  const open: LegacySession[] = [];
  // 16 at a time: fast, without making a burst of 1,000 connections the thing measured.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        const s = await openLegacySession(url);
        await request(s, 'tools/list', {});
        await echo(s, `session ${i}`);
        open.push(s);
      }
    }),
  );
  return open;
}

/**
 * The live JS heap (every object a full collection keeps) of a gateway before and after the
 * sessions are opened, from two heap snapshots it writes on SIGUSR2: what the sessions themselves
 * keep, apart from the heap V8 grows while they are opened and the memory outside the JS heap that
 * the VmRSS difference also counts. A gateway of its own, as writing a snapshot grows VmRSS.
 */
async function liveHeapPerSession(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-heap-'));
  running = await startGatewayProcess({
    stdioServers: 1,
    policy: true,
    audit: true,
    limits: { max_sessions_per_grant: sessions + 10 },
    nodeFlags: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`],
  });
  try {
    const url = `${running.base}/mcp/echo`;
    await warmUp(url);
    const pid = running.proc.pid;
    const before = await liveHeapBytes(pid, dir);
    const open = await openSessions(url, sessions);
    const after = await liveHeapBytes(pid, dir);
    return `  live JS heap (heap snapshots, a gateway of its own): ${(before / 2 ** 20).toFixed(1)} MiB before the sessions, ${(after / 2 ** 20).toFixed(1)} MiB with ${open.length} open; ${((after - before) / 1024 / open.length).toFixed(1)} KiB each`;
  } finally {
    await running.stop();
    running = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Has the gateway write a heap snapshot into `dir` and sums the self sizes of every node in it. */
async function liveHeapBytes(pid: number, dir: string): Promise<number> {
  const known = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let file: string | undefined;
  let size = -1;
  // Written in one go after a full collection: done once the file has stopped growing.
  for (let waited = 0; waited < 120_000; waited += 500) {
    await sleep(500);
    file ??= readdirSync(dir).find((f) => !known.has(f));
    if (!file) continue;
    const now = statSync(join(dir, file)).size;
    if (now > 0 && now === size) break;
    size = now;
  }
  if (!file) throw new Error('the gateway wrote no heap snapshot');
  const snapshot = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    snapshot: { meta: { node_fields: string[] } };
    nodes: number[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  let total = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i]!;
  return total;
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
  await warmUp(url);
  await sleep(settleMs);
  const before = await steadyRss(running.proc.pid);
  const t0 = Date.now();
  const open = await openSessions(url, sessions);
  const openSeconds = (Date.now() - t0) / 1000;
  await sleep(settleMs);
  const held = await steadyRss(running.proc.pid);
  const heldHeap = await heapFigures(running.base);
  // Every session is still usable at the end.
  let alive = 0;
  for (const s of open.filter((_, i) => i % 100 === 0)) if ((await echo(s, 'still here')) === 'still here') alive++;
  lines.push(
    `${open.length} open legacy sessions (Streamable HTTP, 1 stdio upstream; opened in ${openSeconds.toFixed(1)} s, each listed tools and made one echo call): gateway VmRSS median ${mb(held.median)}, max ${(held.max / MIB_PER_MB).toFixed(1)} MB; goal < ${SESSIONS_GOAL_MB} MB: ${held.median / MIB_PER_MB < SESSIONS_GOAL_MB ? 'met' : 'not met'}`,
    `  before the sessions (warm, idle): ${mb(before.median)}; the sessions added ${(held.median - before.median).toFixed(1)} MiB, ${(((held.median - before.median) * 1024) / open.length).toFixed(1)} KiB each; ${alive} of ${Math.ceil(open.length / 100)} sampled sessions still answered at the end`,
    `  with the sessions open, from the gateway's own /metrics: ${heldHeap}`,
  );
  await running.stop();
  running = undefined;
  if (values['live-heap']) lines.push(await liveHeapPerSession());

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
