// Relay benchmark: echo tool calls through the SDK client, directly over stdio, against the
// SDK's minimal HTTP server (the floor), through Gatehouse, and through third-party proxies.
//
//   npm run bench -- [--calls 2000] [--concurrency 32] [--warmup 200] [--only a,b,c,d|<case>]
//                    [--rounds 4] [--cap-seconds 40] [--modes seq,conc] [--cpu-prof-dir DIR]
//                    [--out bench/RESULTS.md]
//
// See bench/README.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/client';
import { runChunk, summarize, type Chunk, type PhaseResult } from './lib/measure.js';
import {
  BENCH_DIR,
  compileBenchServers,
  childrenCpuNs,
  cpuNs,
  descendants,
  peakRssMiB,
  processLabel,
  runMain,
  sleep,
  stopOnExit,
  type Managed,
} from './lib/proc.js';
import { extractAnalysis, renderConsole, renderMarkdown, rowsJson, type Row } from './lib/report.js';
import { TARGETS, Unavailable, type BenchPaths, type Era, type Running, type Target } from './lib/targets.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '4' },
    only: { type: 'string' },
    'cap-seconds': { type: 'string', default: '40' },
    modes: { type: 'string', default: 'seq,conc' },
    'cpu-prof-dir': { type: 'string' },
    out: { type: 'string', default: join(BENCH_DIR, 'RESULTS.md') },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (values.help) {
  process.stdout.write(
    [
      'usage: npm run bench -- [options]',
      '  --calls N          calls per timed phase (default 2000)',
      '  --concurrency N    requests in flight in the concurrent phase (default 32)',
      '  --warmup N         untimed calls before timing, half sequential, half concurrent (default 200)',
      '  --only LIST        comma list of groups a,b,c,d and/or case ids:',
      `                     ${TARGETS.flatMap((t) => [t.id, ...t.eras.map((e) => `${t.id}-${e}`)]).join(', ')}`,
      `                     (${TARGETS.filter((t) => t.optional)
        .map((t) => t.id)
        .join(', ')} only run when named)`,
      '  --rounds N         interleave the cases in N rounds per mode (default 4; 1 = strictly one after another)',
      "  --cap-seconds N    stop a case's timed mode after N seconds even if calls remain (default 40)",
      '  --modes LIST       which timed modes to run: seq, conc or both (default seq,conc)',
      '  --cpu-prof-dir DIR run the Gatehouse processes under node --cpu-prof, writing profiles to DIR',
      '  --out FILE         results file (default bench/RESULTS.md)',
      '  --json FILE        also write the rows as JSON (for bench/median.ts over several runs)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

function positiveInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a positive integer (got ${raw})\n`);
    process.exit(2);
  }
  return n;
}

const calls = positiveInt('calls', values.calls);
const concurrency = positiveInt('concurrency', values.concurrency);
const warmup = values.warmup === '0' ? 0 : positiveInt('warmup', values.warmup);
const rounds = positiveInt('rounds', values.rounds);
const capMs = positiveInt('cap-seconds', values['cap-seconds']) * 1000;
const modes = (values.modes ?? '').split(',').map((m) => m.trim());
if (modes.length === 0 || modes.some((m) => m !== 'seq' && m !== 'conc')) {
  process.stderr.write(`--modes must list seq and/or conc (got ${values.modes})\n`);
  process.exit(2);
}
const cpuProfDir = values['cpu-prof-dir'] ? resolve(values['cpu-prof-dir']) : undefined;
if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
const CALL_TIMEOUT_MS = 30_000;
/** The warm-up (both halves) never takes longer than this. */
const WARMUP_CAP_MS = 10_000;
/** Per-mode time cap for a case the warm-up shows cannot finish within --cap-seconds. */
const SAMPLE_CAP_MS = 10_000;
/**
 * Pause between chunks so one case's stragglers (exiting processes) do not land on the next: at
 * least SETTLE_MS, and until the case's processes use under QUIET_SHARE of a core (at most
 * SETTLE_CAP_MS). A relay that spawns a process per request still has dozens starting when its
 * chunk at concurrency 32 ends.
 */
const SETTLE_MS = 200;
const QUIET_SHARE = 0.05;
const SETTLE_CAP_MS = 20_000;
const CONNECT_TIMEOUT_MS = 20_000;

/** Which (target, era) rows to run. */
function selectRows(only: string | undefined): Array<{ target: Target; era: Era }> {
  const all = TARGETS.flatMap((target) => target.eras.map((era) => ({ target, era })));
  if (!only) return all.filter(({ target }) => !target.optional);
  const tokens = only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const known = new Set<string>(['a', 'b', 'c', 'd']);
  for (const { target, era } of all) known.add(target.id).add(`${target.id}-${era}`);
  const unknown = tokens.filter((t) => !known.has(t));
  if (unknown.length > 0) {
    process.stderr.write(`unknown --only entries: ${unknown.join(', ')}; known: ${[...known].join(', ')}\n`);
    process.exit(2);
  }
  return all.filter(
    ({ target, era }) =>
      (tokens.includes(target.group) && !target.optional) ||
      tokens.includes(target.id) ||
      tokens.includes(`${target.id}-${era}`),
  );
}

const live = new Set<Managed>();
stopOnExit(() => live);

const log = (line: string): void => void process.stderr.write(`${line}\n`);

// Node prints every process warning; the legacy HTTP client trips MaxListenersExceededWarning
// once per call past undici's limit (see README). Print each kind once and count them per case.
process.removeAllListeners('warning');
const warningsSeen = new Set<string>();
let listenerWarnings = 0;
process.on('warning', (warning) => {
  if (warning.name === 'MaxListenersExceededWarning') listenerWarnings++;
  if (warningsSeen.has(warning.name)) return;
  warningsSeen.add(warning.name);
  log(`    (client-side warning, shown once) ${warning.name}: ${warning.message}`);
});

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

interface Active {
  row: Row;
  client: Client;
  running: Running;
  seq: Chunk[];
  conc: Chunk[];
  /** Time cap per mode for this case: the global cap, or the sampling cap for a slow case. */
  capMs: number;
  /** Echo calls made through this case's client (checks, warm-up and timed), and those answered. */
  echoSent: number;
  echoAnswered: number;
  /** CPU time of the server process over the timed chunks of each mode, and the calls answered in them. */
  cpu: Record<'seq' | 'conc', { ns: number; childrenNs: number; clientNs: number; calls: number }>;
}

/** Starts a case's processes, connects its client, checks the tool list and warms up. */
async function prepare(row: Row, paths: BenchPaths): Promise<Active | undefined> {
  const { target, era } = row;
  let running: Running;
  try {
    running = await target.start(era, paths, live, cpuProfDir ? { cpuProfDir } : {});
  } catch (err) {
    row.status = err instanceof Unavailable ? 'unavailable' : 'failed';
    row.note = errorText(err);
    return undefined;
  }
  row.detail = running.detail;
  if (cpuProfDir && target.group === 'c') log(`    profiling pid ${running.serverPid()} into ${cpuProfDir}`);
  const client = new Client(
    { name: 'gatehouse-bench', version: '0.1.0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  const active: Active = {
    row,
    client,
    running,
    seq: [],
    conc: [],
    capMs,
    echoSent: 0,
    echoAnswered: 0,
    cpu: {
      seq: { ns: 0, childrenNs: 0, clientNs: 0, calls: 0 },
      conc: { ns: 0, childrenNs: 0, clientNs: 0, calls: 0 },
    },
  };
  const warningsBefore = listenerWarnings;
  try {
    try {
      await client.connect(running.transport, { timeout: CONNECT_TIMEOUT_MS });
    } catch (err) {
      throw new Error(`connect: ${errorText(err)}`);
    }
    row.negotiated = `${client.getProtocolEra() ?? '?'} ${client.getNegotiatedProtocolVersion() ?? '?'}`;
    const tools = await client.listTools(undefined, { timeout: CONNECT_TIMEOUT_MS });
    if (!tools.tools.some((t) => t.name === 'echo')) throw new Error('tools/list has no echo tool');
    // Before any timing: one call must come back with its own text, and the case must be set up
    // as it claims (a policy case must really enforce), so a misconfigured case cannot produce
    // fast numbers.
    const probe = `probe-${target.id}-${era}`;
    const answer = await client.callTool(
      { name: 'echo', arguments: { message: probe } },
      { timeout: CONNECT_TIMEOUT_MS },
    );
    active.echoSent++;
    const first = answer.content?.[0];
    if (!answer.isError) active.echoAnswered++;
    if (answer.isError || first?.type !== 'text' || first.text !== probe) {
      throw new Error(`pre-timing check: echo did not answer ${probe}: ${JSON.stringify(answer).slice(0, 300)}`);
    }
    row.verified = running.verify ? `echo answers; ${await running.verify(client)}` : 'echo answers';
    log(`    checked: ${row.verified}`);
    if (warmup > 0) {
      const warmCap = Math.min(capMs, WARMUP_CAP_MS) / 2;
      const w1 = await chunk(active, Math.ceil(warmup / 2), 1, 'warm', warmCap);
      const w2 = await chunk(active, Math.floor(warmup / 2), concurrency, 'warm', warmCap);
      if (w1.ok + w2.ok === 0) throw new Error(`warm-up: every call failed (${w1.firstError ?? w2.firstError})`);
      // A case whose sequential warm-up says it cannot finish its calls within the cap anyway
      // (a relay spawning a process per request) is sampled for a shorter time instead.
      const predictedMs = w1.ok > 0 ? (w1.wallMs / w1.ok) * calls : Infinity;
      if (predictedMs > capMs && capMs > SAMPLE_CAP_MS) {
        active.capMs = SAMPLE_CAP_MS;
        row.sampled = true;
        log(
          `    slow (~${(predictedMs / 1000).toFixed(0)} s for ${calls} calls): sampling ${SAMPLE_CAP_MS / 1000} s per mode`,
        );
      }
    }
    return active;
  } catch (err) {
    row.status = 'failed';
    row.note = errorText(err);
    await finish(active);
    return undefined;
  } finally {
    row.listenerWarnings = listenerWarnings - warningsBefore;
  }
}

async function chunk(a: Active, n: number, c: number, tag: string, cap: number): Promise<Chunk> {
  const result = await runChunk(a.client, tag, {
    calls: n,
    concurrency: c,
    timeCapMs: cap,
    callTimeoutMs: CALL_TIMEOUT_MS,
  });
  a.echoSent += result.ok + result.errors;
  a.echoAnswered += result.ok;
  return result;
}

/** Runs the case's after-run check, reads peak memory, closes the client and stops the case's processes. */
async function finish(a: Active): Promise<void> {
  if (a.running.verifyAfter && a.row.status === 'ok') {
    try {
      const established = await a.running.verifyAfter({ sent: a.echoSent, answered: a.echoAnswered });
      a.row.verified = `${a.row.verified ?? ''}; ${established}`;
      log(`    ${a.row.target.id}-${a.row.era} checked: ${established}`);
    } catch (err) {
      a.row.status = 'failed';
      a.row.note = errorText(err);
    }
  }
  const pid = a.running.serverPid();
  if (pid !== undefined && a.row.status === 'ok') {
    a.row.serverRssMiB = peakRssMiB(pid);
    a.row.children = descendants(pid).flatMap((p) => {
      const rss = peakRssMiB(p);
      return rss === undefined ? [] : [{ label: processLabel(p), rssMiB: rss }];
    });
  }
  await a.client.close().catch(() => {});
  await a.running.stop().catch(() => {});
}

/** `total` split into `parts` near-equal whole shares. */
function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** CPU time of the processes a case runs beside its server's own tree (`extraPids`), in ns. */
const extraCpuNs = (a: Active): number => (a.running.extraPids ?? []).reduce((sum, p) => sum + (cpuNs(p) ?? 0), 0);

/** CPU time of a case's server process, all its descendants and its extra processes, in ns. */
function treeCpuNs(a: Active): number {
  const pid = a.running.serverPid();
  return pid === undefined ? extraCpuNs(a) : (cpuNs(pid) ?? 0) + childrenCpuNs(pid) + extraCpuNs(a);
}

/** Waits SETTLE_MS, then until the case's processes are quiet (see SETTLE_MS). */
async function settle(a: Active): Promise<void> {
  const deadline = Date.now() + SETTLE_CAP_MS;
  let before = treeCpuNs(a);
  for (;;) {
    await sleep(SETTLE_MS);
    const now = treeCpuNs(a);
    if (now - before < QUIET_SHARE * SETTLE_MS * 1e6 || Date.now() > deadline) return;
    before = now;
  }
}

/**
 * One timed mode for every active case. The cases that are sampled (a relay spawning a process
 * per request) run after all the others, so the processes they start cannot land on another
 * case's chunk.
 */
async function timedMode(actives: Active[], mode: 'seq' | 'conc'): Promise<void> {
  for (const a of actives) await settle(a);
  await interleaved(
    actives.filter((a) => !a.row.sampled),
    mode,
  );
  await interleaved(
    actives.filter((a) => a.row.sampled),
    mode,
  );
  for (const a of actives) summarizeMode(a, mode);
}

/**
 * Cases interleaved: `rounds` rounds, each running a share of the calls for every case in turn
 * (starting one case further along each round), so slow drifts in machine load land on all cases
 * alike.
 */
async function interleaved(actives: Active[], mode: 'seq' | 'conc'): Promise<void> {
  if (actives.length === 0) return;
  const inFlight = mode === 'seq' ? 1 : concurrency;
  const perRound = shares(calls, rounds);
  let cases = actives;
  for (let r = 0; r < rounds; r++) {
    const order = cases.map((_, i) => cases[(i + r) % cases.length]!);
    for (const a of order) {
      const warningsBefore = listenerWarnings;
      const pid = a.running.serverPid();
      const cpuBefore = pid === undefined ? undefined : cpuNs(pid);
      const childrenBefore = pid === undefined ? 0 : childrenCpuNs(pid) + extraCpuNs(a);
      const clientBefore = process.cpuUsage();
      const result = await chunk(a, perRound[r]!, inFlight, mode, a.capMs / rounds);
      const cpuAfter = pid === undefined ? undefined : cpuNs(pid);
      const client = process.cpuUsage(clientBefore);
      if (cpuBefore !== undefined && cpuAfter !== undefined) {
        a.cpu[mode].ns += cpuAfter - cpuBefore;
        a.cpu[mode].childrenNs += childrenCpuNs(pid!) + extraCpuNs(a) - childrenBefore;
        a.cpu[mode].clientNs += (client.user + client.system) * 1000;
        a.cpu[mode].calls += result.ok;
      }
      a.row.listenerWarnings = (a.row.listenerWarnings ?? 0) + listenerWarnings - warningsBefore;
      a[mode].push(result);
      if (result.ok === 0 && result.errors > 0) {
        a.row.status = 'failed';
        a.row.note = `${mode === 'seq' ? 'sequential' : `concurrency ${concurrency}`}: every call failed (${result.firstError})`;
      }
      await settle(a);
    }
    cases = cases.filter((a) => a.row.status === 'ok');
    if (cases.length === 0) break;
  }
}

/** A case's figures for one mode, from its chunks. */
function summarizeMode(a: Active, mode: 'seq' | 'conc'): void {
  if (a[mode].length === 0) return;
  const summary = summarize(a[mode], calls);
  if (mode === 'seq') a.row.sequential = summary;
  else a.row.concurrent = summary;
  const cpu = a.cpu[mode];
  if (cpu.calls > 0)
    (a.row.cpuUsPerCall ??= {})[mode === 'seq' ? 'sequential' : 'concurrent'] = {
      server: cpu.ns / cpu.calls / 1000,
      children: cpu.childrenNs / cpu.calls / 1000,
      client: cpu.clientNs / cpu.calls / 1000,
    };
}

function describePhase(p: PhaseResult): string {
  const base = `${p.ok}/${p.planned} ok in ${(p.wallMs / 1000).toFixed(2)} s → ${p.callsPerSec.toFixed(0)} calls/s, p50 ${p.p50Ms.toFixed(2)} ms, p99 ${p.p99Ms.toFixed(2)} ms`;
  return `${base}${p.errors ? `, ${p.errors} errors (${p.firstError})` : ''}${p.capped ? ' [time cap]' : ''}`;
}

async function main(): Promise<void> {
  const selected = selectRows(values.only);
  const started = new Date();
  const loadStart = loadavg();
  const paths = compileBenchServers();
  log(
    `bench: ${selected.length} cases, ${calls} calls per mode in ${rounds} round(s), concurrency ${concurrency}, warm-up ${warmup}`,
  );
  const rows: Row[] = selected.map(({ target, era }) => ({ target, era, status: 'ok' }));
  const actives: Active[] = [];
  for (const row of rows) {
    log(`• start ${row.target.id}-${row.era}`);
    const active = await prepare(row, paths);
    if (active) actives.push(active);
    else log(`    ${row.status}: ${row.note}`);
  }
  try {
    if (actives.length > 0) {
      if (modes.includes('seq')) {
        log(`• sequential: ${calls} calls per case`);
        await timedMode(actives, 'seq');
      }
      if (modes.includes('conc')) {
        log(`• concurrency ${concurrency}: ${calls} calls per case`);
        await timedMode(
          actives.filter((a) => a.row.status === 'ok'),
          'conc',
        );
      }
    }
  } finally {
    for (const a of actives) await finish(a);
  }
  for (const row of rows) {
    if (row.sequential) log(`  ${row.target.id}-${row.era} sequential: ${describePhase(row.sequential)}`);
    if (row.concurrent)
      log(`  ${row.target.id}-${row.era} concurrency ${concurrency}: ${describePhase(row.concurrent)}`);
    if (row.status !== 'ok') log(`  ${row.target.id}-${row.era} ${row.status}: ${row.note}`);
  }
  const finished = new Date();
  const argv = process.argv.slice(2);
  const command =
    process.env.npm_lifecycle_event === 'bench'
      ? `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`
      : `npx tsx bench/run.ts ${argv.join(' ')}`.trim();
  const options = {
    calls,
    concurrency,
    warmup,
    rounds,
    capMs,
    sampleCapMs: SAMPLE_CAP_MS,
    command,
    started,
    finished,
    loadStart,
    loadEnd: loadavg(),
  };
  // The hand-written analysis at the end of the previous results file is carried over.
  const analysis = existsSync(values.out) ? extractAnalysis(readFileSync(values.out, 'utf8')) : undefined;
  writeFileSync(values.out, renderMarkdown(rows, { ...options, analysis }));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(rowsJson(rows, options), null, 1)}\n`);
  if (cpuProfDir) log(`Gatehouse CPU profiles in ${cpuProfDir} (npx tsx bench/profile.ts ${cpuProfDir})`);
  process.stdout.write(renderConsole(rows, options));
  log(`results written to ${values.out}`);
}

runMain('bench', main);
