// Runs the gatehouse command line as a user would: a child process on the TypeScript sources,
// stdin closed, with its exit code and both outputs.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { TSX_LOADER } from './fixture.js';
import { spawnReady, type ReadyProcess, type SpawnReadyOptions } from './processes.js';

export const CLI_MAIN = resolve('src/cli/main.ts');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** GATEHOUSE_CONFIG is cleared unless `env` sets it, so the caller's environment cannot leak in. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  const env = { ...process.env, GATEHOUSE_CONFIG: '', ...opts.env };
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end();
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/**
 * `gatehouse start` with `args` (a config file by `-c`, or none to find one in `cwd`), resolved once
 * `ready` matches its output. GATEHOUSE_CONFIG is cleared unless `env` sets it, as in runCli.
 */
export function startGatehouse(
  args: string[],
  opts: Omit<SpawnReadyOptions, 'command' | 'args'>,
): Promise<ReadyProcess> {
  return spawnReady({
    ...opts,
    command: process.execPath,
    args: ['--import', TSX_LOADER, CLI_MAIN, 'start', ...args],
    env: { GATEHOUSE_CONFIG: '', ...opts.env },
  });
}
