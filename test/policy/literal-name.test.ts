// Proves that a name written as a policy key by literalPattern (as the suggested policy and the
// dashboard's builder write the names upstream servers give their tools) governs that name alone,
// whatever glob syntax it holds: a tool named `*` gets a rule of its own, not one for every tool.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { catalogEntry } from '../../src/catalog/catalog.js';
import { suggestPolicy, suggestPolicyYaml } from '../../src/catalog/suggest.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { decide, type CallFacts } from '../../src/policy/decide.js';
import { literalName, literalPattern } from '../../src/policy/literal-name.js';

const HOSTILE = [
  '*',
  '?',
  'a*b',
  '[x]',
  '{a,b}',
  '!x',
  'a\\b',
  'a/b*',
  'read_*',
  '*.*',
  'é*',
  '😀?',
  ' *',
  'x\\*',
  '}',
  '\\}',
  'x(y)',
  '||',
  '+(a)',
];
/** Names over an alphabet heavy in glob syntax and in what picomatch reads specially. */
const NAME = fc
  .array(
    fc.constantFrom(
      'a',
      'b',
      '_',
      '-',
      '.',
      '/',
      ' ',
      '*',
      '?',
      '[',
      ']',
      '{',
      '}',
      ',',
      '!',
      '\\',
      '(',
      ')',
      '|',
      '+',
      '@',
      '$',
      '^',
      'é',
      '😀',
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((cs) => cs.join(''));

const facts = (name: string): CallFacts => ({
  subject: 'tool',
  name,
  server: 'up',
  args: {},
  grant: { name: 'g', agent: 'g', labels: {} },
  session: { id: 's' },
  now: new Date('2026-03-01T12:00:00Z'),
});

describe('a name as a policy key', () => {
  it('as a tools key, its rule decides that name and no other, and it reads back as the name', () => {
    const decidedBy = (name: string) =>
      loadPolicy({ version: '1', default: 'allow', tools: { [literalPattern(name)]: { action: 'deny' } } });
    for (const name of HOSTILE) {
      const policy = decidedBy(name);
      expect(decide(policy, facts(name)).outcome, name).toBe('blocked');
      expect(decide(policy, facts('delete_everything')).outcome, name).toBe('allow');
      expect(literalName(literalPattern(name))).toBe(name);
    }
    fc.assert(
      fc.property(NAME, NAME, (name, other) => {
        const policy = decidedBy(name);
        expect(decide(policy, facts(name)).outcome).toBe('blocked');
        if (other !== name) expect(decide(policy, facts(other)).outcome).toBe('allow');
        expect(literalName(literalPattern(name))).toBe(name);
      }),
      { numRuns: 2000 },
    );
  });

  // A hide entry is always a pattern, which reads more than the glob characters as syntax: a name
  // with groups or alternatives is escaped too. (Where the matcher reads a name otherwise, it can
  // only hide more than the name, never less.)
  it('as a hide entry, a name with glob syntax, groups or alternatives hides that name and no other', () => {
    for (const name of ['x(y)', '||', '*', 'a|b', '}', '\\}']) {
      const policy = loadPolicy({ version: '1', default: 'allow', hide: [literalPattern(name)] });
      expect(decide(policy, facts(name)).outcome, name).toBe('hidden');
      for (const other of ['xy', '|', 'x', 'a', 'b', 'anything', '\\*'])
        if (other !== name) expect(decide(policy, facts(other)).outcome, `${name} hides ${other}`).toBe('allow');
    }
  });

  it('leaves a name without glob syntax as it is, and reads a pattern as no name', () => {
    expect(literalPattern('read_file')).toBe('read_file');
    expect(literalName('read_file')).toBe('read_file');
    for (const pattern of ['*', 'read_*', '{a,b}', 'a\\']) expect(literalName(pattern)).toBeUndefined();
  });

  it('the suggested policy for a server with a tool named * denies the tools it does not list', () => {
    const entries = ['*', 'read_*', 'list_files'].map((name) =>
      catalogEntry('up', { name, description: 'Lists things.', inputSchema: { type: 'object' } }, 'pinned'),
    );
    for (const policy of [suggestPolicy(entries), parse(suggestPolicyYaml('up', entries)) as unknown]) {
      const compiled = loadPolicy(policy);
      expect(decide(compiled, facts('*')).rule).toBe(`/tools/${literalPattern('*')}`);
      expect(decide(compiled, facts('read_*')).rule).toBe(`/tools/${literalPattern('read_*')}`);
      expect(decide(compiled, facts('read_secrets')).outcome).toBe('blocked');
      expect(decide(compiled, facts('added_later')).outcome).toBe('blocked');
    }
  });
});
