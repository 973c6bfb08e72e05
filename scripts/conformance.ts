// Runs the official MCP conformance suite's server scenarios against the conformance fixture
// directly and through Gatehouse (fixture as a stdio upstream, and as a Streamable HTTP upstream),
// and compares the outcomes. Suite runs:
//   - 2025 era: @modelcontextprotocol/conformance 0.1.16, and 0.2.0-alpha.12 at
//     --spec-version 2025-11-25 (the newer suite also validates every message against the spec's
//     JSON schema and checks the session lifecycle);
//   - 2026-07-28 era: 0.2.0-alpha.12 at --spec-version 2026-07-28.
//
//   npx tsx scripts/conformance.ts [--target direct|gateway-stdio|gateway-http|all]
//                                  [--era legacy|modern|all] [--no-write] [--parallel]
//
// Prints a comparison table and writes it to test/conformance/RESULTS.md (unless --no-write).
// Exits non-zero when a scenario that passes directly fails through the gateway. Scenarios that
// fail directly are listed separately: they are gaps in the fixture, not gateway failures.
//
// The suite needs Node 22; it and both suite versions are installed on demand into the
// git-ignored .node22/ folder (npm install --no-save --prefix ...), so a clean clone works.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Era = 'legacy' | 'modern';
export type Target = 'direct' | 'gateway-stdio' | 'gateway-http';
export const ERAS: readonly Era[] = ['legacy', 'modern'];
export const TARGETS: readonly Target[] = ['direct', 'gateway-stdio', 'gateway-http'];

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = join(ROOT, 'test/fixtures/servers/conformance-server.ts');
const GATEWAY_CLI = join(ROOT, 'src/cli/main.ts');
const TOOLS_DIR = join(ROOT, '.node22');
const NODE_MAJOR = 22;

export type SuiteId = '0.1.16' | '0.2.0-alpha.12@2025-11-25' | '0.2.0-alpha.12@2026-07-28';

export interface SuiteSpec {
  id: SuiteId;
  era: Era;
  /** npm version of @modelcontextprotocol/conformance. */
  version: string;
  /** Install prefix under .node22/. */
  dir: string;
  label: string;
  args: string[];
}

/** The suite runs, in report order. `--suite all` includes each suite's pending scenarios. */
export const SUITES: readonly SuiteSpec[] = [
  {
    id: '0.1.16',
    era: 'legacy',
    version: '0.1.16',
    dir: 'conf-2025',
    label: '2025 era: @modelcontextprotocol/conformance 0.1.16',
    args: ['--suite', 'all'],
  },
  {
    id: '0.2.0-alpha.12@2025-11-25',
    era: 'legacy',
    version: '0.2.0-alpha.12',
    dir: 'conf-2026',
    label: '2025 era: @modelcontextprotocol/conformance 0.2.0-alpha.12 --spec-version 2025-11-25',
    args: ['--suite', 'all', '--spec-version', '2025-11-25', '--timeout', '30000'],
  },
  {
    id: '0.2.0-alpha.12@2026-07-28',
    era: 'modern',
    version: '0.2.0-alpha.12',
    dir: 'conf-2026',
    label: '2026-07-28 era: @modelcontextprotocol/conformance 0.2.0-alpha.12 --spec-version 2026-07-28',
    args: ['--suite', 'all', '--spec-version', '2026-07-28', '--timeout', '30000'],
  },
];

export function suitesOf(eras: readonly Era[]): SuiteSpec[] {
  return SUITES.filter((s) => eras.includes(s.era));
}

// ---------------------------------------------------------------------------------------------
// Toolchain (Node 22 + both suite versions in local prefixes)
// ---------------------------------------------------------------------------------------------

export interface Toolchain {
  node: string;
  /** Entry point of each suite, by suite id. */
  suites: Record<SuiteId, string>;
}

