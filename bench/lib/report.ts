// Renders the benchmark rows as bench/RESULTS.md and as a console summary.
import { availableParallelism, release, totalmem } from 'node:os';
import { cpuModel, loadText } from './machine.js';
import type { PhaseResult } from './measure.js';
import { BENCH_POLICY, packageVersion, type Era, type Target } from './targets.js';

/** CPU time per call: the server process, its live child processes (the upstream) and the bench client. */
export interface CpuSplit {
  server: number;
  children: number;
  client: number;
}

export interface Row {
  target: Target;
  era: Era;
  status: 'ok' | 'failed' | 'unavailable';
  note?: string;
  detail?: string;
  /** Era and protocol version the client ended up on. */
  negotiated?: string;
  sequential?: PhaseResult;
  concurrent?: PhaseResult;
  serverRssMiB?: number;
  /** Live descendants of the server process at the end of the run, with their peak RSS. */
  children?: Array<{ label: string; rssMiB: number }>;
  /** The warm-up showed the case cannot finish within the cap, so it was sampled for a shorter time. */
  sampled?: boolean;
  /** MaxListenersExceededWarning events the bench client raised during this case. */
  listenerWarnings?: number;
  /** What the pre-timing checks established (the echo probe, and whether a policy is in force). */
  verified?: string;
  /** CPU time per answered call in each timed mode, in microseconds. */
  cpuUsPerCall?: { sequential?: CpuSplit; concurrent?: CpuSplit };
}

export interface RenderOptions {
  calls: number;
  concurrency: number;
  warmup: number;
  rounds: number;
  capMs: number;
  sampleCapMs: number;
  command: string;
  started: Date;
  finished: Date;
  /** 1-, 5- and 15-minute load averages when the run started and when it finished. */
  loadStart: number[];
  loadEnd: number[];
  /** The body of the "What holds it back" section, carried over from the previous results file. */
  analysis?: string | undefined;
}

const ANALYSIS_HEADING = '## What holds it back';
const ANALYSIS_PLACEHOLDER = '_To be filled in._';

/** The hand-written body of a results file's "What holds it back" section, if it has one. */
export function extractAnalysis(markdown: string): string | undefined {
  const at = markdown.indexOf(`\n${ANALYSIS_HEADING}\n`);
  if (at < 0) return undefined;
  const body = markdown.slice(at + ANALYSIS_HEADING.length + 2).trim();
  return body === '' || body === ANALYSIS_PLACEHOLDER ? undefined : body;
}

type Mode = 'sequential' | 'concurrent';

const name = (row: Row): string => `${row.target.id}-${row.era}`;

function floorFor(rows: Row[], era: Era, mode: Mode): PhaseResult | undefined {
  const floor = rows.find((r) => r.target.id === 'floor' && r.era === era && r.status === 'ok');
  return floor?.[mode];
}

function ratio(rows: Row[], row: Row, mode: Mode): string {
  const phase = row[mode];
  const floor = floorFor(rows, row.era, mode);
  if (!phase || !floor || floor.callsPerSec === 0 || phase.ok === 0) return '—';
  return `${(phase.callsPerSec / floor.callsPerSec).toFixed(2)}×`;
}

const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '—');

/** The goals the Gatehouse rows are held to, per era and mode. */
export const GOAL_VS_FLOOR = 1.0;
export const GOAL_VS_BEST_PROXY = 1.3;

function rate(row: Row | undefined, mode: Mode): number | undefined {
  const phase = row?.status === 'ok' ? row[mode] : undefined;
  return phase && phase.ok > 0 ? phase.callsPerSec : undefined;
}

/** The fastest third-party proxy (group d) with a client of the same era, in the same mode. */
/** The third-party proxies (group d: mcp-proxy and supergateway) with a client of this era. */
const proxyOfEra = (r: Row, era: Era): boolean => r.target.group === 'd' && r.era === era;

function bestProxy(rows: Row[], era: Era, mode: Mode): { row: Row; callsPerSec: number } | undefined {
  let best: { row: Row; callsPerSec: number } | undefined;
  for (const r of rows) {
    const cps = proxyOfEra(r, era) ? rate(r, mode) : undefined;
    if (cps !== undefined && (!best || cps > best.callsPerSec)) best = { row: r, callsPerSec: cps };
  }
  return best;
}

