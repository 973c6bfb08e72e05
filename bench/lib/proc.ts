// Process plumbing for the relay benchmark: compiling the bench servers, launching and
// stopping the processes under test, free ports, readiness polling, and peak RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT_DIR = dirname(BENCH_DIR);

/** Where the compiled bench servers go: inside node_modules so their package imports resolve. */
export const BUILD_DIR = join(ROOT_DIR, 'node_modules', '.cache', 'gatehouse-bench');

/**
 * Transpiles the bench servers to plain JS (no type check; `npx tsc` does that) so the
 * processes under test start on bare `node`, without a TypeScript loader in the path.
 * Returns the absolute paths of the compiled entry points.
 */
export function compileBenchServers(): { echoServer: string; floorServer: string } {
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(join(BUILD_DIR, 'package.json'), '{ "type": "module", "private": true }\n');
  for (const name of ['echo-tool', 'echo-server', 'floor-server']) {
    const source = readFileSync(join(BENCH_DIR, `${name}.ts`), 'utf8');
    const out = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
      fileName: `${name}.ts`,
    });
    writeFileSync(join(BUILD_DIR, `${name}.js`), out.outputText);
  }
  return { echoServer: join(BUILD_DIR, 'echo-server.js'), floorServer: join(BUILD_DIR, 'floor-server.js') };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a bench script's main and exits: 0 when it resolves, 1 with the error on stderr when it
 * rejects. The explicit exit ends the script even if a handle (a socket, a timer) is still open.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** A process the bench launched, in its own process group so its children go down with it. */
export class Managed {
  readonly child: ChildProcess;
  readonly pid: number;
  private readonly tail: string[] = [];
  private exitCode: number | null | undefined;
  private readonly exitWaiters: Array<() => void> = [];
  private readonly lineWaiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    // stdin stays an open pipe: some proxies shut down when their stdin reaches EOF.
    this.child = spawn(command, args, {
      cwd: options.cwd ?? ROOT_DIR,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    if (this.child.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = this.child.pid;
    this.child.on('error', (err) => this.record(`spawn error: ${err.message}`));
    this.child.on('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? -1 : null);
      for (const w of this.exitWaiters.splice(0)) w();
    });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) if (line.trim()) this.record(line);
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
  }

  private record(line: string): void {
    this.tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
    if (this.tail.length > 40) this.tail.shift();
    for (let i = this.lineWaiters.length - 1; i >= 0; i--) {
      const w = this.lineWaiters[i]!;
      const m = line.match(w.re);
      if (m) {
        this.lineWaiters.splice(i, 1);
        w.resolve(m);
      }
    }
  }

  get exited(): boolean {
    return this.exitCode !== undefined;
  }

  /** The last lines the process printed, for error reports. */
  output(lines = 8): string {
    return this.tail.slice(-lines).join('\n');
  }

  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${re} within ${timeoutMs} ms`)), timeoutMs);
      this.lineWaiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name}: exited (${this.exitCode}) before ready`));
      });
    });
  }

  private waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // the group is already gone
    }
  }

  /** SIGTERM to the process group, SIGKILL if it is still there after a grace period. */
  async stop(): Promise<void> {
    if (!this.exited) {
      this.signalGroup('SIGTERM');
      if (!(await this.waitExit(3000))) {
        this.signalGroup('SIGKILL');
        await this.waitExit(2000);
      }
    }
    // whatever the leader left behind in its group
    this.signalGroup('SIGKILL');
  }

  /** Synchronous last-resort cleanup for process exit. */
  kill(): void {
    this.signalGroup('SIGKILL');
  }
}

/** Stops every managed process on exit, whatever ends the script. */
export function stopOnExit(procs: () => Iterable<{ kill: () => void }>): void {
  const killAll = (): void => {
    for (const p of procs()) p.kill();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
}

/** Polls `url` until `accept(status)` holds; fails early if `proc` exits. */
export async function waitForHttp(
  url: string,
  proc: Managed,
  timeoutMs: number,
  accept: (status: number) => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc.exited) throw new Error(`${proc.name} exited before ready:\n${proc.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (accept(res.status)) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${proc.name}: ${url} not ready within ${timeoutMs} ms (${last})\n${proc.output()}`);
}

/** Peak resident set size (VmHWM) of a process in MiB, or undefined if it cannot be read. */
export function peakRssMiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = status.match(/^VmHWM:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time a process has run, in nanoseconds: the sum over its threads of the first field of
 * /proc/<pid>/task/<tid>/schedstat (time on a CPU). Unlike wall-clock throughput it does not count
 * the time the process waited for a core, so it compares relays fairly on a shared machine.
 */
export function cpuNs(pid: number): number | undefined {
  try {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
    return total;
  } catch {
    return undefined;
  }
}

/** CPU time of a process's live descendants, in nanoseconds (see cpuNs). */
export function childrenCpuNs(pid: number): number {
  return descendants(pid).reduce((sum, child) => sum + (cpuNs(child) ?? 0), 0);
}

/** All live descendants of a process, from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      let children: string;
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(/\s+/).filter(Boolean).map(Number)) {
        out.push(c);
        visit(c);
      }
    }
  };
  visit(pid);
  return out;
}

/** A short name for a process: "echo upstream" for a node running the bench echo server, else its comm. */
export function processLabel(pid: number): string {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return comm === 'node' && cmdline.includes('echo-server') ? 'echo upstream' : comm;
  } catch {
    return `pid ${pid}`;
  }
}
