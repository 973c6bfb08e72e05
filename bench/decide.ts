// Decision-engine benchmark: decisions per second of the compiled policy engine alone (no store,
// no network), for a generated 1,000-rule policy with globs and CEL conditions.
//
//   npm run bench:decide -- [--seconds 3] [--warmup 1] [--reps 5] [--seed 1] [--calls 4096]
//                           [--only mixed,exact,glob,cel,category,default] [--out bench/RESULTS.md]
//                           [--no-write] [--compare]
//
// --compare also times every case against the same policy compiled with the native CEL evaluation
// off (cel-js evaluates every condition), in the same rounds, and adds its figures to the table.
//
// See bench/README.md.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadPolicy, type CompiledPolicy } from '../src/policy/compile.js';
import { decide, type CallFacts, type Decision } from '../src/policy/decide.js';
import { CASES, generateWorkload, type BenchCall, type Expected, type KnownCall } from './lib/decide-workload.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const GOAL = 1_000_000;
/** Decisions between two reads of the clock. */
const CHUNK = 256;
const SECTION = '## Decision engine';
const ANALYSIS_HEADING = '### Profile and recommended fix';
const ANALYSIS_PLACEHOLDER = '_To be written by hand after a run: where the time goes, from a CPU profile._';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    reps: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    calls: { type: 'string', default: '4096' },
    only: { type: 'string' },
    out: { type: 'string', default: join(BENCH_DIR, 'RESULTS.md') },
    'no-write': { type: 'boolean', default: false },
    compare: { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string | undefined, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    process.stderr.write(`bench:decide: --${name} must be a positive ${integer ? 'integer' : 'number'}\n`);
    process.exit(2);
  }
  return n;
}
const seconds = positive('seconds', values.seconds, false);
const warmupSeconds = positive('warmup', values.warmup, false);
const reps = positive('reps', values.reps, true);
const seed = positive('seed', values.seed, true);
const callsPerCase = positive('calls', values.calls, true);
if (callsPerCase % CHUNK !== 0) {
  process.stderr.write(`bench:decide: --calls must be a multiple of ${CHUNK}\n`);
  process.exit(2);
}
const only = values.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((id) => !CASES.some((c) => c.id === id)) ?? [];
if (unknown.length) {
  process.stderr.write(
    `bench:decide: unknown case ${unknown.join(', ')}; cases: ${CASES.map((c) => c.id).join(', ')}\n`,
  );
  process.exit(2);
}
const cases = CASES.filter((c) => !only || only.includes(c.id));
const log = (line: string): void => void process.stderr.write(`${line}\n`);

// 1. The workload and the compiled policy.
const workload = generateWorkload(seed, callsPerCase, only);
const loadStart = performance.now();
const policy = loadPolicy(JSON.parse(JSON.stringify(workload.policy)));
const loadMs = performance.now() - loadStart;
const compare = values.compare;
/** The same policy with every CEL expression evaluated by cel-js: the reference for --compare. */
const interpreted = compare ? loadPolicy(JSON.parse(JSON.stringify(workload.policy)), { native: false }) : undefined;
const engines: { label: string; policy: CompiledPolicy }[] = [
  { label: '', policy },
  ...(interpreted ? [{ label: ' (cel-js only)', policy: interpreted }] : []),
];
const ruleCount = Object.keys(workload.policy.tools ?? {}).length;
const s = workload.stats;
log(
  `policy: ${ruleCount} tool rules (${s.exactRules} exact, ${s.globRules} globs; ${s.celRules} with ${s.conditions} CEL conditions), ` +
    `${s.limits} limits, compiled in ${loadMs.toFixed(0)} ms`,
);

// 2. Checks before timing: every generated call and a few known calls get the decision they must.
function mismatch(d: Decision, e: Expected): string | undefined {
  const got = {
    outcome: d.outcome,
    kind: d.outcome === 'blocked' ? d.kind : undefined,
    rule: d.rule,
    limits: d.outcome === 'allow' ? d.limits.length : undefined,
  };
  const want = { outcome: e.outcome, kind: e.kind, rule: e.rule, limits: e.outcome === 'allow' ? e.limits : undefined };
  if (JSON.stringify(got) !== JSON.stringify(want))
    return `got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`;
  if (e.reason !== undefined && (d.outcome !== 'blocked' || d.reason !== e.reason))
    return `reason ${JSON.stringify(d.outcome === 'blocked' ? d.reason : undefined)}, expected ${JSON.stringify(e.reason)}`;
  return undefined;
}

