// What every command shares: where it prints, its exit codes, and how a failure becomes a message
// and a code (DESIGN section 4: 0 success, 1 runtime failure, 2 usage or validation error).
import { ConfigError } from '../config/errors.js';
import { PolicyError } from '../policy/compile.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface CliIo {
  /** The command's result (for `stdio`, stdout carries MCP and nothing else is written to it). */
  out(text: string): void;
  /** Diagnostics, progress and errors. */
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
};

/**
 * A reader that closed its end (`gatehouse audit | head`) is not a failure of the command: stop
 * quietly, as Unix tools do, instead of dying on an unhandled EPIPE.
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
}

/** A mistake in how the command was called: reported without a stack trace, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Prints a failure for a person and returns the exit code it deserves. */
export function reportFailure(error: unknown, io: CliIo): number {
  if (error instanceof ConfigError) {
    io.err(error.format());
    return EXIT_USAGE;
  }
  if (error instanceof PolicyError) {
    io.err(
      `gatehouse: the policy is invalid:\n${error.problems.map((p) => `  ${p.path || '/'}: ${p.message}`).join('\n')}`,
    );
    return EXIT_USAGE;
  }
  if (error instanceof UsageError) {
    io.err(`gatehouse: ${error.message}`);
    return EXIT_USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.err(`gatehouse: ${message}`);
  if (process.env.GATEHOUSE_DEBUG && error instanceof Error && error.stack) io.err(error.stack);
  return EXIT_FAILURE;
}
