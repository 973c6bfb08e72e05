// Start-up benchmark: wall time from spawning `node bin/gatehouse.js start -c <config>` to the
// first 200 from /healthz (listening and answering; the upstreams' own start is not waited for).
//
//   npm run bench:startup -- [--runs 10] [--servers 1]
//
// Each run is a fresh process on a fresh config (the bench policy, SQLite state, pins and the
// SQLite audit log on, `--servers` stdio echo upstreams). /healthz is polled every 2 ms on a new
// connection. For scale, the same number of runs of bare `node -e 0` to its exit is timed too,
// interleaved: what Node itself costs on this machine at this moment.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadText, machineLine, median } from './lib/machine.js';
import { Managed, ROOT_DIR, runMain, sleep, stopOnExit } from './lib/proc.js';
import { waitFor200, writeGatewayConfig } from './lib/gateway-proc.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    servers: { type: 'string', default: '1' },
  },
});
const runs = Number(values.runs);
const servers = Number(values.servers);
const GOAL_MS = 500;

const live = new Set<Managed>();
stopOnExit(() => live);

async function gatewayRun(): Promise<number> {
  const { dir, config, port } = await writeGatewayConfig({ stdioServers: servers, policy: true, audit: true });
  const t0 = performance.now();
  const proc = new Managed('gatehouse', process.execPath, [
    join(ROOT_DIR, 'bin', 'gatehouse.js'),
    'start',
    '-c',
    config,
  ]);
  live.add(proc);
  try {
    await waitFor200(`http://127.0.0.1:${port}/healthz`, proc, 30_000, 2);
    return performance.now() - t0;
  } finally {
    await proc.stop();
    live.delete(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

function bareNode(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(performance.now() - t0));
  });
}

async function main(): Promise<void> {
  const loadStart = loadText();
  const gateway: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < runs; i++) {
    node.push(await bareNode());
    gateway.push(await gatewayRun());
    process.stderr.write(
      `run ${i + 1}/${runs}: gateway ${gateway.at(-1)!.toFixed(0)} ms, bare node ${node.at(-1)!.toFixed(0)} ms\n`,
    );
    await sleep(200);
  }
  const fmt = (xs: number[]): string =>
    `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  const m = median(gateway);
  process.stdout.write(
    [
      `Start-up: node bin/gatehouse.js start → first /healthz 200, ${runs} runs, ${servers} stdio upstream(s), policy + SQLite state + pins + SQLite audit`,
      `date ${new Date().toISOString()}; ${machineLine()}; load average ${loadStart} before, ${loadText()} after`,
      `gateway:   ${fmt(gateway)}; goal < ${GOAL_MS} ms: ${m < GOAL_MS ? 'met' : 'not met'}`,
      `bare node: ${fmt(node)} (node -e 0, spawn to exit)`,
      `gateway − bare node (medians): ${(m - median(node)).toFixed(0)} ms`,
      `all runs (ms): ${gateway.map((x) => x.toFixed(0)).join(', ')}`,
      '',
    ].join('\n'),
  );
}

runMain('bench:startup', main);