const problems: string[] = [];
const outcomesByCase = new Map<string, Map<string, number>>();
const rulesSeen = new Set<string>();
for (const engine of engines) {
  for (const c of cases) {
    const outcomes = new Map<string, number>();
    for (const call of workload.calls[c.id]!) {
      const d = decide(engine.policy, call.facts);
      const label = d.outcome === 'blocked' ? d.kind : d.outcome;
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      rulesSeen.add(d.rule);
      const why = mismatch(d, call.expected);
      if (why && problems.length < 10)
        problems.push(`${c.id}${engine.label}: ${call.facts.name} (${call.path}): ${why}`);
    }
    outcomesByCase.set(c.id, outcomes);
  }
}
function checkKnown(engine: CompiledPolicy, k: KnownCall): string | undefined {
  const d = decide(engine, k.facts);
  const e = k.expected;
  const why = mismatch(d, e);
  if (why) return why;
  if (e.reasonIncludes && (d.outcome !== 'blocked' || !d.reason.includes(e.reasonIncludes)))
    return `reason does not mention "${e.reasonIncludes}"`;
  if (e.counter !== undefined) {
    const l = d.outcome === 'allow' ? d.limits[0] : undefined;
    const got = { counter: l?.counter, keyValue: l?.keyValue, cost: l?.cost };
    const want = { counter: e.counter, keyValue: e.keyValue, cost: e.cost };
    if (JSON.stringify(got) !== JSON.stringify(want))
      return `limit request ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`;
  }
  return undefined;
}
for (const engine of engines) {
  for (const k of workload.known) {
    const why = checkKnown(engine.policy, k);
    if (why) problems.push(`known call${engine.label}: ${k.what}: ${why}`);
  }
}
const mixedOutcomes = outcomesByCase.get('mixed');
if (mixedOutcomes && mixedOutcomes.size < 4)
  problems.push(
    `the mixed calls got only ${mixedOutcomes.size} kinds of decision: ${[...mixedOutcomes.keys()].join(', ')}`,
  );
if (mixedOutcomes && rulesSeen.size < 100)
  problems.push(`the calls were decided by only ${rulesSeen.size} different rules`);
if (problems.length) {
  log(`\nbench:decide: the engine does not decide as the workload expects; nothing was timed:`);
  for (const p of problems) log(`  - ${p}`);
  process.exit(1);
}
const totalChecked = cases.reduce((n, c) => n + workload.calls[c.id]!.length, 0);
log(
  `checked: ${totalChecked} generated calls and ${workload.known.length} known calls decide as expected` +
    `${compare ? ' (with and without the native CEL evaluation)' : ''}; ` +
    `${rulesSeen.size} different rule${rulesSeen.size === 1 ? '' : 's'} decided them`,
);

// 3. Timing. Each chunk's number of allowed decisions is known in advance, and the loop counts
// them, so the result of every timed decision is used and checked.
interface Prepared {
  id: string;
  facts: CallFacts[];
  allowPerChunk: number[];
  /** The compiled policy the case is timed against. */
  engine: CompiledPolicy;
  /** With --compare: the same policy with cel-js evaluating every expression. */
  reference?: CompiledPolicy;
}
const prepared: Prepared[] = cases.map((c) => {
  const calls: BenchCall[] = workload.calls[c.id]!;
  const allowPerChunk: number[] = [];
  for (let i = 0; i < calls.length; i += CHUNK)
    allowPerChunk.push(calls.slice(i, i + CHUNK).filter((x) => x.expected.outcome === 'allow').length);
  // A worst case gets its own copy of the compiled policy, so that its stream of new names does
  // not evict what the shared one remembers about the other cases' names.
  const engine = c.extra ? loadPolicy(JSON.parse(JSON.stringify(workload.policy))) : policy;
  const reference =
    interpreted && c.extra ? loadPolicy(JSON.parse(JSON.stringify(workload.policy)), { native: false }) : interpreted;
  return { id: c.id, facts: calls.map((x) => x.facts), allowPerChunk, engine, ...(reference ? { reference } : {}) };
});

