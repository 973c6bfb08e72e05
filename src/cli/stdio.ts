// `gatehouse stdio <server> [-c FILE]`: speaks MCP on stdin/stdout for one server, under the same
// policy as the HTTP endpoints, for clients that can only launch a command. stdout carries MCP
// messages only; the gateway's log goes to stderr through the same pino logger as `gatehouse
// start` (JSON lines, or readable ones on a terminal), at the config's `log.level`.
import { Transform, type TransformCallback } from 'node:stream';
import { loadConfig } from '../config/load.js';
import { ErrorCode, errorResponse, type JsonRpcError } from '../mcp/jsonrpc.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo } from './io.js';

/** How long a signalled `gatehouse stdio` has to finish its calls and store their records. */
const STOP_GRACE_MS = 10_000;

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
  const maxBytes = loaded.config.limits.max_body_bytes;
  // A line is a message: one longer than limits.max_body_bytes is refused as the HTTP edge refuses
  // such a body (413), and is never held in memory whole.
  const stdin = process.stdin.pipe(
    boundedLines(maxBytes, () => process.stdout.write(`${JSON.stringify(oversizedLine(maxBytes))}\n`)),
  );
  // A client stops the command it launched with a signal as often as by closing its stdin. Either
  // way the gateway finishes what it has in hand and closes, so that the audit records of the calls
  // it answered are stored; a second signal, or a close that takes too long, ends it at once.
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) process.exit(EXIT_FAILURE);
    stopping = true;
    process.stdin.unpipe(stdin);
    stdin.end();
    setTimeout(() => process.exit(EXIT_FAILURE), STOP_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runStdio(loaded, server, {
      stdin,
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

/** The answer to a line longer than the limit; its id is unknown, as it was never read. */
export function oversizedLine(maxBytes: number): JsonRpcError {
  return errorResponse(
    null,
    ErrorCode.InvalidRequest,
    `Payload Too Large: a message longer than ${maxBytes} bytes (limits.max_body_bytes) was discarded.`,
  );
}

const NEWLINE = 0x0a;

/**
 * Passes on whole lines of at most `maxBytes` bytes (without the newline); a longer line is
 * dropped as it arrives — it is never buffered past the limit — and `onOversized` is called once
 * for it. Without a bound, a client writing without a newline grows one string until the process
 * runs out of memory or V8's string limit throws, and the gateway dies.
 */
export function boundedLines(maxBytes: number, onOversized: () => void): Transform {
  let parts: Buffer[] = [];
  let size = 0;
  let discarding = false;
  const keep = (part: Buffer) => {
    if (discarding) return;
    if (size + part.length > maxBytes + 1) {
      // +1: a line may end in \r, which readline takes off with the newline.
      parts = [];
      size = 0;
      discarding = true;
      return;
    }
    parts.push(part);
    size += part.length;
  };
  const endLine = (out: Transform) => {
    if (discarding) onOversized();
    else out.push(Buffer.concat([...parts, Buffer.from('\n')]));
    parts = [];
    size = 0;
    discarding = false;
  };
  return new Transform({
    transform(chunk: Buffer | string, _enc: BufferEncoding, done: TransformCallback) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      let start = 0;
      for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
        keep(buf.subarray(start, nl));
        endLine(this);
        start = nl + 1;
      }
      if (start < buf.length) keep(buf.subarray(start));
      done();
    },
    flush(done: TransformCallback) {
      if (discarding) onOversized();
      else if (size > 0) this.push(Buffer.concat(parts));
      done();
    },
  });
}
