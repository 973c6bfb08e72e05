// `gatehouse stdio <server> [-c FILE]`: speaks MCP on stdin/stdout for one server, under the same
// policy as the HTTP endpoints, for clients that can only launch a command. stdout carries MCP
// messages only; everything else goes to stderr.
import { loadConfig } from '../config/load.js';
import { EXIT_OK, UsageError, type CliIo } from './io.js';

export interface StdioOptions {
  config?: string;
}

export async function stdioCommand(server: string, opts: StdioOptions, io: CliIo): Promise<number> {
  const loaded = await loadConfig({ file: opts.config });
  const names = Object.keys(loaded.config.servers);
  if (!names.includes(server)) {
    throw new UsageError(`unknown server "${server}"; configured servers: ${names.join(', ')}`);
  }
  // Loaded only now: a wrong server name is reported without loading the whole gateway.
  const { runStdio } = await import('../transports/downstream/stdio.js');
  await runStdio(loaded, server, { stdin: process.stdin, stdout: process.stdout, log: (line) => io.err(line) });
  return EXIT_OK;
}
