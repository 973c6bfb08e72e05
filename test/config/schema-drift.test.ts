// Proves that the committed JSON Schemas in schema/ are exactly what the zod schemas generate, so that
// editors and CI validate against the rules Gatehouse really applies.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JSON_SCHEMA_FILES, renderJsonSchema } from '../../src/config/json-schema.js';

describe('schema/*.json', () => {
  it.each(Object.entries(JSON_SCHEMA_FILES))('schema/%s matches the zod schema', (name, generate) => {
    const committed = readFileSync(new URL(`../../schema/${name}`, import.meta.url), 'utf8');
    const generated = renderJsonSchema(generate());
    expect(
      committed === generated,
      `schema/${name} is out of date: run \`npm run schemas\` and commit the result`,
    ).toBe(true);
  });
});
