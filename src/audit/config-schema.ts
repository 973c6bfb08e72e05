// The `audit` key of the gateway config. Users write either the sink's URL alone (the form every
// earlier config used) or an object with the sink and its settings; both parse into `AuditConfig`,
// the one form the rest of Gatehouse reads, with every default filled in.
import { z } from 'zod';
import { DurationSchema } from '../config/duration.js';

export const AUDIT_URL = /^(none|jsonl:.+|sqlite:.+|postgres(ql)?:\/\/.+)$/;
const AUDIT_URL_HELP = 'expected none, jsonl:PATH, sqlite:PATH, or postgres://...';

export const ARGUMENT_MODES = ['none', 'keys', 'redacted', 'full'] as const;
export type ArgumentMode = (typeof ARGUMENT_MODES)[number];

export const DEFAULT_AUDIT_RETENTION = '30d';
export const DEFAULT_AUDIT_QUEUE_MAX = 10_000;

export const SPOOL_MODES = ['off', 'on', 'fsync'] as const;
export type SpoolMode = (typeof SPOOL_MODES)[number];

const AuditUrl = z.string().regex(AUDIT_URL, { error: AUDIT_URL_HELP });

const AuditObject = z
  .strictObject({
    sink: AuditUrl.optional().meta({
      description: "Where records go. Default: the state's SQLite file, or sqlite:./.gatehouse/state.db.",
    }),
    arguments: z.enum(ARGUMENT_MODES).default('redacted').meta({
      description:
        "How much of the arguments is kept: none, keys (shape and types only), redacted (default: secrets and the policy's redact paths replaced), full.",
    }),
    retention: DurationSchema.prefault(DEFAULT_AUDIT_RETENTION).meta({
      description: 'Records older than this are deleted (SQLite and PostgreSQL); default 30d.',
    }),
    queue_max: z
      .union([
        z.number().int().min(1).max(10_000_000),
        // Digits in a string are what `${VAR}` interpolation produces.
        z.string().regex(/^\d+$/).transform(Number).pipe(z.number().min(1).max(10_000_000)),
      ])
      .default(DEFAULT_AUDIT_QUEUE_MAX)
      .meta({
        description: `Records held in memory while the sink is slow or down; beyond it they are dropped and counted. Default ${DEFAULT_AUDIT_QUEUE_MAX}.`,
      }),
    spool: z.enum(SPOOL_MODES).optional().meta({
      description:
        'Each record is appended to a local spool file before its call is answered, so a killed gateway loses no record: on (survives the process being killed), fsync (also a power cut, at a cost per call), off. Default: on for SQLite and PostgreSQL sinks, off otherwise.',
    }),
  })
  .meta({ id: 'AuditSettings' });

/** What users may write under `audit`; `undefined` when the key is absent. */
export const AuditConfigSchema = z
  .union([AuditUrl.transform((sink) => ({ sink })), AuditObject], {
    error: (issue) =>
      typeof issue.input === 'string'
        ? AUDIT_URL_HELP
        : `${AUDIT_URL_HELP}, or an object with sink, arguments, retention, queue_max and spool`,
  })
  .optional()
  .meta({
    description:
      "The audit log: a sink URL (none | jsonl:PATH | sqlite:PATH | postgres://...), or an object with sink and settings. Default: the state's SQLite file.",
  });

export type AuditConfigInput = z.output<typeof AuditConfigSchema>;

/** The normalised audit settings. */
export interface AuditConfig {
  sink: string;
  arguments: ArgumentMode;
  /** Seconds a record is kept. */
  retention: number;
  queue_max: number;
  /** The local spool in front of the sink (spool.ts). */
  spool: SpoolMode;
}

/** Fills the defaults; the sink defaults to the state store's SQLite file when there is one. */
export function normaliseAuditConfig(input: AuditConfigInput, state: string, defaultState: string): AuditConfig {
  const sink = input?.sink ?? (state.startsWith('sqlite:') ? state : defaultState);
  return {
    sink,
    arguments: input && 'arguments' in input ? input.arguments : 'redacted',
    retention: input && 'retention' in input ? input.retention : 30 * 86_400,
    queue_max: input && 'queue_max' in input ? input.queue_max : DEFAULT_AUDIT_QUEUE_MAX,
    spool: (input && 'spool' in input ? input.spool : undefined) ?? defaultSpool(sink),
  };
}

/** On where the sink is a database the spool can ship to; a JSON Lines sink is itself a file. */
function defaultSpool(sink: string): SpoolMode {
  return /^postgres(ql)?:\/\//.test(sink) || (sink.startsWith('sqlite:') && sink !== 'sqlite::memory:') ? 'on' : 'off';
}
