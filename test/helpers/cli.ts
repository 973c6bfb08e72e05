// Runs the gatehouse command line as a user would: a child process on the TypeScript sources,
// stdin closed, with its exit code and both outputs.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { TSX_LOADER } from './fixture.js';

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
