// The JSON Schemas of the config and policy files, generated from the zod schemas. They describe the
// input side (what users write), for editors and for `gatehouse schema`. scripts/generate-schemas.ts
// writes them to schema/, and a test fails when the committed files drift from the zod schemas.
import { z } from 'zod';
import { PolicySchema } from '../policy/schema.js';
import { ConfigSchema } from './schema.js';

export type JsonSchema = Record<string, unknown>;

export function configJsonSchema(): JsonSchema {
  return z.toJSONSchema(ConfigSchema, { io: 'input', target: 'draft-2020-12' }) as JsonSchema;
}

export function policyJsonSchema(): JsonSchema {
  return z.toJSONSchema(PolicySchema, { io: 'input', target: 'draft-2020-12' }) as JsonSchema;
}

/** The committed files under schema/, each with the function that generates it. */
export const JSON_SCHEMA_FILES: Record<string, () => JsonSchema> = {
  'config.schema.json': configJsonSchema,
  'policy.schema.json': policyJsonSchema,
};

export function renderJsonSchema(schema: JsonSchema): string {
  return JSON.stringify(schema, null, 2) + '\n';
}
