// Proves that a compiled glob answers exactly as picomatch's own matcher does (with the options the
// policy engine has always used, and `/` read as an ordinary character: names are not paths, so `*`
// crosses it), for random patterns and names over an alphabet heavy in glob
// syntax and in the characters picomatch treats specially; and that the literal prefix and suffix
// a name is first checked against never turn away a name the pattern matches. The one deliberate
// difference: a name escaped whole (literal-name.ts) matches that name alone, where picomatch reads
// some such escapes otherwise (`x\\\*` as `x\` then anything) and takes the pattern's own text too.
import fc from 'fast-check';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../src/policy/glob.js';
import { GLOB_CHARS, literalName } from '../../src/policy/literal-name.js';

/** picomatch's own matcher, with `/` read as an ordinary character as the policy engine reads it. */
const SLASH = '\uE000';
const reference = (pattern: string) => {
  const match = picomatch(pattern.replaceAll('/', SLASH), { dot: true, nobrace: false, noextglob: true });
  return (name: string) => match(name.replaceAll('/', SLASH));
};

/** Pattern pieces: plain text, glob syntax, and everything picomatch reads in a special way. */
const PIECES = [
  'a',
  'b',
  'ab',
  '_',
  '-',
  'x1',
  ' ',
  '.',
  '/',
  ':',
  ',',
  '*',
  '**',
  '?',
  '[ab]',
  '[!a]',
  '[a-c]',
  '{a,b}',
  '{a,ab}',
  '{1..3}',
  '!',
  '(',
  ')',
  '|',
  '+',
  '@',
  '\\',
  '\\*',
  '[',
  ']',
  '{',
  '}',
  '$',
  '^',
  './',
  'a/**',
  '**/',
];
const NAME_PIECES = ['a', 'b', 'ab', '_', '-', 'x1', ' ', '.', '/', ':', ',', '1', '2', '*', '?', '!', '|', '(', ')'];

const pattern = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
const name = fc.array(fc.constantFrom(...NAME_PIECES), { maxLength: 7 }).map((p) => p.join(''));

describe('compiled globs', () => {
  it('answer exactly as picomatch does, for random patterns and names', () => {
    let compared = 0;
    fc.assert(
      fc.property(pattern, fc.array(name, { minLength: 1, maxLength: 12 }), (p, names) => {
        let ref: (n: string) => boolean;
        try {
          ref = reference(p);
        } catch {
          return; // a pattern picomatch refuses is refused at load either way
        }
        const glob = compileGlob(p);
        compared++;
        const literal = GLOB_CHARS.test(p) ? literalName(p) : undefined;
        const expected = literal === undefined || literal === p ? ref : (n: string) => n === literal;
        // The pattern itself, and names built from its own pieces, besides the random ones.
        for (const n of [p, ...names, `${p}x`, `x${p}`, p.replace(/[*?]/g, 'a')])
          expect(glob.test(n), `${JSON.stringify(p)} vs ${JSON.stringify(n)}`).toBe(expected(n));
      }),
      { numRuns: 3000 },
    );
    // Patterns picomatch refuses are skipped; most of the generated ones must really be compared.
    expect(compared).toBeGreaterThan(1500);
  });

  it.each([
    ['svc_get_*', 'svc_get_issue', true],
    ['svc_get_*', 'svc_list_issue', false],
    ['*_noun_qual', 'github_noun_qual', true],
    ['*_noun_qual', 'github_noun_quals', false],
    ['{a,b}_verb_x', 'b_verb_x', true],
    ['[abc]?_y', 'cz_y', true],
    ['[abc]?_y', 'dz_y', false],
    ['!admin_*', 'user_list', true],
    ['!admin_*', 'admin_list', false],
    ['a(b|c)', 'ac', true],
    ['a/**', 'a/b/c', true],
    ['notes://*', 'notes://1', true],
    ['*', '', false],
  ])('%s on %j is %s, as picomatch says', (p, n, expected) => {
    expect(reference(p)(n)).toBe(expected);
    expect(compileGlob(p).test(n)).toBe(expected);
  });

  it.each([
    ['*', 'files/delete_all'],
    ['*delete*', 'files/delete_all'],
    ['file:///srv/secret/*', 'file:///srv/secret/sub/passwd'],
    ['notes://vault/?', 'notes://vault//'],
    ['a/*/c', 'a/b/x/c'],
  ])('a name is not a path: %s matches %j, "/" or not', (p, n) => {
    expect(compileGlob(p).test(n)).toBe(true);
  });
});