function goalsTable(rows: Row[], o: RenderOptions): string {
  const modeName = (mode: Mode): string => (mode === 'sequential' ? 'sequential' : `concurrency ${o.concurrency}`);
  const verdict = (x: number | undefined, goal: number): string =>
    x === undefined ? '—' : `${x.toFixed(3)}× ${x >= goal ? '✅ met' : '❌ not met'}`;
  const body: string[][] = [];
  for (const mode of ['sequential', 'concurrent'] as const) {
    for (const r of rows.filter((row) => row.target.group === 'c')) {
      const cps = rate(r, mode);
      if (cps === undefined) continue;
      const floor = rate(
        rows.find((f) => f.target.id === 'floor' && f.era === r.era),
        mode,
      );
      const best = bestProxy(rows, r.era, mode);
      const plain =
        r.target.id === 'gatehouse'
          ? undefined
          : rate(
              rows.find((g) => g.target.id === 'gatehouse' && g.era === r.era),
              mode,
            );
      const floorP99 = rows.find((f) => f.target.id === 'floor' && f.era === r.era && f.status === 'ok')?.[mode]?.p99Ms;
      const p99 = r[mode]?.p99Ms;
      const p99Cell =
        p99 === undefined || floorP99 === undefined
          ? '—'
          : `${fixed(p99, 1)} / ${fixed(floorP99, 1)}${mode === 'concurrent' ? (p99 <= floorP99 ? ' ✅ met' : ' ❌ not met') : ''}`;
      body.push([
        name(r),
        modeName(mode),
        fixed(cps, 0),
        verdict(floor === undefined ? undefined : cps / floor, GOAL_VS_FLOOR),
        p99Cell,
        best ? `${name(best.row)} (${fixed(best.callsPerSec, 0)})` : '—',
        verdict(best === undefined ? undefined : cps / best.callsPerSec, GOAL_VS_BEST_PROXY),
        plain === undefined ? '—' : `${(cps / plain).toFixed(2)}×`,
      ]);
    }
  }
  if (body.length === 0) return '_No Gatehouse row completed._';
  return table(
    [
      'case',
      'mode',
      'calls/s',
      `÷ floor (goal ≥ ${GOAL_VS_FLOOR.toFixed(1)}×)`,
      `p99 ms / floor's p99 ms (goal at c${o.concurrency}: no worse)`,
      'best proxy, same era and mode (calls/s)',
      `÷ best proxy (goal ≥ ${GOAL_VS_BEST_PROXY.toFixed(1)}×)`,
      '÷ gatehouse without policy',
    ],
    body,
  );
}

function cpuOf(row: Row, mode: Mode): number | undefined {
  return row.status === 'ok' ? row.cpuUsPerCall?.[mode]?.server : undefined;
}

/** The least CPU per call of the third-party proxies with a client of this era, in this mode. */
function leanestProxy(rows: Row[], era: Era, mode: Mode): number | undefined {
  const figures = rows
    .filter((r) => proxyOfEra(r, era))
    .map((r) => cpuOf(r, mode))
    .filter((v): v is number => v !== undefined);
  return figures.length > 0 ? Math.min(...figures) : undefined;
}

function cpuTable(rows: Row[], o: RenderOptions): string {
  const cell = (r: Row, mode: Mode): string[] => {
    const own = cpuOf(r, mode);
    const best = leanestProxy(rows, r.era, mode);
    const split = r.cpuUsPerCall?.[mode];
    return [
      own === undefined ? '—' : own.toFixed(0),
      own === undefined || best === undefined ? '—' : `${(own / best).toFixed(2)}×`,
      split && split.children > 0 ? split.children.toFixed(0) : '—',
      split ? split.client.toFixed(0) : '—',
    ];
  };
  return table(
    [
      'case',
      'sequential: server µs/call',
      '÷ best proxy',
      'upstream',
      'bench client',
      `concurrency ${o.concurrency}: server µs/call`,
      '÷ best proxy',
      'upstream',
      'bench client',
    ],
    rows.filter((r) => r.status === 'ok').map((r) => [name(r), ...cell(r, 'sequential'), ...cell(r, 'concurrent')]),
  );
}

function cells(rows: Row[], row: Row, mode: Mode): string[] {
  const phase = row[mode];
  if (row.status !== 'ok') return [row.status, '—', '—', '—', '—'];
  if (!phase) return ['—', '—', '—', '—', 'not run'];
  const cap = row.sampled ? ' (sampled)' : phase.capped ? ' (time cap)' : '';
  const count = `${phase.ok}${phase.errors ? ` / ${phase.errors} err` : ''}${cap}`;
  return [fixed(phase.callsPerSec, 0), fixed(phase.p50Ms, 2), fixed(phase.p99Ms, 2), ratio(rows, row, mode), count];
}

