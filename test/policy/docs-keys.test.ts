// Proves docs/policy.md and the policy schema agree in both directions: every key of the schema
// (top level, rule, condition, limit, approval) has a row in the key table of its section, every
// key a table documents exists in the schema where the table says, and every row has an example.
// The schema side is read from the JSON Schema generated from the zod schema, not from a list here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { policyJsonSchema } from '../../src/config/json-schema.js';

type Group = 'top level' | 'rule' | 'condition' | 'limit' | 'approval';

/** The section of docs/policy.md that documents each group's keys. */
const SECTIONS: Record<string, Group> = {
  'Top-level keys': 'top level',
  'Rule keys': 'rule',
  'Condition keys': 'condition',
  'Limit keys': 'limit',
  'Approval keys': 'approval',
};

interface Props {
  properties?: Record<string, Props>;
  items?: Props;
  $ref?: string;
}

function schemaKeys(): Record<Group, string[]> {
  const root = policyJsonSchema() as unknown as Props & { $defs: Record<string, Props> };
  const rule = root.$defs.Rule!.properties!;
  const conditionKeys = ['deny_if', 'require', 'approval_if'].flatMap((list) =>
    Object.keys(rule[list]!.items!.properties!),
  );
  return {
    'top level': Object.keys(root.properties!),
    rule: Object.keys(rule),
    condition: [...new Set(conditionKeys)],
    limit: Object.keys(root.$defs.Limit!.properties!),
    approval: Object.keys(rule.approval!.properties!),
  };
}

interface Row {
  key: string;
  example: string;
}

/** The rows of every table whose first column is headed `key`, by the section it is in. */
function documentedKeys(): { section: string; rows: Row[] }[] {
  const tables: { section: string; rows: Row[] }[] = [];
  let section = '';
  let current: Row[] | undefined;
  let exampleColumn = -1;
  for (const line of readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8').split('\n')) {
    if (line.startsWith('## ')) section = line.slice(3).trim();
    if (!line.startsWith('|')) {
      current = undefined;
      continue;
    }
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    if (current === undefined) {
      if (cells[0] !== 'key') continue;
      current = [];
      exampleColumn = cells.indexOf('example');
      tables.push({ section, rows: current });
      continue;
    }
    if (/^-+$/.test(cells[0]!.replace(/:/g, ''))) continue;
    for (const [, key] of cells[0]!.matchAll(/`([^`]+)`/g))
      current.push({ key: key!, example: exampleColumn >= 0 ? (cells[exampleColumn] ?? '') : '' });
  }
  return tables;
}

describe('docs/policy.md documents the policy schema', () => {
  const schema = schemaKeys();
  const tables = documentedKeys();

  it('every key table is in a section the test knows', () => {
    expect(tables.map((t) => t.section).filter((s) => !(s in SECTIONS))).toEqual([]);
  });

  it.each(Object.entries(SECTIONS))('section "%s" has one key table', (section) => {
    expect(tables.filter((t) => t.section === section)).toHaveLength(1);
  });

  it.each(Object.entries(SECTIONS).map(([section, group]) => [group, section] as const))(
    'every %s key of the schema is in the "%s" table',
    (group, section) => {
      const documented = tables.filter((t) => t.section === section).flatMap((t) => t.rows.map((r) => r.key));
      expect(schema[group].filter((k) => !documented.includes(k))).toEqual([]);
    },
  );

  it.each(Object.entries(SECTIONS))('every key the "%s" table documents exists in the schema', (section, group) => {
    const documented = tables.filter((t) => t.section === section).flatMap((t) => t.rows.map((r) => r.key));
    expect(documented.filter((k) => !schema[group].includes(k))).toEqual([]);
  });

  it('every documented key has an example', () => {
    const missing = tables.flatMap((t) => t.rows.filter((r) => !/`[^`]+`/.test(r.example)).map((r) => r.key));
    expect(missing).toEqual([]);
  });

  it('the schema side is not empty (the JSON Schema is read as expected)', () => {
    expect(schema['top level']).toContain('all_tools');
    expect(schema.rule).toContain('approval_if');
    expect(schema.condition).toEqual(['when', 'reason']);
    expect(schema.limit).toContain('algorithm');
    expect(schema.approval).toContain('remember');
  });
});
