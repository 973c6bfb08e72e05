// Opens the audit log a config names. `openAuditLog` gives the gateway its writer (batching,
// retention, counters); `openAuditSink` gives the command line a sink to read, without the writer
// and without deleting anything.
import { dirname, isAbsolute, resolve } from 'node:path';
import type { AuditConfig } from './config-schema.js';
import { JsonlAuditSink } from './jsonl-sink.js';
import { PostgresAuditSink } from './postgres-sink.js';
import { NO_AUDIT, type AuditLog } from './record.js';
import type { AuditSink } from './sink.js';
import { AuditSpool } from './spool.js';
import { SqliteAuditSink } from './sqlite-sink.js';
import type { SqliteConnection } from '../store/sqlite-connection.js';
import { AuditWriter, type AuditWriterOptions } from './writer.js';

export type AuditEventLog = (level: 'warn' | 'info', message: string) => void;

/**
 * The sink for a URL, or undefined for `none`. Relative file paths are taken from `baseDir`. An
 * SQLite sink on the file of `stateFile` (the state store's open connection) shares that connection.
 */
export function openAuditSink(url: string, baseDir: string, stateFile?: SqliteConnection): AuditSink | undefined {
  if (url === 'none') return undefined;
  const file = (path: string) => (path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path));
  if (url.startsWith('sqlite:')) {
    const path = file(url.slice('sqlite:'.length));
    const shared = stateFile && path !== ':memory:' && stateFile.file === path ? stateFile : undefined;
    return new SqliteAuditSink(path, shared);
  }
  if (url.startsWith('jsonl:')) return new JsonlAuditSink(file(url.slice('jsonl:'.length)));
  if (/^postgres(ql)?:\/\//.test(url)) return new PostgresAuditSink(url);
  throw new Error(
    `The audit sink "${url}" is not one Gatehouse knows: use none, jsonl:PATH, sqlite:PATH or postgres://...`,
  );
}

/** The gateway's audit log for the `audit` settings of its config. */
export function openAuditLog(
  config: AuditConfig,
  baseDir: string,
  opts: { onEvent?: AuditEventLog; state?: string; stateFile?: SqliteConnection } & Partial<AuditWriterOptions> = {},
): AuditLog {
  const { stateFile, ...writerOpts } = opts;
  const sink = openAuditSink(config.sink, baseDir, stateFile);
  if (!sink) return NO_AUDIT;
  let spool: AuditWriterOptions['spool'];
  try {
    if (config.spool !== 'off')
      spool = AuditSpool.open(spoolDir(config.sink, opts.state, baseDir), config.sink, config.spool);
  } catch (error) {
    void sink.close();
    throw new Error(`The audit spool could not be opened: ${error instanceof Error ? error.message : String(error)}`);
  }
  return new AuditWriter(sink, {
    queueMax: config.queue_max,
    ...(spool ? { spool } : {}),
    retentionMs: config.retention * 1000,
    dropArguments: config.arguments === 'none',
    ...writerOpts,
  });
}

/** Beside the SQLite audit file, else beside the SQLite state file, else in `.gatehouse` by the config. */
function spoolDir(sink: string, state: string | undefined, baseDir: string): string {
  for (const url of [sink, state ?? '']) {
    const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : undefined;
    if (path && path !== ':memory:') return dirname(resolve(baseDir, path));
  }
  return resolve(baseDir, '.gatehouse');
}
