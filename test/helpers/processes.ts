// Child processes for tests: spawn a server, wait until it says it is listening, kill it on close.
// Every child is also killed when the test process exits, so a failed test leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Kills `child` when the test process exits (for children spawned outside spawnReady). */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A TCP port that was free a moment ago (for servers that cannot be told to use port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface SpawnReadyOptions {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Matched against stdout and stderr; the first capture group (if any) is returned as `match`. */
  ready: RegExp;
  timeoutMs?: number;
}

export interface ReadyProcess {
  child: ChildProcess;
  /** First capture group of `ready`, or the whole match. */
  match: string;
  /** Everything the process wrote to stderr so far (for failure messages). */
  stderr(): string;
  close(): Promise<void>;
}

/** Spawns a process and resolves once `ready` appears on its stdout or stderr. */
export function spawnReady(opts: SpawnReadyOptions): Promise<ReadyProcess> {
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const close = (): Promise<void> => stopProcess(child);
  return new Promise<ReadyProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      void close();
      reject(
        new Error(`${opts.command} ${opts.args.join(' ')} not ready after ${opts.timeoutMs ?? 20_000}ms\n${stderr}`),
      );
    }, opts.timeoutMs ?? 20_000);
    const check = (): void => {
      const m = opts.ready.exec(stdout) ?? opts.ready.exec(stderr);
      if (!m) return;
      clearTimeout(timer);
      resolve({ child, match: m[1] ?? m[0], stderr: () => stderr, close });
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      check();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      check();
    });
    child.once('exit', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${opts.command} exited (${code ?? signal}) before it was ready\n${stderr}`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
export function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
