// The gateway's log: pino, one JSON object per line for log collectors, or a short readable line
// when a person watches stderr in a terminal. Every part of the gateway logs through the small
// `Log` callback (level, message); this file turns that into pino calls, so the parts stay
// independent of the logging library.
//
// Messages quote text from outside: an upstream's stderr, tool names a server chose, error texts.
// JSON lines escape it; the readable forms write it for a person, so there every control character
// (escape sequences that recolour, retitle or clear a terminal, a carriage return that overwrites
// the line) and every invisible or direction-changing one is shown escaped, and a newline inside a
// message starts an indented line: no message can forge an entry of its own or drive the terminal.
import { pino, type DestinationStream, type Logger } from 'pino';
import { visibleText } from '../util/visible.js';
import { activeTraceIds } from './tracing.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How the gateway's parts log (see UpstreamPool's `Log`). */
export type LogFn = (level: LogLevel, msg: string) => void;

export interface LoggerOptions {
  /** The least severe level written; default info. */
  level?: LogLevel;
  /** Where lines go; default stderr. */
  destination?: NodeJS.WritableStream;
  /** json, pretty, or auto: pretty when the destination is a terminal. Default auto. */
  format?: 'json' | 'pretty' | 'auto';
}

/** Fields every line has; the rest are the line's own. */
const STANDARD_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? process.stderr;
  const pretty = opts.format === 'pretty' || (opts.format !== 'json' && isTerminal(destination));
  return build(opts.level ?? 'info', pretty ? formatted(destination, prettyLine) : destination);
}

/**
 * A logger that hands each entry to `write` as `level: message`, the form the gateway wrote before
 * it logged through pino; embedders and tests that pass a line callback keep receiving it.
 */
export function lineLogger(write: (line: string) => void, level: LogLevel = 'info'): Logger {
  return build(level, { write: (json: string) => write(plainLine(JSON.parse(json) as Entry)) });
}

/** The `Log` callback the gateway's parts take, writing to `logger`. */
export function logTo(logger: Logger): LogFn {
  return (level, msg) => logger[level](msg);
}

type Entry = Record<string, unknown> & { level?: string; time?: string; msg?: string };

function build(level: LogLevel, destination: DestinationStream | NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names, not pino's numbers: a collector's query says level="warn".
      formatters: { level: (label) => ({ level: label }) },
      // Lines written inside a traced call name its trace, so logs and spans can be joined.
      mixin: () => activeTraceIds(),
    },
    destination,
  );
}

/** A destination that reformats pino's JSON lines before writing them. */
function formatted(out: NodeJS.WritableStream, format: (entry: Entry) => string): DestinationStream {
  return { write: (json: string) => void out.write(`${format(JSON.parse(json) as Entry)}\n`) };
}

function plainLine(entry: Entry): string {
  return `${entry.level}: ${readable(entry.msg)}${extras(entry)}`;
}

/** Where a message's second and later lines start: never where an entry's time or level would. */
const CONTINUATION = '    ';

/** A message or value as a person reads it: lines indented after the first, nothing hidden. */
function readable(text: unknown): string {
  if (text === undefined || text === null) return '';
  return String(text).split('\n').map(visibleText).join(`\n${CONTINUATION}`);
}

const COLOURS: Record<string, string> = { warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[31m' };

function prettyLine(entry: Entry): string {
  const label = String(entry.level ?? '');
  const padding = ' '.repeat(Math.max(1, 6 - label.length));
  // https://no-color.org: colour only where the reader has not turned it off.
  const colour = process.env.NO_COLOR ? undefined : COLOURS[label];
  const level = colour ? `${colour}${label.toUpperCase()}\x1b[0m` : label.toUpperCase();
  return `${localTime(entry.time)} ${level}${padding}${readable(entry.msg)}${extras(entry)}`;
}

/** HH:MM:SS.mmm in the reader's time zone: a terminal is read by someone where they are. */
function localTime(iso: unknown): string {
  const date = new Date(typeof iso === 'string' ? iso : Date.now());
  const two = (n: number) => String(n).padStart(2, '0');
  const ms = String(date.getMilliseconds()).padStart(3, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${ms}`;
}

function extras(entry: Entry): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (STANDARD_FIELDS.has(key)) continue;
    parts.push(`${readable(key)}=${readable(typeof value === 'string' ? value : JSON.stringify(value))}`);
  }
  return parts.length > 0 ? ` ${parts.join(' ')}` : '';
}

function isTerminal(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}
