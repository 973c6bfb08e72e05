// `gatehouse stdio <server> [-c FILE]`: speaks MCP on stdin/stdout for one server, under the same
// policy as the HTTP endpoints, for clients that can only launch a command. stdout carries MCP
// messages only; the gateway's log goes to stderr through the same pino logger as `gatehouse
// start` (JSON lines, or readable ones on a terminal), at the config's `log.level`.
import { loadConfig } from '../config/load.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo } from './io.js';

export interface StdioOptions {
  config?: string;
  grant?: string;
}

export async function stdioCommand(server: string, opts: StdioOptions, io: CliIo): Promise<number> {
  const loaded = await loadConfig({ file: opts.config });
  const names = Object.keys(loaded.config.servers);
  if (!names.includes(server)) {
    throw new UsageError(`unknown server "${server}"; configured servers: ${names.join(', ')}`);
  }
  // Loaded only now: a wrong server name is reported without loading the whole gateway.
  const { runStdio, GrantRefused } = await import('../transports/downstream/stdio.js');
  const { createLogger, logTo } = await import('../observability/logger.js');
  const logger = createLogger({ level: loaded.config.log?.level ?? 'info', destination: process.stderr });
  // The token may come from the environment, so that it stays out of process listings.
  const grant = opts.grant ?? (process.env.GATEHOUSE_GRANT || undefined);
  try {
    await runStdio(loaded, server, {
      stdin: process.stdin,
      stdout: process.stdout,
      logTo: logTo(logger),
      ...(grant !== undefined ? { grant } : {}),
    });
  } catch (err) {
    if (err instanceof GrantRefused) {
      io.err(`gatehouse stdio: ${err.message}`);
      return EXIT_FAILURE;
    }
    throw err;
  }
  return EXIT_OK;
}