function table(header: string[], body: string[][]): string {
  const line = (cols: string[]): string => `| ${cols.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

function memory(row: Row): string {
  if (row.serverRssMiB === undefined) return '—';
  const kids = (row.children ?? []).map((c) => ` + ${c.label} ${c.rssMiB.toFixed(0)}`).join('');
  return `${row.serverRssMiB.toFixed(0)}${kids}`;
}

export function renderMarkdown(rows: Row[], o: RenderOptions): string {
  const seconds = ((o.finished.getTime() - o.started.getTime()) / 1000).toFixed(0);
  const versions = [
    '@modelcontextprotocol/client',
    '@modelcontextprotocol/server',
    '@modelcontextprotocol/node',
    'mcp-proxy',
    'supergateway',
  ]
    .map((p) => `${p} ${packageVersion(p) ?? 'not installed'}`)
    .join(', ');
  const header = ['case', 'calls/s', 'p50 ms', 'p99 ms', '÷ floor (same era)', 'calls ok'];
  const modeTable = (mode: Mode): string =>
    table(
      header,
      rows.map((r) => [name(r), ...cells(rows, r, mode)]),
    );

  const problems = rows.filter((r) => r.status !== 'ok');
  const capped = rows.filter((r) => r.sequential?.capped || r.concurrent?.capped);
  const withErrors = rows.filter((r) => r.sequential?.errors || r.concurrent?.errors);
  const notes: string[] = [];
  for (const r of problems) notes.push(`- **${name(r)}** ${r.status}: ${oneLine(r.note ?? '')}`);
  for (const r of capped)
    notes.push(
      r.sampled
        ? `- **${name(r)}** was too slow to finish its calls within the cap (the warm-up showed it), so it was sampled for ${o.sampleCapMs / 1000} s per mode. Its figures come from the calls that completed in that time.`
        : `- **${name(r)}** hit the ${o.capMs / 1000} s cap in a mode. Its figures for that mode come from the calls that completed in that time.`,
    );
  const warned = rows.filter((r) => r.listenerWarnings);
  if (warned.length > 0)
    notes.push(
      `- Client side, not server side: ${warned.map((r) => `**${name(r)}** (${r.listenerWarnings})`).join(', ')} raised MaxListenersExceededWarning in the bench client. The SDK's \`StreamableHTTPClientTransport\` on a 2025-era connection hands its connection-lifetime AbortSignal to every \`fetch\`; undici keeps one abort listener per request on it until the request is garbage-collected, so listeners pile up past undici's limit of 1500. Every legacy HTTP case pays the same client cost.`,
    );
  for (const r of withErrors)
    notes.push(
      `- **${name(r)}** had failed calls: ${oneLine(r.sequential?.firstError ?? r.concurrent?.firstError ?? '')}`,
    );

  return `# Relay benchmark results

Generated by \`bench/run.ts\`; see \`bench/README.md\` for what each case is.

- **Date:** ${o.started.toISOString()} (run took ${seconds} s)
- **Command:** \`${o.command}\`
- **Machine:** ${cpuModel()}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}; shared and noisy — compare ratios, not absolute figures
- **Node:** ${process.version}
- **Load average (1, 5, 15 min):** ${loadText(o.loadStart)} at the start, ${loadText(o.loadEnd)} at the end
- **Packages:** ${versions}

## Method

Every case gets its own server process(es), started fresh, and **one** official SDK \`Client\` (a 2026-07-28 client pinned with \`versionNegotiation: { mode: { pin: '2026-07-28' } }\`, or a default 2025-era client). Each client connects and lists tools. Then, before any timing, the case must pass the checks listed under "Cases as run": one \`echo\` call returns its own text, and a Gatehouse case shows whether a policy is in force (a case that fails is not timed). Then the client warms up with ${o.warmup} untimed calls (half sequential, half concurrent). Then every case makes ${o.calls} sequential \`echo\` calls, and after that ${o.calls} calls at concurrency ${o.concurrency}. Concurrency ${o.concurrency} means that one client has ${o.concurrency} requests in flight (${o.concurrency} async loops share it). It does not mean ${o.concurrency} clients.

${o.rounds > 1 ? `The cases are interleaved, so slow drift in the shared machine's load lands on all of them alike. Each mode runs in ${o.rounds} rounds. In each round every case makes ${Math.floor(o.calls / o.rounds)} calls in turn, and each round starts one case further along. All servers stay up for the whole run, but only the case being timed is sent any calls.` : 'The cases run strictly one after another.'} After each chunk the next case waits until the processes of the one before use under 5% of a core (at least 0.2 s, at most 20 s). Sampled cases (below) run after all the others in each mode, so the processes they spawn land on no other case's chunk.

Latency is measured at the client, from \`callTool()\` until the result has been checked. Percentiles are nearest-rank over all the calls in a mode. Throughput is the number of successful calls divided by the summed wall time of the case's chunks. A case stops making calls after ${o.capMs / 1000} s per mode, and after 10 s of warm-up. If its sequential warm-up shows that it cannot finish within that cap (a relay that spawns a process per request), it is sampled for ${o.sampleCapMs / 1000} s per mode instead. Such rows say so. The bench client, the relay and the upstream all share the machine's ${availableParallelism()} cores. "÷ floor" divides a case's calls/s by the calls/s of the floor with a client of the same era, in the same mode.

## Sequential (1 call in flight)

${modeTable('sequential')}

## Concurrency ${o.concurrency} (one client, ${o.concurrency} calls in flight)

${modeTable('concurrent')}

## Ratios to the floor (calls/s ÷ floor calls/s, same client era)

${table(
  ['case', 'sequential', `concurrency ${o.concurrency}`],
  rows.map((r) => [name(r), ratio(rows, r, 'sequential'), ratio(rows, r, 'concurrent')]),
)}

## Goals: Gatehouse ÷ floor and ÷ the best third-party proxy

Every Gatehouse row against the floor with a client of the same era and against the faster of mcp-proxy and supergateway with a client of the same era, in the same mode. The goals: at least ${GOAL_VS_FLOOR.toFixed(1)}× the floor's throughput, a p99 at concurrency ${o.concurrency} no worse than the floor's, and at least ${GOAL_VS_BEST_PROXY.toFixed(1)}× the best proxy. The goals are set for the \`gatehouse-audit\` rows (the whole pipeline: policy with a limit, SQLite state, pins, audit log) and \`gatehouse-audit-http\` (the same with a Streamable HTTP upstream); the other Gatehouse rows show what each part costs. The last column is that price: a row ÷ the \`gatehouse\` row (no policy, no audit) of the same era and mode.

${goalsTable(rows, o)}

## CPU per call

CPU time the server process under test ran (all its threads, from \`/proc/<pid>/task/*/schedstat\`) over the timed calls of a mode, divided by the calls answered: the relay's own work per call, without its upstream child, the bench client or the time it waited for a core. Beside it, the same for the upstream (the server's live child processes: the stdio echo server; or the HTTP floor server behind gatehouse-audit-http) and for the bench process (the SDK client, which is the same code for every case of an era; from \`process.cpuUsage()\`): the three together are what a call costs the machine's cores. On a shared machine this is steadier than calls/s; for the floor and stdio-direct it is the whole server's work. "÷ best proxy" divides by the lower figure of mcp-proxy and supergateway with a client of the same era, in the same mode (below 1 is less work).

${cpuTable(rows, o)}

## Peak memory

Peak RSS (VmHWM, MiB) of the server process under test over its whole life (warm-up and both modes): the stdio echo server for stdio-direct, the HTTP server otherwise. Then, each by name, the peaks of its child processes that are still alive at the end: the stdio echo upstream, a \`sh\` where a relay starts the upstream through a shell, an \`esbuild\` service where the gateway runs from source under tsx. A relay that spawns per request has no children left by then.

${table(
  ['case', 'peak RSS MiB (server + children)'],
  rows.map((r) => [name(r), memory(r)]),
)}

## Cases as run

${table(
  ['case', 'what', 'as run', 'client ended on', 'checked before timing'],
  rows.map((r) => [
    name(r),
    r.target.summary,
    r.detail ? `\`${r.detail}\`` : '—',
    r.negotiated ?? '—',
    r.verified ?? '—',
  ]),
)}