function npmInstall(prefix: string, spec: string): void {
  mkdirSync(prefix, { recursive: true });
  const res = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, spec], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (res.status !== 0) {
    throw new Error(`npm install ${spec} into ${prefix} failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
}

function findNode22(): string | undefined {
  const candidates = [
    join(TOOLS_DIR, 'node_modules/node/bin/node'),
    join(TOOLS_DIR, `node_modules/node-${process.platform}-${process.arch}/bin/node`),
  ];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const res = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (res.status === 0 && res.stdout.trim().startsWith(`v${NODE_MAJOR}.`)) return candidate;
  }
  return undefined;
}

function suiteEntry(spec: SuiteSpec): string {
  return join(TOOLS_DIR, spec.dir, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
}

function installedSuiteVersion(spec: SuiteSpec): string | undefined {
  const pkg = join(TOOLS_DIR, spec.dir, 'node_modules/@modelcontextprotocol/conformance/package.json');
  if (!existsSync(pkg)) return undefined;
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version;
}

/** Makes sure Node 22 and both suite versions are installed under .node22/, installing what is missing. */
export function ensureToolchain(log: (line: string) => void = () => undefined): Toolchain {
  let node = findNode22();
  if (!node) {
    log(`installing Node ${NODE_MAJOR} into ${TOOLS_DIR}`);
    npmInstall(TOOLS_DIR, `node@${NODE_MAJOR}`);
    node = findNode22();
    if (!node) {
      // The `node` package fetches its binary from an install script; if scripts are blocked,
      // the platform package carries the same binary without one.
      npmInstall(TOOLS_DIR, `node-${process.platform}-${process.arch}@${NODE_MAJOR}`);
      node = findNode22();
    }
    if (!node) throw new Error(`could not install Node ${NODE_MAJOR} into ${TOOLS_DIR}`);
  }
  const suites = {} as Record<SuiteId, string>;
  for (const spec of SUITES) {
    if (installedSuiteVersion(spec) !== spec.version) {
      log(`installing @modelcontextprotocol/conformance@${spec.version} into ${join(TOOLS_DIR, spec.dir)}`);
      npmInstall(join(TOOLS_DIR, spec.dir), `@modelcontextprotocol/conformance@${spec.version}`);
    }
    suites[spec.id] = suiteEntry(spec);
  }
  return { node, suites };
}

// ---------------------------------------------------------------------------------------------
// Processes: fixture server and gateway
// ---------------------------------------------------------------------------------------------

export interface Running {
  url: string;
  stop(): Promise<void>;
}

/** Every child this module started and that is still alive; killed if this process exits first. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Starts the fixture over Streamable HTTP on a free port and resolves once it prints LISTENING. */
export function startFixture(timeoutMs = 60_000): Promise<Running> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', FIXTURE, '--transport', 'http', '--port', '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolveStart, rejectStart) => {
    const timer = setTimeout(() => {
      void stopChild(child);
      rejectStart(new Error(`fixture did not start within ${timeoutMs} ms\n${tail(err)}`));
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /^LISTENING (\S+)$/m.exec(out);
      if (match) {
        clearTimeout(timer);
        resolveStart({ url: match[1]!, stop: () => stopChild(child) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rejectStart(new Error(`fixture exited (${code}) before listening\n${tail(err)}`));
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, rejectPort) => {
    const srv = createServer();
    srv.once('error', rejectPort);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

export type Upstream = { kind: 'stdio' } | { kind: 'http'; url: string };

function gatewayConfig(port: number, upstream: Upstream): string {
  const server =
    upstream.kind === 'stdio'
      ? `{ command: ${JSON.stringify(process.execPath)}, args: ${JSON.stringify(['--import', 'tsx', FIXTURE, '--transport', 'stdio'])} }`
      : `{ url: ${JSON.stringify(upstream.url)} }`;
  return [
    `listen: { host: 127.0.0.1, port: ${port} }`,
    `state: "memory:"`,
    `audit: none`,
    `auth: { mode: none }`,
    `servers:`,
    `  conf: ${server}`,
    '',
  ].join('\n');
}

/** Starts Gatehouse in front of the fixture and resolves once GET /readyz answers 200. */
export async function startGateway(upstream: Upstream, timeoutMs = 30_000): Promise<Running> {
  if (!existsSync(GATEWAY_CLI)) throw new Error(`gateway entry point ${GATEWAY_CLI} does not exist`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-conformance-'));
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, gatewayConfig(port, upstream));
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', GATEWAY_CLI, 'start', '-c', configFile], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let err = '';
  child.stdout!.on('data', () => undefined);
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`gateway exited (${child.exitCode ?? child.signalCode}) before it was ready\n${tail(err)}`);
    }
    try {
      const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200) return { url: `${base}/mcp/conf`, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`gateway did not become ready within ${timeoutMs} ms\n${tail(err)}`);
}

// ---------------------------------------------------------------------------------------------
// Running a suite and reading its results
// ---------------------------------------------------------------------------------------------

export interface CheckNote {
  id: string;
  /** The check's name; several checks of one scenario may share an id. */
  name: string;
  status: string;
  message: string;
}

export interface ScenarioResult {
  scenario: string;
  passed: boolean;
  successes: number;
  failures: CheckNote[];
  warnings: CheckNote[];
}

export interface SuiteRun {
  target: Target;
  suite: SuiteId;
  era: Era;
  url: string;
  scenarios: ScenarioResult[];
  /** Set when the suite could not be run at all (target not startable, suite crashed). */
  error?: string;
  durationMs: number;
}

interface RawCheck {
  id?: string;
  name?: string;
  status?: string;
  errorMessage?: string;
  description?: string;
}

const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
const SUMMARY_LINE = /^([✓✗]) (\S+): (\d+) passed, (\d+) failed/;

/** Reads the suite's per-scenario checks.json files and its summary lines into scenario results. */
export function parseSuiteOutput(stdout: string, outputDir: string): ScenarioResult[] {
  const checksByScenario = new Map<string, RawCheck[]>();
  if (existsSync(outputDir)) {
    for (const entry of readdirSync(outputDir)) {
      const match = RESULT_DIR.exec(entry);
      const file = join(outputDir, entry, 'checks.json');
      if (!match || !existsSync(file)) continue;
      checksByScenario.set(match[1]!, JSON.parse(readFileSync(file, 'utf8')) as RawCheck[]);
    }
  }
  const summary = stdout.slice(stdout.lastIndexOf('=== SUMMARY ==='));
  const results: ScenarioResult[] = [];
  const seen = new Set<string>();
  const note = (c: RawCheck): CheckNote => ({
    id: c.id ?? c.name ?? '?',
    name: c.name ?? c.id ?? '?',
    status: c.status ?? '?',
    message: c.errorMessage ?? c.description ?? '',
  });
  for (const line of summary.split('\n')) {
    const match = SUMMARY_LINE.exec(line.trim());
    if (!match) continue;
    const scenario = match[2]!;
    seen.add(scenario);
    const checks = checksByScenario.get(scenario) ?? [];
    const failures = checks.filter((c) => c.status === 'FAILURE').map(note);
    if (failures.length === 0 && Number(match[4]) > 0) {
      // The scenario threw before writing checks.json; the suite's log has the reason.
      const why = new RegExp(`Failed to run scenario ${scenario}:?(.*)`).exec(stdout)?.[1]?.trim();
      failures.push({ id: scenario, name: scenario, status: 'FAILURE', message: why || 'scenario failed to run' });
    }
    results.push({
      scenario,
      passed: match[1] === '✓' && failures.length === 0,
      successes: checks.length > 0 ? checks.filter((c) => c.status === 'SUCCESS').length : Number(match[3]),
      failures,
      warnings: checks.filter((c) => c.status === 'WARNING').map(note),
    });
  }
  // Scenarios with results on disk but missing from the summary (e.g. the run was cut short).
  for (const [scenario, checks] of checksByScenario) {
    if (seen.has(scenario)) continue;
    const failures = checks.filter((c) => c.status === 'FAILURE').map(note);
    results.push({
      scenario,
      passed: failures.length === 0,
      successes: checks.filter((c) => c.status === 'SUCCESS').length,
      failures,
      warnings: checks.filter((c) => c.status === 'WARNING').map(note),
    });
  }
  return results;
}

/** Runs one suite's server scenarios against `url`. */
export function runSuite(
  toolchain: Toolchain,
  suite: SuiteSpec,
  url: string,
  timeoutMs = 6 * 60_000,
): Promise<{ scenarios: ScenarioResult[]; error?: string }> {
  const outputDir = mkdtempSync(join(tmpdir(), 'conformance-results-'));
  const args = [toolchain.suites[suite.id], 'server', '--url', url, ...suite.args, '-o', outputDir];
  const child = track(spawn(toolchain.node, args, { cwd: outputDir, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolveRun) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      const scenarios = parseSuiteOutput(stdout, outputDir);
      rmSync(outputDir, { recursive: true, force: true });
      let error: string | undefined;
      if (timedOut) error = `suite did not finish within ${timeoutMs} ms`;
      else if (scenarios.length === 0) error = `suite produced no results\n${tail(stdout)}\n${tail(stderr)}`;
      resolveRun(error ? { scenarios, error } : { scenarios });
    });
  });
}

/** Starts `target`, runs the given suites against it (one after the other), stops it. */
export async function runTarget(
  toolchain: Toolchain,
  target: Target,
  suites: readonly SuiteSpec[],
): Promise<SuiteRun[]> {
  const started = Date.now();
  const running: Running[] = [];
  const runs: SuiteRun[] = [];
  try {
    let url: string;
    if (target === 'direct') {
      const fixture = await startFixture();
      running.push(fixture);
      url = fixture.url;
    } else if (target === 'gateway-http') {
      const fixture = await startFixture();
      running.push(fixture);
      const gateway = await startGateway({ kind: 'http', url: fixture.url });
      running.push(gateway);
      url = gateway.url;
    } else {
      const gateway = await startGateway({ kind: 'stdio' });
      running.push(gateway);
      url = gateway.url;
    }
    for (const suite of suites) {
      const t0 = Date.now();
      const { scenarios, error } = await runSuite(toolchain, suite, url);
      runs.push({
        target,
        suite: suite.id,
        era: suite.era,
        url,
        scenarios,
        durationMs: Date.now() - t0,
        ...(error ? { error } : {}),
      });
    }
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    for (const suite of suites) {
      if (!runs.some((r) => r.suite === suite.id)) {
        runs.push({
          target,
          suite: suite.id,
          era: suite.era,
          url: '',
          scenarios: [],
          error,
          durationMs: Date.now() - started,
        });
      }
    }
  } finally {
    for (const r of running.reverse()) await r.stop().catch(() => undefined);
  }
  return runs;
}

export interface MatrixOptions {
  /**
   * Run the targets concurrently (each target's suites still run one after the other). Off by
   * default: several scenarios read streams inside sub-second windows, and on a small machine
   * concurrent suites, fixtures and gateways can starve each other into spurious failures.
   */
  parallel?: boolean;
  log?: (line: string) => void;
}

/** Runs the suites of the given eras against every given target: one run per target and suite. */
export async function runMatrix(
  targets: readonly Target[],
  eras: readonly Era[],
  options: MatrixOptions = {},
): Promise<SuiteRun[]> {
  const log = options.log ?? (() => undefined);
  const toolchain = ensureToolchain(log);
  const suites = suitesOf(eras);
  const one = async (target: Target) => {
    log(`running ${eras.join(' + ')} era suites against ${target}`);
    const runs = await runTarget(toolchain, target, suites);
    for (const run of runs) {
      const passed = run.scenarios.filter((s) => s.passed).length;
      log(
        `  ${target} / ${run.suite}: ${passed}/${run.scenarios.length} passed in ${(run.durationMs / 1000).toFixed(1)} s` +
          (run.error ? ` (error: ${run.error.split('\n')[0]})` : ''),
      );
    }
    return runs;
  };
  if (options.parallel) return (await Promise.all(targets.map(one))).flat();
  const all: SuiteRun[] = [];
  for (const target of targets) all.push(...(await one(target)));
  return all;
}

// ---------------------------------------------------------------------------------------------
// Comparison and report
// ---------------------------------------------------------------------------------------------

export interface Regression {
  suite: SuiteId;
  target: Target;
  scenario: string;
  failures: CheckNote[];
}

export interface Comparison {
  /** Scenarios that pass directly but fail (or are missing) through a gateway target. */
  regressions: Regression[];
  /** Scenarios that fail directly: fixture gaps. */
  directFailures: { suite: SuiteId; scenario: string; failures: CheckNote[] }[];
  /** Runs that could not be performed at all. */
  runErrors: { suite: SuiteId; target: Target; error: string }[];
  /** Scenarios passing directly, by suite (suites that were not run are absent). */
  passingDirectly: Partial<Record<SuiteId, number>>;
}

function find(runs: SuiteRun[], target: Target, suite: SuiteId): SuiteRun | undefined {
  return runs.find((r) => r.target === target && r.suite === suite);
}

export function compare(runs: SuiteRun[]): Comparison {
  const comparison: Comparison = { regressions: [], directFailures: [], runErrors: [], passingDirectly: {} };
  for (const run of runs) {
    if (run.error) comparison.runErrors.push({ suite: run.suite, target: run.target, error: run.error });
  }
  for (const { id: suite } of SUITES) {
    const direct = find(runs, 'direct', suite);
    if (!direct) continue;
    for (const s of direct.scenarios) {
      if (!s.passed) comparison.directFailures.push({ suite, scenario: s.scenario, failures: s.failures });
    }
    const passing = direct.scenarios.filter((s) => s.passed);
    comparison.passingDirectly[suite] = passing.length;
    for (const target of TARGETS) {
      if (target === 'direct') continue;
      const through = find(runs, target, suite);
      if (!through) continue;
      for (const s of passing) {
        const other = through.scenarios.find((x) => x.scenario === s.scenario);
        if (!other || !other.passed) {
          comparison.regressions.push({
            suite,
            target,
            scenario: s.scenario,
            failures: other
              ? other.failures
              : [
                  {
                    id: s.scenario,
                    name: s.scenario,
                    status: 'MISSING',
                    message: through.error ?? 'scenario did not run',
                  },
                ],
          });
        }
      }
    }
  }
  return comparison;
}

function cell(run: SuiteRun | undefined, scenario: string): string {
  if (!run) return '—';
  const s = run.scenarios.find((x) => x.scenario === scenario);
  if (!s) return run.error ? 'error' : '—';
  if (!s.passed) return 'FAIL';
  return s.warnings.length > 0 ? `pass (${s.warnings.length} warn)` : 'pass';
}

function label(c: CheckNote): string {
  return c.name && c.name !== c.id ? `\`${c.id}\` (${c.name})` : `\`${c.id}\``;
}

function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Markdown report: one table per suite run plus the gateway failures and fixture gaps. */
export function renderReport(runs: SuiteRun[], comparison: Comparison): string {
  const lines: string[] = [];
  lines.push('# Conformance results', '');
  lines.push(
    'Server scenarios of the official MCP conformance suite, run against the conformance fixture',
    '(`test/fixtures/servers/conformance-server.ts`) directly and through Gatehouse with the fixture as a',
    'stdio upstream (`gateway-stdio`) and as a Streamable HTTP upstream (`gateway-http`).',
    'Generated by `npm run conformance`; a scenario passes when none of its checks fails',
    '(warnings are SHOULD-level checks).',
    '',
  );
  const targetsRun = TARGETS.filter((t) => runs.some((r) => r.target === t));
  for (const suite of SUITES) {
    const suiteRuns = runs.filter((r) => r.suite === suite.id);
    if (suiteRuns.length === 0) continue;
    lines.push(`## ${suite.label}`, '');
    const scenarios: string[] = [];
    for (const r of suiteRuns) {
      for (const s of r.scenarios) if (!scenarios.includes(s.scenario)) scenarios.push(s.scenario);
    }
    const summary = targetsRun
      .map((t) => {
        const r = find(runs, t, suite.id);
        if (!r) return `${t}: not run`;
        if (r.error && r.scenarios.length === 0) return `${t}: could not run`;
        return `${t}: ${r.scenarios.filter((s) => s.passed).length}/${r.scenarios.length}`;
      })
      .join(' · ');
    lines.push(`Passing: ${summary}`, '');
    lines.push(`| scenario | ${targetsRun.join(' | ')} |`, `| --- | ${targetsRun.map(() => '---').join(' | ')} |`);
    for (const scenario of scenarios) {
      lines.push(`| ${scenario} | ${targetsRun.map((t) => cell(find(runs, t, suite.id), scenario)).join(' | ')} |`);
    }
    lines.push('');
  }
  lines.push('## Gateway failures (pass directly, fail through Gatehouse)', '');
  if (comparison.regressions.length === 0) lines.push('None.', '');
  for (const r of comparison.regressions) {
    lines.push(`- **${r.scenario}** (${r.suite}, ${r.target})`);
    for (const f of r.failures) lines.push(`  - ${label(f)}: ${oneLine(f.message)}`);
  }
  if (comparison.regressions.length > 0) lines.push('');
  lines.push('## Fixture gaps (fail directly)', '');
  if (comparison.directFailures.length === 0) lines.push('None.', '');
  for (const d of comparison.directFailures) {
    lines.push(`- **${d.scenario}** (${d.suite})`);
    for (const f of d.failures) lines.push(`  - ${label(f)}: ${oneLine(f.message)}`);
  }
  if (comparison.directFailures.length > 0) lines.push('');
  if (comparison.runErrors.length > 0) {
    lines.push('## Runs that could not be performed', '');
    for (const e of comparison.runErrors) lines.push(`- ${e.target} / ${e.suite}: ${oneLine(e.error, 600)}`);
    lines.push('');
  }
  const warned = runs.flatMap((r) =>
    r.scenarios.filter((s) => s.passed && s.warnings.length > 0).map((s) => ({ run: r, s })),
  );
  if (warned.length > 0) {
    lines.push('## Warnings on passing scenarios', '');
    for (const { run, s } of warned) {
      for (const w of s.warnings) {
        lines.push(`- ${s.scenario} (${run.suite}, ${run.target}) ${label(w)}: ${oneLine(w.message, 200)}`);
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

function parseCli(argv: string[]): { targets: Target[]; eras: Era[]; write: boolean; parallel: boolean } {
  let targets: Target[] = [...TARGETS];
  let eras: Era[] = [...ERAS];
  let write = true;
  let parallel = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--target' && value) {
      if (value !== 'all' && !(TARGETS as readonly string[]).includes(value))
        throw new Error(`unknown target ${value}`);
      targets = value === 'all' ? [...TARGETS] : [value as Target];
      i++;
    } else if (arg === '--era' && value) {
      if (value !== 'all' && !(ERAS as readonly string[]).includes(value)) throw new Error(`unknown era ${value}`);
      eras = value === 'all' ? [...ERAS] : [value as Era];
      i++;
    } else if (arg === '--no-write') {
      write = false;
    } else if (arg === '--parallel') {
      parallel = true;
    } else {
      throw new Error(
        `usage: tsx scripts/conformance.ts [--target direct|gateway-stdio|gateway-http|all] [--era legacy|modern|all] [--no-write] [--parallel]`,
      );
    }
  }
  // Gateway failures are measured against the direct run, so it always runs.
  if (!targets.includes('direct')) targets.unshift('direct');
  return { targets, eras, write, parallel };
}

async function main(): Promise<void> {
  const { targets, eras, write, parallel } = parseCli(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const runs = await runMatrix(targets, eras, { parallel, log });
  const comparison = compare(runs);
  const report = renderReport(runs, comparison);
  process.stdout.write(`${report}\n`);
  if (write) {
    const file = join(ROOT, 'test/conformance/RESULTS.md');
    mkdirSync(dirname(file), { recursive: true });
    // Formatted the way the repository's prettier check expects (tables aligned).
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(file)) ?? {};
    writeFileSync(file, await prettier.format(report, { ...config, filepath: file }));
    log(`wrote ${file}`);
  }
  const gatewayRunsFailed = comparison.runErrors.some((e) => e.target !== 'direct');
  if (comparison.regressions.length > 0 || gatewayRunsFailed) {
    log(
      `conformance: ${comparison.regressions.length} scenario(s) pass directly but fail through the gateway` +
        (gatewayRunsFailed ? '; some gateway runs could not be performed' : ''),
    );
    process.exitCode = 1;
  }
  if (comparison.directFailures.length > 0) {
    log(`conformance: ${comparison.directFailures.length} scenario(s) fail directly (fixture gaps, listed above)`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`conformance: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  });
}