interface Sample {
  decisions: number;
  ms: number;
  /** CPU time the process used meanwhile (user + system, every thread): what other processes cannot take. */
  cpuMs: number;
}

function run(p: Prepared, engine: CompiledPolicy, forMs: number): Sample {
  const { facts, allowPerChunk } = p;
  const chunks = allowPerChunk.length;
  let decisions = 0;
  let allowed = 0;
  let expected = 0;
  let chunk = 0;
  const start = performance.now();
  const end = start + forMs;
  let now = start;
  const cpuStart = process.cpuUsage();
  while (now < end) {
    const base = chunk * CHUNK;
    for (let i = base; i < base + CHUNK; i++) if (decide(engine, facts[i]!).outcome === 'allow') allowed++;
    expected += allowPerChunk[chunk]!;
    decisions += CHUNK;
    chunk = chunk + 1 === chunks ? 0 : chunk + 1;
    now = performance.now();
  }
  if (allowed !== expected) throw new Error(`${p.id}: ${allowed} calls allowed while timing, expected ${expected}`);
  const cpu = process.cpuUsage(cpuStart);
  return { decisions, ms: now - start, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const loadBefore = os.loadavg();
const started = new Date();
log(`warm-up: ${warmupSeconds} s per case`);
for (const p of prepared) {
  run(p, p.engine, warmupSeconds * 1000);
  if (p.reference) run(p, p.reference, warmupSeconds * 1000);
}
const samples = new Map<string, Sample[]>(prepared.map((p) => [p.id, []]));
const referenceSamples = new Map<string, Sample[]>(prepared.map((p) => [p.id, []]));
for (let round = 0; round < reps; round++) {
  // Each round starts one case further along, so slow drift in the machine's load is shared.
  for (let k = 0; k < prepared.length; k++) {
    const p = prepared[(round + k) % prepared.length]!;
    // With --compare, the two engines take turns going first, so neither always runs warmer.
    const order: [CompiledPolicy, Map<string, Sample[]>, string][] = [[p.engine, samples, '']];
    if (p.reference) order.push([p.reference, referenceSamples, ' cel-js only']);
    if (round % 2 === 1) order.reverse();
    for (const [engine, into, label] of order) {
      const sample = run(p, engine, seconds * 1000);
      into.get(p.id)!.push(sample);
      log(
        `  round ${round + 1}/${reps} ${p.id.padEnd(9)} ${fmt(rate(sample)).padStart(11)} decisions/s  ${(1e9 / rate(sample)).toFixed(0).padStart(6)} ns  ${fmt(cpuRate(sample)).padStart(11)} per CPU-second${label}`,
      );
    }
  }
}
const finished = new Date();
const loadAfter = os.loadavg();

// 4. Figures.
function rate(x: Sample): number {
  return (x.decisions * 1000) / x.ms;
}
/** Decisions per second of CPU time the process got: the rate on one core, whatever else runs. */
function cpuRate(x: Sample): number {
  return (x.decisions * 1000) / x.cpuMs;
}
function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
interface Row {
  id: string;
  what: string;
  extra: boolean;
  median: number;
  min: number;
  max: number;
  decisions: number;
  /** Median decisions per CPU-second of the process. */
  cpuMedian: number;
  outcomes: string;
  /** With --compare: the figures of the same case with cel-js evaluating every expression. */
  reference?: { median: number; min: number; max: number; cpuMedian: number };
}
const rows: Row[] = cases.map((c) => {
  const rates = samples.get(c.id)!.map(rate);
  const outcomes = [...outcomesByCase.get(c.id)!.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${((100 * n) / workload.calls[c.id]!.length).toFixed(0)}%`)
    .join(', ');
  return {
    id: c.id,
    what: c.what,
    extra: c.extra ?? false,
    median: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    decisions: samples.get(c.id)!.reduce((n, x) => n + x.decisions, 0),
    cpuMedian: median(samples.get(c.id)!.map(cpuRate)),
    outcomes,
    ...(compare ? { reference: spread(referenceSamples.get(c.id)!) } : {}),
  };
});
function spread(xs: Sample[]): { median: number; min: number; max: number; cpuMedian: number } {
  const rates = xs.map(rate);
  return {
    median: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    cpuMedian: median(xs.map(cpuRate)),
  };
}
const referenceText = (r: Row): string =>
  r.reference
    ? `${fmt(r.reference.median)} (${fmt(r.reference.min)}–${fmt(r.reference.max)}; ${fmt(r.reference.cpuMedian)} per CPU-second), ${(r.median / r.reference.median).toFixed(2)}×`
    : '';

const headline = rows.find((r) => r.id === 'mixed');
const verdict = (r: Row): string => `${r.median >= GOAL ? '✅' : '❌'}${r.extra ? ' (worst case, not the goal)' : ''}`;
const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
const machine = `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}; Node ${process.versions.node} (V8 ${process.versions.v8})`;
const argv = process.argv.slice(2);
const command = `npm run bench:decide${argv.length ? ` -- ${argv.join(' ')}` : ''}`;

process.stdout.write(
  `\n${'case'.padEnd(9)} ${'decisions/s'.padStart(12)} ${'ns/decision'.padStart(12)}  range over ${reps} reps\n` +
    rows
      .map(
        (r) =>
          `${r.id.padEnd(9)} ${fmt(r.median).padStart(12)} ${(1e9 / r.median).toFixed(0).padStart(12)}  ${fmt(r.min)}–${fmt(r.max)}  ${fmt(r.cpuMedian)} per CPU-second  ${verdict(r)}` +
          (r.reference ? `   cel-js only: ${referenceText(r)}` : ''),
      )
      .join('\n') +
    `\n\ngoal: ${fmt(GOAL)} decisions/s` +
    (headline
      ? ` — mixed: ${headline.median >= GOAL ? 'met' : 'not met'} (${(headline.median / GOAL).toFixed(2)}×)`
      : '') +
    '\n',
);

// 5. The section of RESULTS.md.
function extractAnalysis(markdown: string): string | undefined {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === SECTION);
  if (start < 0) return undefined;
  const at = lines.findIndex((l, i) => i > start && l.trim() === ANALYSIS_HEADING);
  if (at < 0) return undefined;
  let end = lines.findIndex((l, i) => i > at && /^## /.test(l));
  if (end < 0) end = lines.length;
  const body = lines
    .slice(at + 1, end)
    .join('\n')
    .trim();
  return body === '' || body === ANALYSIS_PLACEHOLDER ? undefined : body;
}

/** Replaces the section (up to the next `## ` heading), or appends it; every other section stays. */
function mergeSection(existing: string, section: string): string {
  const lines = existing.split('\n');
  const start = lines.findIndex((l) => l.trim() === SECTION);
  if (start < 0) {
    const trimmed = existing.replace(/\s+$/, '');
    return trimmed === '' ? section : `${trimmed}\n\n${section}`;
  }
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const before = lines.slice(0, start).join('\n');
  const after = lines.slice(end).join('\n');
  return `${before}${before ? '\n' : ''}${section}${after ? `\n${after}` : ''}`;
}

/** The commit of src/policy the run measured, and whether it had uncommitted changes (read-only git). */
function engineVersion(): string {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: BENCH_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const hash = git('log', '-1', '--format=%h', '--', '../src/policy');
    const subject = git('log', '-1', '--format=%s', '--', '../src/policy');
    const dirty = git('status', '--porcelain', '--', '../src/policy') !== '';
    return `\`src/policy\` as of commit ${hash} ("${subject}")${dirty ? ', with uncommitted changes' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

function renderSection(analysis: string | undefined): string {
  const when = started.toISOString().replace('T', ' ').slice(0, 16);
  const shapes = Object.entries(s.globShapes)
    .map(([k, n]) => `${n} \`${k}\``)
    .join(', ');
  const goalLine = headline
    ? `**${headline.median >= GOAL ? 'Met' : 'Not met'}** on the mixed calls: ${fmt(headline.median)} decisions/s, ${(headline.median / GOAL).toFixed(2)}× the goal.`
    : 'The mixed case was not run, so this run does not say.';
  const refHead = compare ? ' cel-js only: median (slowest–fastest), speed-up |' : '';
  const table = [
    `| case | what the calls hit | decisions/s (median) | ns per decision | decisions/s, slowest–fastest round | decisions per CPU-second (median) | ≥ goal |${refHead} decisions made |`,
    `| --- | --- | ---: | ---: | --- | ---: | --- |${compare ? ' --- |' : ''} --- |`,
    ...rows.map(
      (r) =>
        `| ${r.id} | ${r.what} | ${fmt(r.median)} | ${fmt(1e9 / r.median)} | ${fmt(r.min)}–${fmt(r.max)} | ${fmt(r.cpuMedian)} | ${verdict(r)} |${compare ? ` ${referenceText(r)} |` : ''} ${r.outcomes} |`,
    ),
  ];
  return `${SECTION}

The compiled policy engine alone: \`loadPolicy\` once, then \`decide(policy, facts)\` in a loop, with no store, no network and no audit. Generated by \`npm run bench:decide\`, which replaces this section and carries "${ANALYSIS_HEADING.slice(4)}" over verbatim. See [README.md](README.md#decision-engine-benchmark).

- **Date:** ${when} UTC (the run took ${((finished.getTime() - started.getTime()) / 1000).toFixed(0)} s)
- **Command:** \`${command}\`
- **Engine:** ${engineVersion()}
- **Machine:** ${machine}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after. One thread: the process decides on one core.
- **Policy** (seed ${seed}): ${fmt(ruleCount)} \`tools\` rules: ${s.exactRules} exact names and ${s.globRules} globs (${shapes}, and ${s.globRules - Object.values(s.globShapes).reduce((a, b) => a + b, 0)} \`<service>_admin_*\` with conditions); ${s.celRules} of them have ${s.conditions} CEL conditions (${s.denyIf} \`deny_if\`, ${s.require} \`require\`: numeric comparisons, string equality, \`in\` lists, \`size()\`, \`startsWith\`, over \`args\` and \`grant\`); ${s.limits} limits (${s.celLimits} with CEL \`key\`/\`cost\`/\`when\`; \`decide\` only computes the requests); \`all_tools\` with one \`deny_if\`; 3 \`hide\` patterns; \`categories\` read, write (a limit), destructive (approval), financial (deny); \`default: deny\`. \`loadPolicy\` (validation and compilation) took ${loadMs.toFixed(0)} ms.
- **Calls:** ${fmt(callsPerCase)} per case (\`unseen\`: ${fmt(workload.calls.unseen?.length ?? callsPerCase * 16)}), replayed in a loop, seeded: Zipf-like popularity over the rules, realistic arguments (ids, paths, text, lists, nested metadata), four grants.
- **Method:** ${warmupSeconds} s warm-up per case, then ${reps} rounds of ${seconds} s per case, each round starting one case further along; the clock is read every ${CHUNK} decisions. Decisions/s is the median of the rounds (wall-clock time; the goal is judged on it). Decisions per CPU-second divide by the CPU time the process got instead (user and system, all threads, so the garbage collector's helpers count too): on a shared machine it shows what one core does while other processes take turns on it.${compare ? ' With `--compare`, each case is also timed, in the same rounds and taking turns to go first, against the same policy compiled with the native CEL evaluation off (cel-js evaluates every expression, as before it existed); both were checked before timing.' : ''}
- **Checks before timing:** ${fmt(totalChecked)} generated calls each got the decision they were built for (outcome, kind, rule and number of limit requests; reason where the rule sets one), ${workload.known.length} known calls too (a payment of 2500 is denied by its \`deny_if\` with its reason, one of 25 is allowed, a missing argument fails closed, a refund's limit request has the key and cost its CEL gives, the longest literal glob wins, \`all_tools\`, default, category, hide); ${fmt(rulesSeen.size)} different rule${rulesSeen.size === 1 ? '' : 's'} decided them. While timing, every chunk's number of allowed decisions is checked against the expected number.
- **Goal:** at least ${fmt(GOAL)} decisions a second. ${goalLine}

${table.join('\n')}

${ANALYSIS_HEADING}

${analysis ?? ANALYSIS_PLACEHOLDER}
`;
}

if (!values['no-write']) {
  const existing = existsSync(values.out) ? readFileSync(values.out, 'utf8') : '';
  writeFileSync(values.out, mergeSection(existing, renderSection(extractAnalysis(existing))));
  log(`\nwrote the "${SECTION}" section of ${relative(process.cwd(), values.out) || values.out}`);
}