${policyNote(rows)}

## Notes

${notes.length ? notes.join('\n') : '- Every case ran to completion without errors.'}

${ANALYSIS_HEADING}

${o.analysis ?? ANALYSIS_PLACEHOLDER}
`;
}

function policyNote(rows: Row[]): string {
  if (!rows.some((r) => r.target.id.startsWith('gatehouse-'))) return '';
  return `The \`gatehouse-policy\`, \`gatehouse-audit\` and \`gatehouse-audit-http\` rows give the echo server this policy, with state \`sqlite:<temp dir>/state.db\`, pins on (the default), and \`audit: none\` (\`gatehouse-policy\`) or \`audit: sqlite:<temp dir>/state.db\` with the default settings (\`arguments: redacted\`):

\`\`\`json
${JSON.stringify(BENCH_POLICY)}
\`\`\`

Every timed call is decided by it and reserves quota in SQLite (\`echo\`'s limit is far above what a run can reach). \`probe_denied\` and \`probe_limited\` exist only for the checks before timing: the echo upstream behind both Gatehouse cases registers them (\`--probe-tools\`), and the timed calls never use them. After the run, the audit rows must hold one allowed \`echo\` record, with its message, per \`echo\` call the client saw answered (read from the SQLite file on a connection of its own); a row that fails this check is reported as failed.`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ⏎ ').replace(/\|/g, '\\|');
}

