// The one error type of config loading. It stays local (it never crosses the wire): a string code for
// programs, every problem with its path for people, and format() for the text the CLI prints.
import { formatProblemLines, type Problem } from './problems.js';

export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_NOT_FOUND' | 'CONFIG_ENV_MISSING' | 'CONFIG_PARSE';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly code: ConfigErrorCode,
    /** The file the problems are in; null for the embedded default. */
    readonly file: string | null,
    /** One line saying what went wrong, without the file name. */
    readonly summary: string,
    readonly problems: Problem[] = [],
    /** What to do about it, when that is not obvious from the problems. */
    readonly hint?: string,
  ) {
    super(`${file ?? 'configuration'}: ${summary}`);
  }

  /** Readable multi-line text: the file and summary, one line per problem, then the hint. */
  format(): string {
    const lines = [this.message];
    if (this.problems.length > 0) lines.push(formatProblemLines(this.problems));
    if (this.hint) lines.push(this.hint);
    return lines.join('\n');
  }
}

export function problemCount(problems: readonly Problem[]): string {
  return `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
}
