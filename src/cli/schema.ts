// `gatehouse schema config|policy`: prints the JSON Schema of a config or policy file, for editors
// and for validating files in CI.
import { configJsonSchema, policyJsonSchema, renderJsonSchema } from '../config/json-schema.js';
import { EXIT_OK, type CliIo } from './io.js';

export const SCHEMA_KINDS = ['config', 'policy'] as const;
export type SchemaKind = (typeof SCHEMA_KINDS)[number];

export function schemaCommand(kind: SchemaKind, io: CliIo): number {
  io.out(renderJsonSchema(kind === 'config' ? configJsonSchema() : policyJsonSchema()));
  return EXIT_OK;
}