export function renderConsole(rows: Row[], o: RenderOptions): string {
  const pad = (s: string, n: number): string => s.padEnd(n);
  const lines = [
    '',
    `${pad('case', 30)} ${pad('seq/s', 8)} ${pad('p50', 7)} ${pad('p99', 7)} ${pad('÷floor', 7)} | ${pad(`c${o.concurrency}/s`, 8)} ${pad('p50', 7)} ${pad('p99', 7)} ${pad('÷floor', 7)} | cpu µs/call | rss MiB`,
  ];
  for (const r of rows) {
    if (r.status !== 'ok') {
      lines.push(`${pad(name(r), 30)} ${r.status}: ${oneLine(r.note ?? '').slice(0, 100)}`);
      continue;
    }
    const s = cells(rows, r, 'sequential');
    const c = cells(rows, r, 'concurrent');
    lines.push(
      `${pad(name(r), 30)} ${pad(s[0]!, 8)} ${pad(s[1]!, 7)} ${pad(s[2]!, 7)} ${pad(s[3]!, 7)} | ${pad(c[0]!, 8)} ${pad(c[1]!, 7)} ${pad(c[2]!, 7)} ${pad(c[3]!, 7)} | ${pad(cpuText(r), 11)} | ${memory(r)}`,
    );
  }
  return `${lines.join('\n')}\n\n`;
}

function cpuText(r: Row): string {
  const f = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(0));
  const c = r.cpuUsPerCall?.concurrent;
  return `${f(r.cpuUsPerCall?.sequential?.server)} / ${f(c?.server)} (c: upstream ${f(c?.children)}, client ${f(c?.client)})`;
}

/** The figures of a run, for bench/median.ts. */
export interface RunJson {
  started: string;
  command: string;
  loadStart: number[];
  loadEnd: number[];
  concurrency: number;
  rows: Array<{
    id: string;
    target: string;
    group: string;
    era: Era;
    status: Row['status'];
    note?: string;
    sequential?: { callsPerSec: number; p50Ms: number; p99Ms: number };
    concurrent?: { callsPerSec: number; p50Ms: number; p99Ms: number };
    serverRssMiB?: number;
    cpuUsPerCall?: { sequential?: CpuSplit; concurrent?: CpuSplit };
  }>;
}

export function rowsJson(rows: Row[], o: RenderOptions): RunJson {
  const phase = (p: PhaseResult | undefined) =>
    p && p.ok > 0 ? { callsPerSec: p.callsPerSec, p50Ms: p.p50Ms, p99Ms: p.p99Ms } : undefined;
  return {
    started: o.started.toISOString(),
    command: o.command,
    loadStart: o.loadStart,
    loadEnd: o.loadEnd,
    concurrency: o.concurrency,
    rows: rows.map((r) => {
      const seq = phase(r.sequential);
      const conc = phase(r.concurrent);
      return {
        id: name(r),
        target: r.target.id,
        group: r.target.group,
        era: r.era,
        status: r.status,
        ...(r.note ? { note: r.note } : {}),
        ...(seq ? { sequential: seq } : {}),
        ...(conc ? { concurrent: conc } : {}),
        ...(r.serverRssMiB !== undefined ? { serverRssMiB: r.serverRssMiB } : {}),
        ...(r.cpuUsPerCall ? { cpuUsPerCall: r.cpuUsPerCall } : {}),
      };
    }),
  };
}
