// Writes schema/config.schema.json and schema/policy.schema.json from the zod schemas. The files are
// committed; test/config/schema-drift.test.ts fails when they no longer match (run `npm run schemas`).
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { JSON_SCHEMA_FILES, renderJsonSchema } from '../src/config/json-schema.js';

const schemaDir = fileURLToPath(new URL('../schema/', import.meta.url));
await mkdir(schemaDir, { recursive: true });
for (const [name, generate] of Object.entries(JSON_SCHEMA_FILES)) {
  await writeFile(schemaDir + name, renderJsonSchema(generate()));
  console.log(`wrote schema/${name}`);
}
