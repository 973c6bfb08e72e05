// What the upstream's era costs a legacy client's calls, one at a time: two gateways with the whole
// pipeline on (the bench policy with a limit, SQLite state, pins, the SQLite audit log), each in front
// of the stdio echo server, which speaks both eras. One leaves the server's era on `auto`, so it is
// found modern and every call reaches it as a 2026-07-28 request with its envelope; the other pins
// `era: legacy`, so calls reach it as 2025 requests in the session the gateway opened.
//
//   npx tsx bench/era-pin.ts [--rounds 8] [--calls 500]
//
// One raw legacy client per gateway (bench/lib/raw-mcp.ts) makes `--calls` sequential `echo` calls
// on each gateway in turn, `--rounds` times, alternating which goes first. Reported per gateway:
// calls/s over the timed calls, and CPU per call of the gateway and of its upstream child
// (/proc/<pid>/task/*/schedstat), then the ratio of the two throughputs.
import { parseArgs } from 'node:util';
import { loadText, machineLine } from './lib/machine.js';
import { childrenCpuNs, cpuNs, runMain, stopOnExit } from './lib/proc.js';
import { startGatewayProcess, type GatewayProcess } from './lib/gateway-proc.js';
import { echo, openLegacySession, type LegacySession } from './lib/raw-mcp.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    calls: { type: 'string', default: '500' },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);

interface Side {
  name: string;
  gateway: GatewayProcess;
  session: LegacySession;
  calls: number;
  ms: number;
  gatewayNs: number;
  upstreamNs: number;
}

const running: GatewayProcess[] = [];
stopOnExit(() => running.map((g) => g.proc));

async function side(name: string, stdioEra: 'legacy' | undefined): Promise<Side> {
  const gateway = await startGatewayProcess({
    stdioServers: 1,
    policy: true,
    audit: true,
    ...(stdioEra ? { stdioEra } : {}),
  });
  running.push(gateway);
  const session = await openLegacySession(`${gateway.base}/mcp/echo`);
  for (let i = 0; i < 300; i++) await echo(session, 'warm-up');
  return { name, gateway, session, calls: 0, ms: 0, gatewayNs: 0, upstreamNs: 0 };
}

async function main(): Promise<void> {
  const loadStart = loadText();
  const sides = [await side('era: auto (found modern)', undefined), await side('era: legacy (pinned)', 'legacy')];
  for (let round = 0; round < rounds; round++) {
    for (const s of round % 2 === 0 ? sides : [...sides].reverse()) {
      const pid = s.gateway.proc.pid;
      const cpu0 = cpuNs(pid) ?? 0;
      const up0 = childrenCpuNs(pid);
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) {
        const text = `call ${round}-${i}`;
        if ((await echo(s.session, text)) !== text) throw new Error(`${s.name}: echo did not answer "${text}"`);
      }
      s.ms += performance.now() - t0;
      s.calls += calls;
      s.gatewayNs += (cpuNs(pid) ?? 0) - cpu0;
      s.upstreamNs += childrenCpuNs(pid) - up0;
    }
  }
  const rate = (s: Side): number => (s.calls / s.ms) * 1000;
  console.log(`${machineLine()}; load average ${loadStart} at the start, ${loadText()} at the end`);
  for (const s of sides)
    console.log(
      `${s.name}: ${rate(s).toFixed(0)} calls/s, gateway ${(s.gatewayNs / s.calls / 1000).toFixed(0)} µs/call, upstream ${(s.upstreamNs / s.calls / 1000).toFixed(0)} µs/call (${s.calls} calls)`,
    );
  console.log(`pinned legacy ÷ auto, calls/s: ${(rate(sides[1]!) / rate(sides[0]!)).toFixed(3)}×`);
  for (const g of running) await g.stop();
}

runMain('bench/era-pin', main);
