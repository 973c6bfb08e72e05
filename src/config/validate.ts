// Validation of a whole config document: the schema's problems and the cross-key checks together.
import { crossCheckConfig } from './cross-checks.js';
import { errorMap, problemsFromIssues, type Problem } from './problems.js';
import { ConfigSchema, type GatehouseConfig } from './schema.js';

export type ValidateConfigResult = { ok: true; config: GatehouseConfig } | { ok: false; problems: Problem[] };

/** Parses a config document (after `${VAR}` interpolation); paths inside it are not yet resolved. */
export function validateConfig(raw: unknown): ValidateConfigResult {
  // An empty file reads as null; treat it as an empty document so that the report names what is missing.
  const document = raw ?? {};
  const parsed = ConfigSchema.safeParse(document, { error: errorMap });
  const problems = [...(parsed.success ? [] : problemsFromIssues(parsed.error.issues)), ...crossCheckConfig(document)];
  if (parsed.success && problems.length === 0) return { ok: true, config: parsed.data };
  return { ok: false, problems: withoutDuplicates(problems) };
}

function withoutDuplicates(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\n${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
